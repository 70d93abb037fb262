"""Bytewax wiring of the sliding-window z-score of each cross-exchange spread (``spread_zscores``).

``flows/arbitrage.py`` calls :func:`zscore_tables` with a stream of evaluated spread frames (one symbol's batch:
``symbol, buy_exchange, sell_exchange, ts_eval, net_edge_bps, fresh``) and merges the returned items into its table
stream. Each batch is first reduced to one :class:`flows.cross.moments.Moments` per (route, slide slot), so the windowing
operator merges a handful of partials, never ticks. Windows slide by ``[episodes] zscore_slide_s`` over
``zscore_window_s`` on the receive clock (EventClock on the partial's first evaluation, aligned to the Unix epoch);
partials reaching a closed window come out as rows with ``is_late = true``: counted and kept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import bytewax.operators.windowing as win
import polars as pl
from bytewax.dataflow import Stream

from arbflow.settings import Settings
from flows.cross.moments import Moments, moment_partials, zscore_row
from flows.cross.windows import no_system_wakeup

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Item = tuple[str, pl.DataFrame]


def _merge(a: Moments, b: Moments) -> Moments:
    return a.merge(b)


def _event_time(m: Moments) -> datetime:
    """A partial's EventClock time: its first evaluation (every partial from moment_partials has one)."""
    if m.ts_first is None:
        msg = "z-score partial without a first evaluation time: build partials with moment_partials"
        raise ValueError(msg)
    return m.ts_first


def zscore_tables(step_id: str, spreads: Stream[pl.DataFrame], settings: Settings) -> Stream[Item]:
    """``spread_zscores`` rows, one per (route, sliding window), as ``(table_name, frame)`` items.

    Args:
        step_id: prefix of the steps added to the flow.
        spreads: evaluated cross-exchange spread frames (fresh rows count), any batching.
        settings: [episodes] zscore_window_s and zscore_slide_s.
    """
    window = timedelta(seconds=settings.episodes.zscore_window_s)
    slide = timedelta(seconds=settings.episodes.zscore_slide_s)
    partials = op.flat_map(f"{step_id}_partials", spreads, lambda frame: moment_partials(frame, slide))
    frozen = EPOCH  # replay: a frozen system clock makes the watermark pure event time (deterministic closing)
    clock: win.EventClock[Moments] = win.EventClock(
        _event_time, wait_for_system_duration=timedelta(0), now_getter=lambda: frozen, to_system_utc=no_system_wakeup
    )
    out = win.fold_window(
        f"{step_id}_windows",
        partials,
        clock,
        win.SlidingWindower(length=window, offset=slide, align_to=EPOCH),
        builder=Moments,
        folder=_merge,
        merger=_merge,
    )

    def rows(late: bool):
        def to_item(item: tuple[str, tuple[int, Moments]]) -> Item:
            key, (window_id, moments) = item
            return "spread_zscores", pl.DataFrame([zscore_row(key, EPOCH + slide * window_id, window, moments, late)])

        return to_item

    return op.merge(
        f"{step_id}_items",
        op.map(f"{step_id}_rows", out.down, rows(late=False)),
        op.map(f"{step_id}_late_rows", out.late, rows(late=True)),
    )
