"""Tumbling-window spread statistics per (symbol, buy venue, sell venue), on Bytewax windowing with an EventClock.

The hot path never sends one Python object per tick into the windowing operator: each micro-batch is first reduced
to one partial aggregate per (route, window) (``partials``), and the window operator merges partials. Time is the
evaluation's receive clock (``ts_eval``). Partials that arrive after their window closed come out of the operator's
``late`` stream and are stored as their own rows with ``is_late = true``: counted and kept, not dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import polars as pl

from flows.cross.spreads import Evaluation

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def no_system_wakeup(_close_time: datetime) -> None:
    """``EventClock.to_system_utc`` for a frozen system clock: only items advance its watermark, so a wake-up at a
    system time could close nothing. Without this Bytewax maps a close time to itself, which is already past, and
    calls the window's ``on_notify`` on every worker activation for every key (a no-op that cost a third of the
    live flow's CPU at 1 ms polls)."""


@dataclass(frozen=True)
class Partial:
    """Aggregate of a route's fresh evaluations within one window, from one or more batches."""

    symbol: str
    buy_exchange: str
    sell_exchange: str
    window_start: datetime
    ts_first: datetime  # receive clock of the first evaluation folded in (the EventClock timestamp)
    first_id: str  # spread_id of that evaluation: names late rows
    evaluations: int
    signals: int
    net_min: float
    net_max: float
    net_sum: float
    gross_sum: float

    def route_key(self) -> str:
        return f"{self.symbol}/{self.buy_exchange}/{self.sell_exchange}"


def merge(a: Partial | None, b: Partial) -> Partial:
    """Combine two partials of the same route and window (associative, order-insensitive in value)."""
    if a is None:
        return b
    first = a if (a.ts_first, a.first_id) <= (b.ts_first, b.first_id) else b
    return replace(
        first,
        evaluations=a.evaluations + b.evaluations,
        signals=a.signals + b.signals,
        net_min=min(a.net_min, b.net_min),
        net_max=max(a.net_max, b.net_max),
        net_sum=a.net_sum + b.net_sum,
        gross_sum=a.gross_sum + b.gross_sum,
    )


def partials(ev: Evaluation, window: timedelta) -> list[Partial]:
    """Reduce a batch's evaluations (fresh ones only) to one partial per (route, window)."""
    every = f"{int(window / timedelta(microseconds=1))}us"
    agg = (
        ev.lean.filter(pl.col("fresh"))
        .with_columns(pl.col("ts_eval").dt.truncate(every).alias("window_start"))
        .group_by("_route", "window_start", maintain_order=True)
        .agg(
            pl.col("ts_eval").first().alias("ts_first"),
            pl.col("_pos").first().alias("_first_pos"),
            pl.len().alias("evaluations"),
            pl.col("is_edge").sum().alias("signals"),
            pl.col("net_edge_bps").min().alias("net_min"),
            pl.col("net_edge_bps").max().alias("net_max"),
            pl.col("net_edge_bps").sum().alias("net_sum"),
            pl.col("gross_edge_bps").sum().alias("gross_sum"),
        )
    )
    ids = ev.batch["quote_id"]
    out = []
    for row in agg.iter_rows(named=True):
        buy, sell = ev.routes[row.pop("_route")]
        first_id = f"{ids[row.pop('_first_pos')]}/{buy}/{sell}"
        # Bytewax wants timezone.utc itself, not polars' ZoneInfo("UTC").
        row["ts_first"] = row["ts_first"].replace(tzinfo=UTC)
        row["window_start"] = row["window_start"].replace(tzinfo=UTC)
        out.append(Partial(symbol=ev.symbol, buy_exchange=buy, sell_exchange=sell, first_id=first_id, **row))
    return out


def stats_row(p: Partial, window: timedelta, late: bool) -> dict[str, object]:
    """One spread_stats row."""
    stats_id = f"{p.route_key()}/{p.window_start.isoformat()}" + (f"/late/{p.first_id}" if late else "")
    return {
        "stats_id": stats_id,
        "symbol": p.symbol,
        "buy_exchange": p.buy_exchange,
        "sell_exchange": p.sell_exchange,
        "window_start": p.window_start,
        "window_end": p.window_start + window,
        "evaluations": p.evaluations,
        "signals": p.signals,
        "net_edge_bps_min": p.net_min,
        "net_edge_bps_max": p.net_max,
        "net_edge_bps_mean": p.net_sum / p.evaluations,
        "gross_edge_bps_mean": p.gross_sum / p.evaluations,
        "is_late": late,
    }
