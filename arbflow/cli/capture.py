"""``arbflow capture`` and ``arbflow simulate``: make replayable quote files, from the live venues or from the
deterministic simulator (with its ground truth)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from arbflow.cli.common import DAY, ConfigOpt, DataDirOpt, command_query, console, fail, settings_for
from arbflow.cli.flowrun import input_rows, run_flow_command
from arbflow.settings import SimulatorConfig
from connectors import lake
from connectors.capture import CaptureWriter
from connectors.simulator import DEFAULT_START, simulate


def capture(
    seconds: Annotated[float, typer.Option("--seconds", "-t", min=0.1, help="Capture this long, then stop.")],
    capture_dir: Annotated[
        Path | None, typer.Option(help="Where the quote files go (default <data dir>/capture).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run the live source for a while, writing replayable quote files (<dir>/exchange=*/date=*/) and the lake.

    Venues, symbols and endpoints come from the live section of the config; the files replay with
    `arbflow replay --capture-dir DIR --from DAY`.
    """
    overrides: dict[str, Any] = {"source.kind": "live", "live.run_for_s": seconds}
    if data_dir is not None:
        overrides["sinks.data_dir"] = str(data_dir)
    capture_dir = capture_dir or Path(settings_for(config, overrides).sinks.data_dir) / "capture"
    overrides["live.capture_dir"] = str(capture_dir.resolve())
    started = datetime.now(UTC)
    code = run_flow_command("capture", config, overrides, 1, log_name="capture")
    table = Table(title=f"captured in {capture_dir}")
    for column in ("exchange", "files", "quotes"):
        table.add_column(column, justify="right" if column != "exchange" else "left")
    for venue_dir in sorted(capture_dir.glob("exchange=*")):
        files = sorted(venue_dir.glob("date=*/*.parquet"))
        table.add_row(venue_dir.name.partition("=")[2], str(len(files)), f"{input_rows(files):,}")
    console.print(table)
    if code == 0 and (causes := _never_connected(Path(settings_for(config, overrides).sinks.data_dir), started)):
        raise fail("no venue ever connected; last feed event per venue: " + "; ".join(causes), code=1)
    raise typer.Exit(code)


def _never_connected(data_dir: Path, since: datetime) -> list[str]:
    """Each venue's last feed event of this run (``exchange connect_failed: cause``) when none of them ever got market
    data (no ``live`` event since ``since``, receive clock); empty when one did. Why: a capture without network
    otherwise ends "successfully" with 0 quotes."""
    if not (data_dir / "arbflow.duckdb").exists():
        return []
    con = lake.connect(data_dir)
    try:
        last = command_query(con, "last_feed_events", since=since.isoformat())
    finally:
        con.close()
    if not last or any(row["was_live"] for row in last):
        return []
    return [f"{row['exchange']} {row['kind']}: {row['detail']}" for row in last]


def simulate_cmd(
    out_dir: Annotated[Path | None, typer.Argument(help="Writes quotes/truth/anomalies.parquet here.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Same as OUT_DIR (default <data dir>/sim).")] = None,
    capture_dir: Annotated[Path | None, typer.Option(help="Also write the quotes in the capture layout.")] = None,
    config: ConfigOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override simulator.seed.")] = None,
    duration_s: Annotated[float | None, typer.Option(min=1, help="Override simulator.duration_s.")] = None,
    start: Annotated[datetime | None, typer.Option(formats=[DAY, f"{DAY}T%H:%M:%S"], help="UTC start.")] = None,
) -> None:
    """Write a deterministic synthetic market: quotes plus its ground truth.

    The simulator section of the config sets venues, symbols and rates; the ground truth lists the injected
    opportunities and anomalies. The start defaults to the simulator's fixed day (2024-08-09). Replay the
    result with `arbflow replay OUT/quotes.parquet`.
    """
    if out_dir is not None and out is not None and out_dir != out:
        raise fail(f"give the output directory once: OUT_DIR {out_dir} or --out {out}")
    settings = settings_for(config)
    out = out_dir or out or Path(settings.sinks.data_dir) / "sim"
    updates = {k: v for k, v in {"seed": seed, "duration_s": duration_s}.items() if v is not None}
    sim_cfg = SimulatorConfig.model_validate({**settings.simulator.model_dump(), **updates})
    fees = {name: venue.taker_fee_bps for name, venue in settings.venues.items()}
    begin = (start or DEFAULT_START).replace(tzinfo=UTC)
    result = simulate(sim_cfg, fees, settings.cross.min_net_edge_bps, start=begin)
    quotes_file = result.write(out)
    table = Table(title=f"simulated market (seed {sim_cfg.seed}) in {out}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, frame in (("quotes", result.quotes), ("truth", result.truth), ("anomalies", result.anomalies)):
        table.add_row(f"{name}.parquet", f"{frame.height:,}")
    if capture_dir is not None:
        for (exchange,), frame in result.quotes.group_by("exchange", maintain_order=True):
            writer = CaptureWriter(capture_dir, str(exchange), rows_per_file=1_000_000)
            writer.write(frame, 0)
            writer.flush()
        table.add_row(f"{capture_dir}/exchange=*/date=*/", f"{result.quotes.height:,}")
    console.print(table)
    span = result.quotes["ts_recv"]
    console.print(f"receive clock {span.min()!s} .. {span.max()!s}; replay with `arbflow replay {quotes_file}`")
