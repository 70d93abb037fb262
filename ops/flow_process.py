"""The arbitrage flow as its own ``python -m bytewax.run`` process: its argv and environment, its recovery store, its
run to the end (or to a stop request), and the rows it has written so far.

Shared by everything that starts a flow (the ``arbflow`` CLI, ops/scheduler.py, ops/control.py), so a CLI run, a
scheduled replay and an API start run the same process as the README and the container.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq

from connectors import lake

FLOW = "flows.arbitrage:build_flow"
QUOTE_TABLES = ("quotes_clean", "quotes_rejected")


def flow_argv(config: str | Path | None, workers: int = 1, recovery_dir: str | Path | None = None,
              snapshot_s: int = 1) -> list[str]:  # fmt: skip
    """``python -m bytewax.run`` for the arbitrage flow of ``config`` (None = config/default.toml)."""
    target = f"{FLOW}({str(config)!r})" if config else f"{FLOW}()"
    argv = [sys.executable, "-m", "bytewax.run", target, "-w", str(workers)]
    if recovery_dir is not None:
        argv += ["-r", str(recovery_dir), "-s", str(snapshot_s), "-b", "0"]
    return argv


def init_recovery(recovery_dir: str | Path, parts: int = 1) -> bool:
    """Create Bytewax recovery partitions in an empty directory (first run); returns whether it did."""
    path = Path(recovery_dir)
    if path.exists() and any(path.iterdir()):
        return False
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(path), str(parts)], check=True)
    return True


def toml_literal(value: Any) -> str:
    """A value as the TOML text ``ARBFLOW__SECTION__KEY`` overrides parse (strings and lists of strings as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def flow_env(overrides: Mapping[str, Any], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment plus ``{"source.kind": "replay"}``-style overrides as ``ARBFLOW__SOURCE__KIND`` variables."""
    env = dict(os.environ if base is None else base)
    for dotted, value in overrides.items():
        env["ARBFLOW__" + dotted.upper().replace(".", "__")] = toml_literal(value)
    return env


def run_flow(argv: Sequence[str], env: Mapping[str, str], output: IO[Any] | None = None,
             stop: threading.Event | None = None, poll: Callable[[], None] | None = None,
             poll_s: float = 0.25) -> int:  # fmt: skip
    """Run the flow process to its end; ``poll`` is called every ``poll_s`` while it runs. A set ``stop`` terminates
    it (SIGTERM, then SIGKILL after 10 s). Returns the exit code (negative: killed by that signal)."""
    proc = subprocess.Popen(list(argv), env=dict(env), stdout=output, stderr=subprocess.STDOUT if output else None)
    stopper = stop or threading.Event()
    try:
        while proc.poll() is None:
            if stopper.wait(poll_s):
                proc.terminate()
                try:
                    proc.wait(10.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                break
            if poll is not None:
                poll()
    finally:
        if proc.poll() is None:  # KeyboardInterrupt or an error in poll: never leave the flow running
            proc.terminate()
        code = proc.wait()
    if poll is not None:
        poll()
    return code


def lake_rows(data_dir: str | Path, tables: Sequence[str] = QUOTE_TABLES, newer_than_ns: int = 0,
              seen: dict[Path, int] | None = None) -> int:  # fmt: skip
    """Rows in the tables' part files (Parquet footers only, so it is cheap to poll while a flow writes them); files
    modified before ``newer_than_ns`` are left out (a fresh run deletes those). ``seen`` caches footers between
    polls: a part file never changes once renamed into place (a resuming sink may delete it, never rewrite it)."""
    cache = {} if seen is None else seen
    present = set()
    for table in tables:
        for path in (lake.lake_dir(data_dir) / table).glob("date=*/part-*.parquet"):
            try:
                if path not in cache:
                    if path.stat().st_mtime_ns < newer_than_ns:
                        continue
                    cache[path] = pq.ParquetFile(path).metadata.num_rows
                present.add(path)
            except OSError:
                continue  # deleted by a resuming sink between the glob and the read
    for gone in set(cache) - present:
        del cache[gone]
    return sum(cache.values())
