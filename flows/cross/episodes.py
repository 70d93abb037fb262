"""Opportunity episodes and rejection reasons for cross-exchange spreads, as one per-symbol step.

``flows/arbitrage.py``'s per-symbol step calls :func:`cross_tables` with each batch's evaluated spreads (SPREAD_COLUMNS,
processing order) and keeps the returned :class:`CrossState` next to its book state; the items go to the lake like
its other tables. The spread rows' own ``is_signal`` (fresh, size > 0, net edge over the threshold) decides what
qualifies; routes are ``<symbol>/<buy>/<sell>`` as in spread_stats.

One state machine (:func:`flows.common.episodes.edge_events`) decides both the signals and the episodes: a signal is the
first qualifying evaluation of an episode and carries its id, so ``signals`` and ``opportunities`` agree one to one.
Only a *fresh* evaluation whose net edge is under the threshold closes an episode; a stale or skewed one (a venue's
quote missing from a snapshot second) is neutral, and the gap timeout ends an opportunity nobody re-confirms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from flows.common import episodes
from flows.common.episodes import Run, as_utc, edge_events
from flows.common.rejections import Gates, rejections_from_spreads
from flows.cross.spreads import signals_from

Item = tuple[str, pl.DataFrame]


@dataclass(frozen=True)
class CrossState:
    """Per symbol: open opportunities (last qualifying time), each route's last rejection reason, open episodes."""

    open: dict[str, datetime] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    open_runs: dict[str, Run] = field(default_factory=dict)
    evaluated: dict[str, int] = field(default_factory=dict)  # evaluations per route so far


@dataclass(frozen=True)
class CrossOut:
    """One batch's outputs: signals (one per episode start) and the lake items of episodes and rejections."""

    starts: pl.Series  # per spread row: an opportunity starts here (the signal rows)
    signals: pl.DataFrame
    tables: list[Item]


def cross_tables(
    state: CrossState | None,
    spreads: pl.DataFrame,
    gates: Gates,
    gap_timeout: timedelta,
    min_duration: timedelta,
    min_qty_base: float = 0.0,
    min_notional_quote: float = 0.0,
) -> tuple[CrossState, CrossOut]:
    """Signals, ``opportunities`` rows of the episodes that ended and ``rejections`` rows where a route's reason
    changed.

    Args:
        state: the previous batch's state (None at start).
        spreads: one symbol's evaluated spreads (SPREAD_COLUMNS) in processing order.
        gates: the [cross] thresholds.
        gap_timeout, min_duration: [episodes] session gap and blip threshold.
        min_qty_base, min_notional_quote: venue order minimums for the ``thin_size`` / ``min_notional`` codes.
    """
    state = state or CrossState()
    routed = spreads.with_columns(
        pl.format("{}/{}/{}", "symbol", "buy_exchange", "sell_exchange").alias("route"),
        pl.col("spread_id").alias("event_id"),
        pl.col("ts_eval").alias("ts_event"),
        (pl.col("qty") * pl.col("buy_px")).alias("size_quote"),
        (pl.col("fresh") & (pl.col("net_edge_bps") < gates.min_net_edge_bps)).alias("is_closing"),
    )
    edges = edge_events(routed, "cross", state.open, gap_timeout, state.evaluated)
    watermark = as_utc(spreads["ts_eval"].max()) if spreads.height else None
    open_runs, ended = episodes.advance(state.open_runs, edges.events, watermark, gap_timeout, min_duration)
    rejected, reasons = rejections_from_spreads(
        spreads, gates, state.reasons, min_qty_base=min_qty_base, min_notional_quote=min_notional_quote
    )
    tables = [("opportunities", ended), ("rejections", rejected)]
    signals = signals_from(spreads.filter(edges.starts))
    out = CrossOut(edges.starts, signals, [t for t in tables if t[1].height])
    return CrossState(edges.open_after, reasons, open_runs, edges.evaluated_after or {}), out


def flush(state: CrossState, min_duration: timedelta) -> list[Item]:
    """End of input: the open episodes end (``ts_closed`` null)."""
    rows = episodes.flush(state.open_runs, min_duration)
    return [("opportunities", rows)] if rows.height else []
