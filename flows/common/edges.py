"""Where opportunities start and end: the edge state machine every strategy's signals and episodes come from.

An evaluation of a route *qualifies* (clears every gate), *closes* (fresh, but the edge is gone) or is neutral (a leg
too old or a book too thin for a moment says nothing about the edge). An opportunity starts at a qualifying
evaluation when none is open on its route; it stays open while qualifying evaluations follow within ``gap_timeout``
and ends at a closing one. :func:`edge_marks` runs this per route on arrays (a few NumPy operations per route, not
polars window expressions over every row); :func:`edge_events` is the same on a frame with string routes. The marked
evaluations become edge events (:data:`EVENT_SCHEMA`) that flows/common/episodes.py reduces to episodes. Times are
the receive clock of the evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "strategy": pl.String(),
    "route": pl.String(),
    "event_id": pl.String(),
    "ts_event": pl.Datetime("us", "UTC"),
    "net_edge_bps": pl.Float64(),
    "size_quote": pl.Float64(),
    "qualifying": pl.Boolean(),
}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EdgeOut:
    """What :func:`edge_events` found in one batch.

    Attributes:
        events: qualifying evaluations and the closing ones (:data:`EVENT_SCHEMA`), for :func:`runs`.
        starts: per evaluation, whether an opportunity starts there (no open one on its route): the signal rows.
        open_after: route -> receive time of its last qualifying evaluation, for routes still open (state).
        evaluated_after: route -> evaluations of it so far, when the caller counts them (state), else None.
    """

    events: pl.DataFrame
    starts: pl.Series
    open_after: dict[str, datetime]
    evaluated_after: dict[str, int] | None = None


def edge_events(
    evaluated: pl.DataFrame,
    strategy: str,
    open_before: Mapping[str, datetime],
    gap_timeout: timedelta,
    evaluated_before: Mapping[str, int] | None = None,
) -> EdgeOut:
    """Qualifying evaluations, the evaluations that close an opportunity, and where new opportunities start.

    An evaluation *qualifies* (``is_signal``: clears every gate) or *closes* (``is_closing``: the edge is gone;
    default: does not qualify). Others are neutral: a leg too old or a book too thin for a moment says nothing about
    the edge, so they neither extend nor end an opportunity (the gap timeout still does).

    Args:
        evaluated: one batch's evaluations in processing order with ``route, event_id, ts_event, net_edge_bps,
            size_quote, is_signal`` and optionally ``is_closing``.
        strategy: names the events.
        open_before: state from the previous batch (:attr:`EdgeOut.open_after`).
        gap_timeout: a route silent (no qualifying evaluation) for longer is no longer open.
        evaluated_before: per route, its evaluations in earlier batches (:attr:`EdgeOut.evaluated_after`): given, the
            events carry ``eval_no`` (the route's evaluation count at the event) so episodes can say how many
            evaluations they spanned, neutral ones included.
    """
    is_signal = evaluated["is_signal"].fill_null(False).to_numpy()
    closing = evaluated["is_closing"].fill_null(False).to_numpy() if "is_closing" in evaluated.columns else ~is_signal
    ts_us = evaluated["ts_event"].dt.epoch("us").to_numpy()
    marks = edge_marks(
        route_groups(evaluated["route"]), ts_us, is_signal, closing, open_before, gap_timeout, evaluated_before
    )
    numbered = [] if marks.eval_no is None else [pl.Series("eval_no", marks.eval_no)]
    events = event_frame(evaluated.with_columns(*numbered).filter(pl.Series(marks.events)), strategy)
    return EdgeOut(events, pl.Series("starts", marks.starts), marks.open_after, marks.evaluated_after)


@dataclass(frozen=True)
class EdgeMarks:
    """:func:`edge_marks` per evaluation: ``events`` (qualifying, or closing an open opportunity), ``starts`` (an
    opportunity starts), ``eval_no`` (the route's evaluation count, when counted); and the state after the batch."""

    events: np.ndarray
    starts: np.ndarray
    eval_no: np.ndarray | None
    open_after: dict[str, datetime]
    evaluated_after: dict[str, int] | None


def edge_marks(
    groups: list[tuple[str, np.ndarray]],
    ts_us: np.ndarray,
    is_signal: np.ndarray,
    closing: np.ndarray,
    open_before: Mapping[str, datetime],
    gap_timeout: timedelta,
    evaluated_before: Mapping[str, int] | None = None,
) -> EdgeMarks:
    """The state machine of :func:`edge_events` on arrays, one route at a time (``groups``: each route's rows in
    processing order, :func:`route_groups`); callers with lean evaluations build strings for the marked rows only."""
    closing = closing & ~is_signal
    gap_us = int(gap_timeout / timedelta(microseconds=1))
    is_open = np.zeros(ts_us.size, dtype=bool)
    eval_no = None if evaluated_before is None else np.zeros(ts_us.size, dtype=np.int64)
    open_after, counts = dict(open_before), None if evaluated_before is None else dict(evaluated_before)
    for route, rows in groups:
        seed = open_before.get(route)
        marked = rows[is_signal[rows] | closing[rows]]  # the route's qualifying and closing rows, in order
        # the mark before each row: the latest marked row before it, else the state from earlier batches
        before = np.searchsorted(marked, rows) - 1
        last_ts, last_closed = np.full(rows.size, -1, dtype=np.int64), np.ones(rows.size, dtype=bool)
        if marked.size:
            prev, known = marked.take(before.clip(0)), before >= 0
            last_ts[known], last_closed[known] = ts_us.take(prev[known]), closing.take(prev[known])
        if seed is not None:
            seeded = before < 0
            last_ts[seeded] = (seed - EPOCH) // timedelta(microseconds=1)
            last_closed[seeded] = False
        is_open[rows] = ~last_closed & (ts_us.take(rows) - last_ts <= gap_us)
        if marked.size:
            final = marked[-1]
            if closing[final]:
                open_after.pop(route, None)
            else:
                open_after[route] = EPOCH + timedelta(microseconds=int(ts_us[final]))
        if counts is not None and eval_no is not None:
            eval_no[rows] = np.arange(1, rows.size + 1) + counts.get(route, 0)
            counts[route] = int(eval_no[rows[-1]])
    return EdgeMarks(is_signal | (closing & is_open), is_signal & ~is_open, eval_no, open_after, counts)


def event_frame(marked: pl.DataFrame, strategy: str) -> pl.DataFrame:
    """Edge events (:data:`EVENT_SCHEMA`, plus ``eval_no`` when counted) from the marked evaluations, with ``route,
    event_id, ts_event, net_edge_bps, size_quote, is_signal``."""
    return marked.select(
        pl.lit(strategy).alias("strategy"),
        "route",
        "event_id",
        pl.col("ts_event").cast(EVENT_SCHEMA["ts_event"]),
        pl.col("net_edge_bps").cast(pl.Float64),
        pl.col("size_quote").cast(pl.Float64),
        pl.col("is_signal").alias("qualifying"),
        *(["eval_no"] if "eval_no" in marked.columns else []),
    )


def route_groups(route: pl.Series) -> list[tuple[str, np.ndarray]]:
    """Each route (first appearance first) with its rows, ascending: per-route state machines then run as a few
    NumPy operations per route instead of polars window expressions over every row."""
    if not len(route):
        return []
    groups = (
        pl.DataFrame({"route": route}).with_row_index("_row").group_by("route", maintain_order=True).agg(pl.col("_row"))
    )
    return [(name, rows.to_numpy()) for name, rows in zip(groups["route"].to_list(), groups["_row"], strict=True)]


def code_groups(codes: np.ndarray, names: Sequence[str] | pl.Series) -> list[tuple[str, np.ndarray]]:
    """:func:`route_groups` for rows that carry an index into ``names`` instead of a string (lean evaluations)."""
    if not codes.size:
        return []
    order = np.argsort(codes, kind="stable")
    present, first = np.unique(codes.take(order), return_index=True)
    return [(names[c], rows) for c, rows in zip(present.tolist(), np.split(order, first[1:]), strict=True)]
