"""``arbflow run`` and ``arbflow replay``: the dataflow over a config's source, or over recorded quote files."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from arbflow.cli.common import DAY, ConfigOpt, DataDirOpt, WorkersOpt, console, fail
from arbflow.cli.flowrun import input_rows, run_flow_command
from connectors.formats import resolve as resolve_format
from connectors.replay import expand


class SourceKind(str, Enum):
    sample = "sample"
    replay = "replay"
    simulator = "simulator"
    live = "live"


def run(
    config: ConfigOpt = None,
    source: Annotated[SourceKind | None, typer.Option("--source", "-s", help="Override source.kind.")] = None,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = 1,
    recovery_dir: Annotated[
        Path | None,
        typer.Option(
            "--recovery-dir", "-r", help="Bytewax recovery store: created on first use; a rerun resumes from it."
        ),
    ] = None,
    snapshot_s: Annotated[int, typer.Option("--snapshot-s", min=1, help="Snapshot interval (s), recovery.")] = 1,
) -> None:
    """Run the dataflow for a config as `python -m bytewax.run` (sample, replay, simulator or live, by config)."""
    overrides: dict[str, Any] = {}
    if source is not None:
        overrides["source.kind"] = source.value
    if data_dir is not None:
        overrides["sinks.data_dir"] = str(data_dir)
    raise typer.Exit(run_flow_command("run", config, overrides, workers, recovery_dir, snapshot_s))


def replay(
    files: Annotated[list[str] | None, typer.Argument(help="Parquet/CSV quote files or globs.")] = None,
    capture_dir: Annotated[Path | None, typer.Option(help="A capture layout: <dir>/exchange=*/date=*/.")] = None,
    from_day: Annotated[datetime | None, typer.Option("--from", formats=[DAY], help="First UTC day.")] = None,
    to_day: Annotated[
        datetime | None, typer.Option("--to", formats=[DAY], help="Last UTC day (default --from).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = 1,
    batch_rows: Annotated[int | None, typer.Option(min=1, help="Override source.batch_rows.")] = None,
    speed: Annotated[float | None, typer.Option(min=0, help="0 = as fast as possible, 1 = real time.")] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="File format (default: sniffed per file); see connectors/formats.py.")
    ] = None,
) -> None:
    """Replay recorded quotes (files, or a date range of a capture directory) with a progress bar (quotes/s, ETA).

    Examples: `arbflow replay data/capture/**/*.parquet`;
    `arbflow replay --capture-dir data/capture --from 2024-08-08 --to 2024-08-09 -d data/aug`.
    """
    if files and capture_dir is not None:
        raise fail("give files or --capture-dir with --from/--to, not both")
    if files:
        try:
            paths = expand(files)
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
    elif capture_dir is not None and from_day is not None:
        days = _days(from_day.date(), (to_day or from_day).date())
        paths = [p for d in days for p in sorted(capture_dir.glob(f"exchange=*/date={d}/*.parquet"))]
        if not paths:
            raise fail(f"no capture files in {capture_dir}/exchange=*/date=<{days[0]}..{days[-1]}>/")
    else:
        raise fail("give quote files, or --capture-dir DIR --from YYYY-MM-DD [--to YYYY-MM-DD]")
    overrides: dict[str, Any] = {"source.kind": "replay", "source.paths": [str(p.resolve()) for p in paths]}
    if data_dir is not None:
        overrides["sinks.data_dir"] = str(data_dir)
    if batch_rows is not None:
        overrides["source.batch_rows"] = batch_rows
    if speed is not None:
        overrides["source.speed"] = speed
    if file_format is not None:
        overrides["source.format"] = file_format
    try:  # a file in no known format is the user's to fix: say so before starting the flow
        for path in paths:
            resolve_format(path, file_format)
    except ValueError as exc:
        raise fail(str(exc)) from None
    total = input_rows(paths)
    console.print(f"replaying {total:,} quotes from {len(paths)} file(s)")
    raise typer.Exit(run_flow_command("replay", config, overrides, workers, log_name="replay", expected_quotes=total))


def _days(first: date, last: date) -> list[date]:
    if last < first:
        msg = f"--to {last} is before --from {first}"
        raise fail(msg)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
