"""Opportunity episodes and rejection reasons for cross-exchange spreads, as one per-symbol step.

``flows/arbitrage.py``'s per-symbol step calls :func:`cross_tables` with each batch's evaluated spreads (SPREAD_COLUMNS,
processing order) and keeps the returned :class:`CrossState` next to its book state; the items go to the lake like
its other tables. The spread rows' own ``is_signal`` (fresh, size > 0, net edge over the threshold) decides what
qualifies; routes are ``<symbol>/<buy>/<sell>`` as in spread_stats.

One state machine (:func:`flows.common.edges.edge_events`) decides both the signals and the episodes: a signal is the
first qualifying evaluation of an episode and carries its id, so ``signals`` and ``opportunities`` agree one to one.
Only a *fresh* evaluation whose net edge is under the threshold closes an episode; a stale or skewed one (a venue's
quote missing from a snapshot second) is neutral, and the gap timeout ends an opportunity nobody re-confirms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from flows.common import episodes
from flows.common.edges import code_groups, edge_marks, event_frame, route_groups
from flows.common.episodes import Run, as_utc
from flows.common.rejections import CROSS_ROUTE, Gates, cross_rejection_rows, reason_marks, verdicts, with_checks
from flows.cross.spreads import Evaluation

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
    spreads: Evaluation | pl.DataFrame,
    gates: Gates,
    gap_timeout: timedelta,
    min_duration: timedelta,
    min_qty_base: float = 0.0,
    min_notional_quote: float = 0.0,
) -> tuple[CrossState, CrossOut]:
    """Signals, ``opportunities`` rows of the episodes that ended and ``rejections`` rows where a route's reason
    changed.

    The state machines run on numbers (route indexes, times, flags); ``spreads`` rows with strings are built only
    for the evaluations that start a signal, mark an episode or change a reason.

    Args:
        state: the previous batch's state (None at start).
        spreads: one symbol's evaluations (lean, from flows/cross/spreads.py ``evaluate``), or their rows
            (SPREAD_COLUMNS), in processing order.
        gates: the [cross] thresholds.
        gap_timeout, min_duration: [episodes] session gap and blip threshold.
        min_qty_base, min_notional_quote: venue order minimums for the ``thin_size`` / ``min_notional`` codes.
    """
    state = state or CrossState()
    if isinstance(spreads, Evaluation):
        numbers = spreads.lean
        names = [f"{spreads.symbol}/{buy}/{sell}" for buy, sell in spreads.routes]
        groups = code_groups(numbers["_route"].to_numpy(), names)
        evaluation = spreads

        def rows_at(mask: np.ndarray) -> pl.DataFrame:
            return evaluation.rows(evaluation.lean.filter(pl.Series(mask)))
    else:
        numbers, groups = spreads, route_groups(spreads.select(CROSS_ROUTE.alias("route"))["route"])
        frame = spreads

        def rows_at(mask: np.ndarray) -> pl.DataFrame:
            return frame.filter(pl.Series(mask))

    closing = (numbers["fresh"] & (numbers["net_edge_bps"] < gates.min_net_edge_bps)).to_numpy()
    ts_us = numbers["ts_eval"].dt.epoch("us").to_numpy()
    marks = edge_marks(
        groups, ts_us, numbers["is_signal"].to_numpy(), closing, state.open, gap_timeout, state.evaluated
    )
    eval_no = marks.eval_no
    assert eval_no is not None, "cross counts evaluations (state.evaluated)"
    checked = with_checks(numbers, min_qty_base, min_notional_quote)
    reason_changes, reasons = reason_marks(groups, verdicts(checked, gates)[1], state.reasons)
    wanted = marks.events | marks.starts | reason_changes
    rows = rows_at(wanted)
    events = event_frame(
        rows.with_columns(
            CROSS_ROUTE.alias("route"),
            pl.col("spread_id").alias("event_id"),
            pl.col("ts_eval").alias("ts_event"),
            (pl.col("qty") * pl.col("buy_px")).alias("size_quote"),
            pl.Series("eval_no", eval_no[wanted]),
        ).filter(pl.Series(marks.events[wanted])),
        "cross",
    )
    watermark = as_utc(numbers["ts_eval"].max()) if numbers.height else None
    open_runs, ended = episodes.advance(state.open_runs, events, watermark, gap_timeout, min_duration)
    rejected = cross_rejection_rows(
        with_checks(rows.filter(pl.Series(reason_changes[wanted])), min_qty_base, min_notional_quote), gates
    )
    tables = [("opportunities", ended), ("rejections", rejected)]
    signals = signals_from(rows.filter(pl.Series(marks.starts[wanted])))
    out = CrossOut(pl.Series("starts", marks.starts), signals, [t for t in tables if t[1].height])
    return CrossState(marks.open_after, reasons, open_runs, marks.evaluated_after or {}), out


def signals_from(rows: pl.DataFrame) -> pl.DataFrame:
    """Signal rows (the ``signals`` table) from the spread rows where an opportunity starts, with its episode id."""
    return rows.select(
        pl.concat_str([pl.lit("cross/"), pl.col("spread_id")]).alias("signal_id"),
        pl.lit("cross").alias("strategy"),
        "symbol",
        "buy_exchange",
        "sell_exchange",
        pl.col("ts_eval").alias("ts_signal"),
        "buy_px",
        "sell_px",
        "qty",
        (pl.col("qty") * pl.col("buy_px")).alias("notional_quote"),
        "gross_edge_bps",
        "net_edge_bps",
        "expected_profit_quote",
        "age_ms",
        "skew_ms",
        "buy_quote_id",
        "sell_quote_id",
        pl.format("cross/{}/{}/{}/{}", "symbol", "buy_exchange", "sell_exchange", "spread_id").alias("episode_id"),
    )


def flush(state: CrossState, min_duration: timedelta) -> list[Item]:
    """End of input: the open episodes end (``ts_closed`` null)."""
    rows = episodes.flush(state.open_runs, min_duration)
    return [("opportunities", rows)] if rows.height else []
