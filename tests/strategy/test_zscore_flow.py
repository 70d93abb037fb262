"""Sliding-window z-score of cross-exchange spreads through a real Bytewax run (SlidingWindower, EventClock)."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from arbflow.settings import load_settings
from connectors.lake import table_schemas, to_arrow
from flows.cross.zscores import zscore_tables

T0 = datetime(2024, 8, 9, 0, 0, 0, tzinfo=UTC)  # a multiple of the 5 s slide since the epoch


def spreads(seconds: list[float], edges: list[float], fresh: list[bool] | None = None) -> pl.DataFrame:
    n = len(seconds)
    return pl.DataFrame(
        {
            "symbol": ["BTC/USDT"] * n,
            "buy_exchange": ["binance"] * n,
            "sell_exchange": ["okx"] * n,
            "ts_eval": [T0 + timedelta(seconds=s) for s in seconds],
            "net_edge_bps": edges,
            "fresh": fresh or [True] * n,
        }
    )


def run(batches: list[pl.DataFrame]) -> pl.DataFrame:
    settings = load_settings(
        environ={"ARBFLOW__EPISODES__ZSCORE_WINDOW_S": "10", "ARBFLOW__EPISODES__ZSCORE_SLIDE_S": "5"}
    )
    out: list = []
    flow = Dataflow("zscores")
    op.output("out", zscore_tables("z", op.input("spreads", flow, TestingSource(batches)), settings), TestingSink(out))
    run_main(flow)
    assert {name for name, _ in out} == {"spread_zscores"}
    frame = pl.concat([f for _, f in out])
    assert to_arrow(frame, table_schemas()["spread_zscores"], "spread_zscores").num_rows == frame.height
    return frame.sort("window_start", "is_late")


SECONDS = [0.5, 2.0, 4.0, 6.0, 7.5, 9.0, 11.0, 13.0]
EDGES = [-12.0, -10.0, -11.0, -4.0, -9.0, -10.0, -13.0, -6.0]


def expected(lo: float, hi: float) -> tuple[int, float, float]:
    vals = [e for s, e in zip(SECONDS, EDGES, strict=True) if lo <= s < hi]
    return len(vals), statistics.fmean(vals), (vals[-1] - statistics.fmean(vals)) / statistics.stdev(vals)


@pytest.mark.parametrize("cut", [1, 4, 7])
def test_windows_match_a_direct_computation_for_any_batching(cut: int) -> None:
    got = run([spreads(SECONDS[:cut], EDGES[:cut]), spreads(SECONDS[cut:], EDGES[cut:])])
    starts = [T0 + timedelta(seconds=s) for s in (-5, 0, 5, 10)]
    assert got["window_start"].to_list() == starts
    for row, lo in zip(got.iter_rows(named=True), (-5, 0, 5, 10), strict=True):
        n, mean, z = expected(lo, lo + 10)
        assert row["zscore_id"] == f"BTC/USDT/binance/okx/{(T0 + timedelta(seconds=lo)).isoformat()}"
        assert (row["evaluations"], row["is_late"]) == (n, False)
        assert row["net_edge_bps_mean"] == pytest.approx(mean)
        assert row["zscore_last"] == pytest.approx(z)
        assert row["window_end"] - row["window_start"] == timedelta(seconds=10)


def test_stale_rows_do_not_count_and_late_partials_are_kept() -> None:
    late = spreads([1.0, 1.5], [50.0, 60.0])  # arrives after the watermark passed 25 s: windows at -5 s, 0 s closed
    got = run([spreads([0.5, 2.0, 3.0, 25.0], [1.0, 2.0, 99.0, 5.0], fresh=[True, True, False, True]), late])
    on_time = got.filter(~pl.col("is_late"))
    first = on_time.row(0, named=True)
    assert (first["evaluations"], first["net_edge_bps_mean"]) == (2, 1.5)  # the stale 99 bps is not counted
    late_rows = got.filter(pl.col("is_late"))
    assert late_rows["window_start"].to_list() == [T0 - timedelta(seconds=5), T0]
    assert late_rows["evaluations"].to_list() == [2, 2]
    assert all(z is None or math.isfinite(z) for z in late_rows["zscore_last"].to_list())
