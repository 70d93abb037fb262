"""Opportunity episodes: sessions of a route's qualifying evaluations (the z-score is flows/cross/moments.py).

A route (``cross`` ``BTC/USDT/binance/okx``, ``triangular`` ``binance:USDT>BTC>ETH>USDT``) *qualifies* when its
evaluation clears every gate (the same test that makes signals). An **episode** is a run of qualifying evaluations of
one route: it starts at the first, and ends at the first evaluation of that route showing the edge gone (a *closing*
event: net edge below the threshold) or when no evaluation qualifies for longer than ``gap_timeout`` (the session
gap). Evaluations failing only on freshness or size are neutral: they neither extend nor end it. Episodes shorter than
``min_duration`` are flagged as blips: a one-tick edge is reported, but as what it is.

The hot path never sends one object per tick to the windowing operator: ``edge_events`` (flows/common/edges.py) keeps
only qualifying and closing evaluations, and :func:`runs` reduces a batch of them to one mergeable :class:`Run` per (route, session
piece). Runs can then go either through Bytewax's ``SessionWindower`` (``fold_window`` with :func:`merge`, timestamp
``Run.ts_first``, gap = ``gap_timeout``) or through a keyed ``stateful_map`` with :func:`track`, which also honours
closing events and closes on a watermark. All functions are pure; times are the receive clock of the evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl


@dataclass(frozen=True)
class Run:
    """A piece of an episode: consecutive qualifying evaluations of one route (mergeable).

    Attributes:
        first_id: event id of the first qualifying evaluation: with the route it names the episode.
        closed: the run ended with a closing (non-qualifying) evaluation at ``ts_closed``.
        first_no, last_no: the route's evaluation count at the first and last qualifying evaluation (None: the
            caller does not count evaluations).
    """

    strategy: str
    route: str
    first_id: str
    ts_first: datetime
    ts_last: datetime
    updates: int
    net_peak_bps: float
    net_sum_bps: float
    size_max_quote: float
    closed: bool = False
    ts_closed: datetime | None = None
    first_no: int | None = None
    last_no: int | None = None

    def key(self) -> str:
        return f"{self.strategy}/{self.route}"


def runs(events: pl.DataFrame, gap_timeout: timedelta) -> list[Run]:
    """Reduce a batch of edge events to runs: split per route at closing events and at gaps over ``gap_timeout``.

    Returns runs sorted by strategy and route, each route's in processing order.
    """
    if events.height == 0:
        return []
    gap_us = int(gap_timeout / timedelta(microseconds=1))
    ordered = events.with_row_index("_order")
    prev_ts = pl.col("ts_event").shift(1).over("route", order_by="_order")
    prev_q = pl.col("qualifying").shift(1).over("route", order_by="_order")
    starts = prev_q.is_null() | ~prev_q | ((pl.col("ts_event") - prev_ts).dt.total_microseconds() > gap_us)
    pieces = ordered.with_columns(starts.cum_sum().over("route", order_by="_order").alias("_run"))
    q = pl.col("qualifying")
    eval_no = pl.col("eval_no") if "eval_no" in events.columns else pl.lit(None, pl.Int64)
    agg = (
        pieces.group_by("strategy", "route", "_run", maintain_order=True)
        .agg(
            # a batch can start with the event closing an earlier batch's run: it becomes a run of 0 updates
            pl.coalesce(pl.col("event_id").filter(q).first(), pl.col("event_id").first()).alias("first_id"),
            pl.coalesce(pl.col("ts_event").filter(q).first(), pl.col("ts_event").first()).alias("ts_first"),
            pl.coalesce(pl.col("ts_event").filter(q).last(), pl.col("ts_event").first()).alias("ts_last"),
            q.sum().cast(pl.Int64).alias("updates"),
            pl.col("net_edge_bps").filter(q).max().fill_null(-math.inf).alias("net_peak_bps"),
            pl.col("net_edge_bps").filter(q).sum().alias("net_sum_bps"),
            pl.col("size_quote").filter(q).max().fill_null(0.0).alias("size_max_quote"),
            (~q.last()).alias("closed"),
            pl.when(~q.last()).then(pl.col("ts_event").last()).alias("ts_closed"),
            eval_no.filter(q).first().alias("first_no"),
            eval_no.filter(q).last().alias("last_no"),
        )
        .sort("strategy", "route", "_run")
        .drop("_run")
    )
    return [Run(**{k: as_utc(v) for k, v in row.items()}) for row in agg.iter_rows(named=True)]


def as_utc(value: Any) -> Any:
    """Polars hands out ``zoneinfo`` UTC datetimes; Bytewax's clocks insist on ``datetime.timezone.utc``."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def merge(a: Run | None, b: Run) -> Run:
    """Join two runs of one session (``fold_window`` folder and merger); order-insensitive in value.

    A closer (a run of 0 updates: only the closing evaluation) closes the other run if it comes after its start.
    """
    if a is None:
        return b
    if a.updates == 0 or b.updates == 0:
        closer, run = (a, b) if a.updates == 0 else (b, a)
        if run.updates == 0 or closer.ts_first < run.ts_first:
            return run
        return replace(run, closed=True, ts_closed=closer.ts_closed)
    first, last = (a, b) if (a.ts_first, a.first_id) <= (b.ts_first, b.first_id) else (b, a)
    return replace(
        first,
        ts_last=max(a.ts_last, b.ts_last),
        updates=a.updates + b.updates,
        net_peak_bps=max(a.net_peak_bps, b.net_peak_bps),
        net_sum_bps=a.net_sum_bps + b.net_sum_bps,
        size_max_quote=max(a.size_max_quote, b.size_max_quote),
        closed=last.closed,
        ts_closed=last.ts_closed,
        last_no=None if a.last_no is None or b.last_no is None else max(a.last_no, b.last_no),
    )


