"""The ``arbflow`` command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from connectors import lake
from connectors.config import load_settings

app = typer.Typer(help="arbflow: a replayable crypto-arbitrage pipeline on Bytewax.", no_args_is_help=True)
console = Console()


@app.callback()
def main() -> None:
    """Run, replay, query and operate the arbitrage pipeline."""


SUMMARY_SQL = {
    "quotes in": "select (select count(*) from quotes_clean) + (select count(*) from quotes_rejected)",
    "clean": "select count(*) from quotes_clean",
    "rejected": "select count(*) from quotes_rejected",
    "validation runs": "select count(*) from validation_runs",
    "validation failures": "select count(*) from validation_runs where not success",
    "signals": "select count(*) from signals",
    "windows": "select count(*) from spread_stats",
    "late window partials": "select count(*) from spread_stats where is_late",
}


@app.command()
def summary(
    config: Path = typer.Option(None, "--config", "-c", help="Config file (default: config/default.toml)."),
) -> None:
    """Print what the last run produced: quotes in, clean, rejected (by reason), signals, windows."""
    settings = load_settings(config)
    con = lake.connect(settings.sinks.data_dir)
    table = Table(title=f"arbflow results in {settings.sinks.data_dir}/arbflow.duckdb")
    table.add_column("what")
    table.add_column("rows", justify="right")
    for label, sql in SUMMARY_SQL.items():
        table.add_row(label, f"{con.execute(sql).fetchone()[0]:,}")
    console.print(table)
    reasons = con.execute(
        "select stage, reason, count(*) as n from quotes_rejected group by all order by n desc, reason"
    ).fetchall()
    if reasons:
        by_reason = Table(title="rejected rows by reason")
        for column in ("stage", "reason", "rows"):
            by_reason.add_column(column)
        for stage, reason, n in reasons:
            by_reason.add_row(stage, reason, f"{n:,}")
        console.print(by_reason)
    top = con.execute(
        "select symbol, buy_exchange, sell_exchange, strftime(ts_signal, '%H:%M:%S.%g') as t, "
        "round(net_edge_bps, 1), round(qty, 4), round(expected_profit_quote, 2) "
        "from signals order by net_edge_bps desc limit 5"
    ).fetchall()
    if top:
        best = Table(title="best signals (net of taker fees)")
        for column in ("symbol", "buy", "sell", "ts_signal (UTC)", "net bps", "qty", "profit (quote)"):
            best.add_column(column)
        for row in top:
            best.add_row(*[str(v) for v in row])
        console.print(best)
    con.close()


if __name__ == "__main__":
    app()
