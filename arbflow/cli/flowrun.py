"""How a command runs the flow: as its own ``python -m bytewax.run`` process (ops/flow_process.py), with a progress
bar when the input size is known, then recorded in ``last_run.json`` and reported."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from arbflow.cli.common import console, errors, settings_for
from connectors import runs
from connectors.resources import DEFAULT_CONFIG
from ops.flow_process import flow_argv, flow_env, init_recovery, lake_rows, run_flow


def _record_run(data_dir: Path, **info: Any) -> None:
    """``<data_dir>/last_run.json``: what ``arbflow status`` shows as the last run, merged over the record the flow
    wrote of this same run (connectors/runs.py: status, reason, counts)."""
    flow_run = runs.last_run(data_dir)
    if flow_run is not None and str(flow_run.get("started", "")) >= str(info["started"]):
        info = {**flow_run, **info}
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / ".last_run.json.tmp"
    tmp.write_text(json.dumps(info, indent=2, default=str))
    tmp.replace(data_dir / "last_run.json")


def run_flow_command(command: str, config: Path | None, overrides: dict[str, Any], workers: int,
                     recovery_dir: Path | None = None, snapshot_s: int = 1, log_name: str | None = None,
                     expected_quotes: int | None = None) -> int:  # fmt: skip
    """Validate, run the flow process (with a progress bar when the input size is known), record and report it."""
    settings = settings_for(config, overrides)
    data_dir = Path(settings.sinks.data_dir)
    if recovery_dir is not None:
        init_recovery(recovery_dir)
    argv = flow_argv(config, workers, recovery_dir, snapshot_s)
    env = flow_env(overrides)
    if expected_quotes is not None and not settings.sinks.write_quotes_clean:
        console.print("note: sinks.write_quotes_clean is off, so the bar can only count rejected rows")
    started, t0_ns, t0_s = datetime.now(UTC), time.time_ns(), time.monotonic()
    resumed = recovery_dir is not None
    log_path = data_dir / f"{log_name}.log" if log_name else None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if _main_thread() else None
    try:
        if expected_quotes is None or log_path is None:
            with open(log_path, "w") if log_path else contextlib.nullcontext() as output:
                code = run_flow(argv, env, output, stop)
        else:
            code = _with_progress(argv, env, log_path, stop, data_dir, expected_quotes, 0 if resumed else t0_ns)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    elapsed_s = time.monotonic() - t0_s
    quotes = lake_rows(data_dir, newer_than_ns=0 if resumed else t0_ns)
    _record_run(data_dir, command=command, config=str(config or DEFAULT_CONFIG), overrides=overrides,
                workers=workers, recovery_dir=recovery_dir, started=started.isoformat(timespec="seconds"),
                elapsed_s=round(elapsed_s, 2), exit_code=code, quotes=quotes, log=log_path)  # fmt: skip
    rate = quotes / elapsed_s if elapsed_s > 0 else 0.0
    if code == 0:
        console.print(
            f"{command}: {quotes:,} quotes in {elapsed_s:.1f} s ({rate:,.0f} quotes/s with start-up) -> {data_dir}"
        )
    else:
        tail = log_path.read_text()[-3000:] if log_path and log_path.exists() else ""
        text = f"{command}: the flow exited with code {code}" + (f"; end of {log_path}:\n{tail}" if tail else "")
        errors.print(text, markup=False, highlight=False, soft_wrap=True)  # flow errors name keys like [venues.x]
    return code


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class QuotesRateColumn(ProgressColumn):
    """Quotes per second over the bar's recent updates; until there are two of them (an input that fits in one batch
    lands in one update), rows so far over the time since the flow started, start-up included."""

    def render(self, task: Task) -> Text:
        rate = task.speed or (task.completed / task.elapsed if task.completed and task.elapsed else None)
        return Text("- quotes/s" if rate is None else f"{rate:,.0f} quotes/s", style="progress.data.speed")


def _with_progress(argv: list[str], env: dict[str, str], log_path: Path, stop: threading.Event,
                   data_dir: Path, total: int, newer_than_ns: int) -> int:  # fmt: skip
    """Run the flow while a bar follows the rows it has written (quotes_clean + quotes_rejected: every input row
    lands in exactly one of them), read from the Parquet footers of the new part files."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), QuotesRateColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress, open(log_path, "w") as output:
        task = progress.add_task("replay (starting the flow)", total=total)
        seen: dict[Path, int] = {}

        def poll() -> None:
            done = lake_rows(data_dir, newer_than_ns=newer_than_ns, seen=seen)
            progress.update(task, completed=done, description="replay" if done else "replay (starting the flow)")

        return run_flow(argv, env, output, stop, poll)


def input_rows(files: list[Path]) -> int:
    """Rows a replay will read: Parquet footers, CSV lines."""
    total = 0
    for path in files:
        if path.suffix == ".parquet":
            total += pq.ParquetFile(path).metadata.num_rows
        else:
            with open(path, "rb") as handle:
                total += max(sum(1 for _ in handle) - 1, 0)
    return total