def track(
    open_run: Run | None, batch_runs: Iterable[Run], watermark: datetime | None, gap_timeout: timedelta
) -> tuple[Run | None, list[Run]]:
    """Stateful episode tracking for one route (a ``stateful_map`` step).

    Args:
        open_run: the route's episode still open after earlier batches.
        batch_runs: this batch's runs of the route, in time order (:func:`runs`).
        watermark: event time up to which every evaluation has been seen (e.g. the batch's latest ``ts_eval``);
            an open episode silent since before ``watermark - gap_timeout`` is closed. None = do not close on time.
        gap_timeout: the session gap.

    Returns:
        ``(open_run, finished)``: the episode still open, and the episodes that ended, oldest first.
    """
    finished: list[Run] = []
    for run in batch_runs:
        if run.updates == 0:  # the evaluation that closes the open episode
            if open_run is not None:
                finished.append(merge(open_run, run))
            open_run = None
            continue
        if open_run is not None and run.ts_first - open_run.ts_last <= gap_timeout:
            open_run = merge(open_run, run)
        else:
            if open_run is not None:
                finished.append(open_run)
            open_run = run
        if open_run.closed:
            finished.append(open_run)
            open_run = None
    if open_run is not None and watermark is not None and watermark - open_run.ts_last > gap_timeout:
        finished.append(open_run)
        open_run = None
    return open_run, finished


def advance(
    open_runs: Mapping[str, Run],
    events: pl.DataFrame,
    watermark: datetime | None,
    gap_timeout: timedelta,
    min_duration: timedelta,
) -> tuple[dict[str, Run], pl.DataFrame]:
    """One batch of edge events for many routes: :func:`runs` then :func:`track` per route.

    Args:
        open_runs: episodes still open, by route (state from the previous batch).
        events: this batch's edge events (:func:`edge_events`).
        watermark: the batch's latest receive time: open episodes silent for longer than the gap end.
        gap_timeout: the session gap.
        min_duration: shorter episodes are blips.

    Returns:
        ``(open_runs, rows)``: the episodes still open, and ``opportunities`` rows of those that ended.
    """
    by_route: dict[str, list[Run]] = {}
    for r in runs(events, gap_timeout):
        by_route.setdefault(r.route, []).append(r)
    still_open: dict[str, Run] = {}
    finished: list[Run] = []
    for route in sorted(set(open_runs) | set(by_route)):
        run, done = track(open_runs.get(route), by_route.get(route, []), watermark, gap_timeout)
        finished += done
        if run is not None:
            still_open[route] = run
    return still_open, episode_frame(finished, min_duration)


def flush(open_runs: Mapping[str, Run], min_duration: timedelta) -> pl.DataFrame:
    """End of input: every open episode ends here (``ts_closed`` null); its ``opportunities`` rows."""
    return episode_frame([open_runs[route] for route in sorted(open_runs)], min_duration)


def episode_frame(finished: Iterable[Run], min_duration: timedelta) -> pl.DataFrame:
    """``opportunities`` rows (empty frame when nothing ended)."""
    rows = [episode_row(r, min_duration) for r in finished]
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def episode_row(run: Run, min_duration: timedelta, late: bool = False) -> dict[str, object]:
    """One ``opportunities`` row (strategy.sql); ``late``: a run that reached a closed session window."""
    duration = run.ts_last - run.ts_first
    return {
        "episode_id": f"{run.key()}/{run.first_id}" + ("/late" if late else ""),
        "strategy": run.strategy,
        "route": run.route,
        "first_seen": run.ts_first,
        "last_seen": run.ts_last,
        "ts_closed": run.ts_closed,
        "duration_ms": duration / timedelta(milliseconds=1),
        "updates": run.updates,
        "evaluations": None if run.first_no is None or run.last_no is None else run.last_no - run.first_no + 1,
        "net_edge_bps_peak": run.net_peak_bps,
        "net_edge_bps_mean": run.net_sum_bps / run.updates,
        "size_max_quote": run.size_max_quote,
        "is_blip": duration < min_duration,
        "is_late": late,
    }
