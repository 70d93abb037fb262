"""The flow records its own runs, whoever started it (``make run``, ``python -m bytewax.run``, the CLI, the API).

``<data_dir>/runs/<run_id>.json`` per run and a copy in ``<data_dir>/last_run.json`` (what ``arbflow status``
reads): ``run_id``, ``pid``, ``command``, ``source`` (source kind), ``started`` / ``ended`` (UTC wall clock, ISO
8601), ``status``, ``reason``, ``exit_code``, ``quotes``, ``counts`` and ``elapsed_s``.

Status: ``running`` until the lake sink reached end of input (``complete``, exit code 0) or the process raised
(``failed``, exit code 1, ``reason`` = the exception). A process killed or stopped mid-run cannot write anything:
its record stays ``running`` with a pid that no longer lives, which ``effective_status`` reads as ``partial``; the
API's stop writes ``partial`` itself. Each process of a cluster writes its own record (the last one wins
``last_run.json``).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

RUNS_DIR = "runs"
LAST_RUN = "last_run.json"
FINISHED = ("complete", "partial", "failed")


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    tmp.replace(path)


def write_run(data_dir: str | Path, record: dict[str, Any]) -> None:
    """Write the run's own file, then ``last_run.json`` (each atomically: a reader never sees half a record)."""
    _write(Path(data_dir) / RUNS_DIR / f"{record['run_id']}.json", record)
    _write(Path(data_dir) / LAST_RUN, record)


def _command(argv: list[str]) -> str:
    """``python -m bytewax.run flows.arbitrage:flow`` rather than the path of bytewax's run.py."""
    head = "python -m bytewax.run" if argv and argv[0].endswith(os.path.join("bytewax", "run.py")) else argv[0]
    return " ".join([head, *argv[1:]]) if argv else "python"


def _alive(pid: int) -> bool:
    if pid <= 0:  # os.kill(0 or -1, ...) would address whole process groups
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def effective_status(record: dict[str, Any]) -> str:
    """``running`` records whose process is gone ended before their input did: ``partial``. A record of an older
    CLI (no status) is judged by its exit code."""
    if "status" not in record:
        return "complete" if record.get("exit_code") == 0 else "failed"
    status = str(record["status"])
    if status == "running" and not _alive(int(record.get("pid") or 0)):
        return "partial"
    return status


def last_run(data_dir: str | Path) -> dict[str, Any] | None:
    """The newest run record with its effective status, or None before the first run."""
    try:
        record = json.loads((Path(data_dir) / LAST_RUN).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return {**record, "status": effective_status(record)}


def mark_partial(data_dir: str | Path, reason: str) -> dict[str, Any] | None:
    """After stopping a flow: its unfinished record becomes ``partial`` with ``reason`` (finished ones stay)."""
    record = last_run(data_dir)
    if record is None or record.get("ended") is not None:
        return record
    record = {**record, "status": "partial", "reason": reason, "ended": datetime.now(UTC).isoformat()}
    write_run(data_dir, record)
    return record


class RunLog:
    """This process's run record: created when the flow is built, finished at end of input or on an exception."""

    def __init__(self, data_dir: str | Path, source: str, counts: Callable[[], dict[str, float]] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.counts = counts or dict
        self._lock = threading.Lock()
        self._started_s = time.monotonic()
        now = datetime.now(UTC)
        self.record: dict[str, Any] = {
            "run_id": f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}",
            "pid": os.getpid(),
            "command": _command(sys.argv),
            "source": source,
            "started": now.isoformat(),
            "ended": None,
            "status": "running",
            "reason": "",
            "exit_code": None,
            "quotes": 0,
            "counts": {},
            "elapsed_s": 0.0,
        }
        write_run(self.data_dir, self.record)
        previous = sys.excepthook

        def on_exception(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
            status = "partial" if issubclass(kind, KeyboardInterrupt) else "failed"
            self.finish(status, f"{kind.__name__}: {exc}")
            previous(kind, exc, tb)

        sys.excepthook = on_exception
        atexit.register(self.update)  # final counts of a run still unfinished at exit

    def update(self) -> None:
        """Refresh counts and elapsed time (a finished record keeps its final values)."""
        with self._lock:
            if self.record["ended"] is not None:
                return
            self._refresh()
            self._write()

    def complete(self) -> None:
        """The lake sink reached end of input: every input row is in the lake."""
        self.finish("complete", "")

    def finish(self, status: str, reason: str) -> None:
        with self._lock:
            if self.record["ended"] is not None:
                return
            self._refresh()
            exit_code = {"complete": 0, "failed": 1}.get(status)
            ended = datetime.now(UTC).isoformat()
            self.record.update(status=status, reason=reason, ended=ended, exit_code=exit_code)
            self._write()

    def _refresh(self) -> None:
        counts = self.counts()
        self.record.update(
            counts=counts,
            quotes=int(counts.get("quotes_in", 0)),
            elapsed_s=round(time.monotonic() - self._started_s, 3),
        )

    def _write(self) -> None:
        try:
            write_run(self.data_dir, self.record)
        except OSError:  # at exit the data directory may be gone (a test's tmp dir): nothing left to record to
            pass
