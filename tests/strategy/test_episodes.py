"""Opportunity episodes (runs, tracking across batches, Bytewax session windows) and the spread z-score."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import bytewax.operators.windowing as win
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from flows.common.edges import EVENT_SCHEMA, edge_events
from flows.common.episodes import Run, advance, episode_row, flush, merge, runs
from flows.cross.moments import Moments, rolling_zscore

T0 = datetime(2024, 8, 8, 23, 55, tzinfo=UTC)
GAP = timedelta(milliseconds=1000)
MIN_DURATION = timedelta(milliseconds=250)


def events(rows: list[tuple[str, int, float, bool]]) -> pl.DataFrame:
    """rows: (route, ms after T0, net edge bps, qualifying); size = 100 x edge so the max is checkable."""
    return pl.DataFrame(
        [
            {
                "strategy": "cross",
                "route": route,
                "event_id": f"q/{i}",
                "ts_event": T0 + timedelta(milliseconds=ms),
                "net_edge_bps": edge,
                "size_quote": 100.0 * edge,
                "qualifying": ok,
            }
            for i, (route, ms, edge, ok) in enumerate(rows)
        ],
        schema=EVENT_SCHEMA,
    )


STREAM = [
    ("A", 0, 35.0, True),
    ("B", 50, 40.0, True),  # B: a one-tick blip, closed by its next evaluation
    ("A", 100, 50.0, True),
    ("B", 60, 10.0, False),
    ("A", 200, 41.0, True),
    ("A", 300, 5.0, False),  # closes A's first episode
    ("A", 1000, 31.0, True),
    ("A", 1500, 33.0, True),
    ("A", 3000, 36.0, True),  # 1.5 s of silence > gap: a new episode
]


def expected_rows() -> list[dict[str, object]]:
    ms = lambda m: T0 + timedelta(milliseconds=m)
    return [
        {"episode_id": "cross/A/q/0", "first_seen": ms(0), "last_seen": ms(200), "ts_closed": ms(300),
         "duration_ms": 200.0, "updates": 3, "net_edge_bps_peak": 50.0, "net_edge_bps_mean": (35 + 50 + 41) / 3,
         "size_max_quote": 5000.0, "is_blip": True},
        {"episode_id": "cross/B/q/1", "first_seen": ms(50), "last_seen": ms(50), "ts_closed": ms(60),
         "duration_ms": 0.0, "updates": 1, "net_edge_bps_peak": 40.0, "net_edge_bps_mean": 40.0,
         "size_max_quote": 4000.0, "is_blip": True},
        {"episode_id": "cross/A/q/6", "first_seen": ms(1000), "last_seen": ms(1500), "ts_closed": None,
         "duration_ms": 500.0, "updates": 2, "net_edge_bps_peak": 33.0, "net_edge_bps_mean": 32.0,
         "size_max_quote": 3300.0, "is_blip": False},
    ]  # fmt: skip


def rows_of(ended: pl.DataFrame) -> list[dict[str, object]]:
    keep = ("episode_id", "first_seen", "last_seen", "ts_closed", "duration_ms", "updates", "net_edge_bps_peak",
            "net_edge_bps_mean", "size_max_quote", "is_blip")  # fmt: skip
    rows = [{k: row[k] for k in keep} for row in ended.iter_rows(named=True)]
    return sorted(rows, key=lambda r: (r["ts_closed"] is None, r["first_seen"]))


def run_tracker(batches: list[pl.DataFrame], watermark: datetime) -> tuple[dict[str, Run], pl.DataFrame]:
    """What the keyed stateful step does: advance per batch (no time-based closing), then a watermark."""
    state: dict[str, Run] = {}
    ended = []
    for batch in batches:
        state, rows = advance(state, batch, None, GAP, MIN_DURATION)
        ended.append(rows)
    state, rows = advance(state, events([]), watermark, GAP, MIN_DURATION)
    return state, pl.concat([*ended, rows], how="diagonal_relaxed")


def test_runs_split_at_closing_evaluations_and_gaps() -> None:
    got = runs(events(STREAM), GAP)
    assert [(r.route, r.first_id, r.updates, r.closed) for r in got] == [
        ("A", "q/0", 3, True),
        ("A", "q/6", 2, False),
        ("A", "q/8", 1, False),
        ("B", "q/1", 1, True),
    ]


def test_episodes_with_stats_blips_and_watermark_close() -> None:
    state, ended = run_tracker([events(STREAM)], watermark=T0 + timedelta(milliseconds=3500))
    assert rows_of(ended) == expected_rows()
    assert list(state) == ["A"] and state["A"].first_id == "q/8"  # within the gap of the watermark: still open
    last = flush(state, MIN_DURATION)  # end of input
    assert last.select("episode_id", "updates", "is_blip").rows() == [("cross/A/q/8", 1, True)]
    assert last["ts_closed"].to_list() == [None]


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_any_batch_split_gives_the_same_episodes(cut: int) -> None:
    frame = events(STREAM)
    _, ended = run_tracker([frame.head(cut), frame.tail(len(STREAM) - cut)], T0 + timedelta(milliseconds=3500))
    assert rows_of(ended) == expected_rows()


def evaluations(rows: list[tuple[str, int, bool, bool]]) -> pl.DataFrame:
    """rows: (route, ms after T0, qualifies, edge gone)."""
    return pl.DataFrame(
        {
            "route": [r[0] for r in rows],
            "event_id": [f"e{i}" for i in range(len(rows))],
            "ts_event": [T0 + timedelta(milliseconds=r[1]) for r in rows],
            "net_edge_bps": [40.0 if r[2] else (-5.0 if r[3] else 35.0) for r in rows],
            "size_quote": [1.0] * len(rows),
            "is_signal": [r[2] for r in rows],
            "is_closing": [r[3] for r in rows],
        }
    )


def test_edge_events_starts_closings_neutral_evaluations_and_state() -> None:
    frame = evaluations(
        [
            ("A", 0, True, False),  # e0 opens A: a start (signal)
            ("A", 10, False, False),  # e1 neutral (a stale leg): not an event, A stays open
            ("A", 20, True, False),  # e2 qualifies again: same opportunity, no new start
            ("B", 30, True, False),  # e3 opens B
            ("A", 40, False, True),  # e4 edge gone: closes A
            ("A", 50, False, True),  # e5 already closed: not an event
            ("A", 2000, True, False),  # e6 opens A again
            ("B", 3500, True, False),  # e7: B silent 3.47 s > 1 s gap: a new opportunity
        ]
    )
    out = edge_events(frame, "cross", {}, GAP)
    assert out.events.select("event_id", "qualifying").rows() == [
        ("e0", True), ("e2", True), ("e3", True), ("e4", False), ("e6", True), ("e7", True)
    ]  # fmt: skip
    assert out.starts.to_list() == [True, False, False, True, False, False, True, True]
    assert out.open_after == {"A": T0 + timedelta(milliseconds=2000), "B": T0 + timedelta(milliseconds=3500)}
    # carried state: B open since 3500 ms, so a qualifying B at 4000 ms starts nothing; A (open since 2000 ms)
    # is closed by its closing evaluation at 2900 ms, within the gap
    nxt = edge_events(evaluations([("B", 4000, True, False), ("A", 2900, False, True)]), "cross", out.open_after, GAP)
    assert nxt.starts.to_list() == [False, False]
    assert nxt.events["event_id"].to_list() == ["e0", "e1"]
    assert nxt.open_after == {"B": T0 + timedelta(milliseconds=4000)}


def test_edge_events_without_closing_column_close_on_any_non_qualifying_evaluation() -> None:
    frame = evaluations([("A", 0, True, False), ("A", 10, False, False)]).drop("is_closing")
    out = edge_events(frame, "cross", {}, GAP)
    assert out.events["qualifying"].to_list() == [True, False] and out.open_after == {}


def test_bytewax_session_windows_build_the_same_episodes() -> None:
    """Runs through bytewax's SessionWindower (EventClock on ts_first) merge into the gap-separated episodes."""
    qualifying = [r for r in STREAM if r[3]]  # session windows know only gaps, not closing evaluations
    items = [(r.key(), r) for r in runs(events(qualifying), GAP)]
    out: list = []
    flow = Dataflow("episodes")
    stream = op.input("runs", flow, TestingSource(items))
    frozen = datetime(1970, 1, 1, tzinfo=UTC)
    clock = win.EventClock(lambda r: r.ts_first, wait_for_system_duration=timedelta(0), now_getter=lambda: frozen)
    sessions = win.fold_window(
        "episodes",
        stream,
        clock,
        win.SessionWindower(gap=GAP),
        builder=lambda: None,
        folder=merge,
        merger=lambda a, b: b if a is None else merge(a, b) if b is not None else a,
    )
    op.output("out", op.map("rows", sessions.down, lambda kv: episode_row(kv[1][1], MIN_DURATION)), TestingSink(out))
    run_main(flow)
    got = sorted((r["episode_id"], r["updates"], r["duration_ms"], r["is_blip"]) for r in out)
    # without closing events A's first two runs (0-200 ms, 1000-1500 ms) are 800 ms apart: one session
    assert got == [
        ("cross/A/q/0", 5, 1500.0, False),
        ("cross/A/q/6", 1, 0.0, True),  # the 3000 ms tick, 1.5 s after 1500 ms
        ("cross/B/q/1", 1, 0.0, True),
    ]


