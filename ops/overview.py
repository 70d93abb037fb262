"""Aggregates over the Parquet lake for the control routes and the dashboard: feed health per venue, data quality
per venue, strategy counts, the spread chart (windows, signal markers, threshold), the PnL/drawdown series.

Like ops/lakeread.py, every call opens an in-memory DuckDB and scans the part files directly (no lock on the running
flow's files); a table without part files yet counts as empty. SQL here is fixed text with bound parameters.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb

from connectors.lake import lake_dir, table_glob


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def lake_sql(data_dir: str | Path, table: str, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run ``sql`` with ``{t}`` standing for the table's part files; ``[]`` when the table has none yet."""
    root = lake_dir(data_dir) / table
    if not root.is_dir() or not any(root.rglob("part-*.parquet")):
        return []
    source = "read_parquet($glob, union_by_name = true, hive_partitioning = false)"
    con = duckdb.connect()
    try:
        cursor = con.execute(sql.replace("{t}", source), {"glob": table_glob(data_dir, table), **(params or {})})
        names = [d[0] for d in cursor.description]
        return [{n: _clean(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]
    finally:
        con.close()


def feed_health(data_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Per venue: the latest feed event (is the feed up, since when, why) and event counts by kind (live runs only)."""
    latest = lake_sql(
        data_dir,
        "feed_events",
        "select exchange, arg_max(kind, ts_recv) as last_kind, arg_max(feed_up, ts_recv) as feed_up, "
        "max(ts_recv) as last_event_ts, arg_max(detail, ts_recv) as last_detail, count(*) as events, "
        "count(*) filter (where kind = 'disconnect') as disconnects, count(*) filter (where kind = 'stall') as stalls, "
        "count(*) filter (where kind = 'gap') as gaps from {t} group by exchange order by exchange",
    )
    return {row.pop("exchange"): row for row in latest}


def quality_by_venue(data_dir: str | Path) -> dict[str, Any]:
    """Rejected quotes by venue, stage and reason, and the validation runs per suite (runs, failures, rows)."""
    rejected = lake_sql(
        data_dir,
        "quotes_rejected",
        "select coalesce(exchange, '?') as exchange, stage, reason, count(*) as rows from {t} "
        "group by all order by rows desc, exchange, stage, reason limit 200",
    )
    clean = lake_sql(
        data_dir, "quotes_clean", "select exchange, count(*) as rows from {t} group by exchange order by exchange"
    )
    runs = lake_sql(
        data_dir,
        "validation_runs",
        "select suite, severity, count(*) as runs, count(*) filter (where not success) as failed_runs, "
        "sum(rows_in) as rows_in, sum(rows_unexpected) as rows_unexpected, max(ts_recv_max) as last_ts_recv "
        "from {t} group by suite, severity order by suite",
    )
    return {"rejected": rejected, "clean_by_exchange": clean, "validation": runs}


def strategy_counts(data_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Per strategy name: signals and opportunity episodes written so far, and the newest signal time."""
    out: dict[str, dict[str, Any]] = {}
    for row in lake_sql(
        data_dir,
        "signals",
        "select strategy, count(*) as signals, max(ts_signal) as last_signal_ts from {t} group by strategy",
    ):
        out.setdefault(row.pop("strategy"), {}).update(row)
    for row in lake_sql(
        data_dir, "opportunities", "select strategy, count(*) as opportunities from {t} group by strategy"
    ):
        out.setdefault(row.pop("strategy"), {}).update(row)
    return out


def spread_windows(data_dir: str | Path, windows: int = 30) -> list[dict[str, Any]]:
    """The newest ``windows`` closed windows of every route (symbol/buy/sell), oldest first within a route."""
    return lake_sql(
        data_dir,
        "spread_stats",
        "select symbol, buy_exchange, sell_exchange, window_start, window_end, evaluations, signals, "
        "net_edge_bps_min, net_edge_bps_max, net_edge_bps_mean from {t} where not is_late "
        "qualify row_number() over (partition by symbol, buy_exchange, sell_exchange order by window_start desc) "
        "<= $n order by symbol, buy_exchange, sell_exchange, window_start",
        {"n": windows},
    )


def spread_chart(data_dir: str | Path, min_net_edge_bps: float, windows: int = 30) -> dict[str, Any]:
    """What the spread chart draws: per-route windows, the cross signals inside their time span, the threshold.

    The chart plots each window's max net edge, since a mean hides the short spikes that become signals; the
    markers are the signals themselves (receive clock) and the line is ``cross.min_net_edge_bps``.
    """
    rows = spread_windows(data_dir, windows)
    since = min((r["window_start"] for r in rows), default=None)
    signals = (
        lake_sql(
            data_dir,
            "signals",
            "select signal_id, ts_signal, symbol, buy_exchange, sell_exchange, net_edge_bps from {t} "
            "where strategy = 'cross' and ts_signal >= $since order by ts_signal, signal_id limit 2000",
            {"since": since},
        )
        if since is not None
        else []
    )
    return {"windows": rows, "signals": signals, "min_net_edge_bps": min_net_edge_bps}


def pnl_series(data_dir: str | Path, points: int = 300) -> list[dict[str, Any]]:
    """Equity, PnL and drawdown on the receive clock, thinned to at most ``points`` evenly spaced ticks."""
    return lake_sql(
        data_dir,
        "risk_metrics",
        "with numbered as (select *, row_number() over (order by ts_metrics) - 1 as i, count(*) over () as n from {t}) "
        "select ts_metrics, equity_usdt, realized_pnl_usdt + unrealized_pnl_usdt - fees_usdt as pnl_usdt, "
        "drawdown, max_drawdown, risk_level from numbered "
        "where i % greatest(1, ceil(n / $points)::bigint) = 0 or i = n - 1 order by ts_metrics",
        {"points": points},
    )
