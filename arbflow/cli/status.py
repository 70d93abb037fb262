"""``arbflow status`` and ``arbflow summary``: what the lake holds, the last run, feeds, jobs and heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from arbflow.cli.common import (
    ConfigOpt,
    DataDirOpt,
    FormatOpt,
    OutputFormat,
    command_query,
    connect,
    console,
    print_rows,
    settings_for,
    to_json,
)
from arbflow.settings import Settings
from connectors import lake, runs
from connectors.logs import read_heartbeats
from ops import queries
from ops.scheduler import job_root, next_fire, read_state


def _status(settings: Settings, data_dir: Path) -> dict[str, Any]:
    """Everything ``arbflow status`` reports, as plain data."""
    out: dict[str, Any] = {"data_dir": str(data_dir), "tables": {}, "feeds": [], "jobs": []}
    if (data_dir / "arbflow.duckdb").exists():
        con = lake.connect(data_dir)
        try:
            for table in sorted(lake.table_schemas()):
                days = sorted(
                    p.name[5:] for p in (lake.lake_dir(data_dir) / table).glob("date=*") if p.name != "date=none"
                )
                (counted,) = command_query(con, "table_rows", table_name=table)
                out["tables"][table] = {
                    "rows": counted["rows"],
                    "days": len(days),
                    "last_day": days[-1] if days else None,
                }
            columns, rows = queries.run(con, queries.get_query("feed_health"), {})
            out["feeds"] = [dict(zip(columns, row, strict=True)) for row in rows]
        finally:
            con.close()
    out["last_run"] = runs.last_run(data_dir)  # written by the flow itself, whoever started it
    now = datetime.now(UTC)
    for job in settings.schedule.jobs:
        state = read_state(job_root(job))
        out["jobs"].append({"name": job.name, "cron": job.cron, "next_fire": next_fire(job.cron, now),
                            "last": state.get("last"), "days": len(state.get("days", {}))})  # fmt: skip
    out["heartbeats"] = read_heartbeats(data_dir / "heartbeats")
    return out


def status(config: ConfigOpt = None, data_dir: DataDirOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """Lake row counts per table, the last run, feed health, scheduled jobs and module heartbeats."""
    settings = settings_for(config)
    data_dir = data_dir or Path(settings.sinks.data_dir)
    report = _status(settings, data_dir)
    if fmt is not OutputFormat.table:
        typer.echo(to_json(report))
        return
    if not report["tables"]:
        console.print(f"no results in {data_dir} yet (run `arbflow run` or `arbflow replay`)")
    else:
        print_rows(["table", "rows", "days", "last day"],
                   [(t, f"{v['rows']:,}", v["days"], v["last_day"]) for t, v in report["tables"].items()],
                   OutputFormat.table, f"lake {data_dir}")  # fmt: skip
    last = report["last_run"]
    if last:
        console.print(f"last run: {last['command']} started {last['started']}, {last['status']}, exit {last['exit_code']}, "
                      f"{last['quotes']:,} quotes in {last['elapsed_s']} s")  # fmt: skip
    if report["feeds"]:
        columns = list(report["feeds"][0])
        print_rows(columns, [tuple(f.values()) for f in report["feeds"]], OutputFormat.table, "feed health")
    if report["jobs"]:
        rows = [(j["name"], j["cron"], j["next_fire"], *(_last_job(j["last"]))) for j in report["jobs"]]
        print_rows(["job", "cron", "next fire (UTC)", "last day", "status", "quotes"], rows, OutputFormat.table,
                   "scheduled jobs")  # fmt: skip
    if report["heartbeats"]:
        rows = [(m, b.get("ts"), b.get("ok"), b.get("detail")) for m, b in report["heartbeats"].items()]
        print_rows(["module", "last beat", "ok", "detail"], rows, OutputFormat.table, "heartbeats")


def _last_job(last: dict[str, Any] | None) -> tuple[Any, ...]:
    return (last["day"], last["status"], f"{last['quotes']:,}") if last else ("", "never run", "")


def summary(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Print what the last run produced: quotes in, clean, rejected (by reason), signals, windows."""
    data_dir = data_dir or Path(settings_for(config).sinks.data_dir)
    con = connect(data_dir)
    try:
        (counts,) = command_query(con, "run_counts")
        _, reasons = queries.run(con, queries.get_query("rejection_reasons"), {})
        columns, top = queries.run(con, queries.get_query("best_signals"), {"limit": "5"})
    finally:
        con.close()
    table = Table(title=f"arbflow results in {data_dir}/arbflow.duckdb")
    table.add_column("what")
    table.add_column("rows", justify="right")
    for label, rows in counts.items():
        table.add_row(label, f"{rows:,}")
    console.print(table)
    run = runs.last_run(data_dir)
    if run is not None and run["status"] != "complete":
        console.print(f"the last run ({run['run_id']}) is {run['status']}: {run['reason'] or 'it did not reach the end of its input'}; the lake holds part of its input", markup=False)  # fmt: skip
    if reasons:
        by_reason = Table(title="rejected rows by reason")
        for column in ("stage", "reason", "rows"):
            by_reason.add_column(column)
        for stage, reason, n, *_ in reasons:
            by_reason.add_row(stage, reason, f"{n:,}")
        console.print(by_reason)
    if top:
        best = Table(title="best signals (net of taker fees)")
        for column in ("symbol", "buy", "sell", "ts_signal (UTC)", "net bps", "qty", "profit (quote)"):
            best.add_column(column)
        for values in top:
            s = dict(zip(columns, values, strict=True))
            at = s["ts_signal"].astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]
            best.add_row(s["symbol"], s["buy_exchange"], s["sell_exchange"], at, str(s["net_edge_bps"]),
                         str(round(s["qty"], 4)), str(s["expected_profit_quote"]))  # fmt: skip
        console.print(best)