def test_moments_merge_and_zscore_match_statistics() -> None:
    values = [12.0, 15.0, 9.0, 20.0, 11.0, 14.0]
    m = Moments.of(values[:2]).merge(Moments.of(values[2:]))
    assert m.n == 6
    assert m.mean == pytest.approx(statistics.fmean(values))
    assert m.std == pytest.approx(statistics.stdev(values))
    assert m.zscore(25.0) == pytest.approx((25.0 - statistics.fmean(values)) / statistics.stdev(values))
    assert math.isnan(Moments.of([3.0]).std) and math.isnan(Moments.of([2.0, 2.0]).zscore(2.0))


def test_rolling_zscore_per_route_over_a_trailing_time_window() -> None:
    frame = pl.DataFrame(
        {
            "route": ["A", "B", "A", "A", "B", "A"],
            "ts": [T0 + timedelta(seconds=s) for s in (0, 0, 1, 2, 3, 12)],
            "net_edge_bps": [10.0, 100.0, 20.0, 60.0, 100.0, 30.0],
        }
    )
    z = rolling_zscore(frame, "net_edge_bps", ["route"], "ts", timedelta(seconds=10)).to_list()
    window = [10.0, 20.0, 60.0]
    assert z[3] == pytest.approx((60.0 - statistics.fmean(window)) / statistics.stdev(window))
    assert math.isnan(z[0]) and math.isnan(z[4])  # one value; B flat
    assert z[5] == pytest.approx((30.0 - 45.0) / statistics.stdev([60.0, 30.0]))  # 2 s..12 s: 10 and 20 left
