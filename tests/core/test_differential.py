"""Differential test: the flow's spreads, signals and window statistics equal an independent vectorized computation
(polars ``join_asof`` over the clean quotes), written here from the formulas, on the same input."""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.core.conftest import run_flow, settings_for, table

FEES_BPS = {"binance": 10.0, "okx": 10.0, "htx": 20.0}
MIN_NET_BPS, MAX_AGE_MS, MAX_SKEW_MS, MAX_USDT = 30.0, 1000.0, 500.0, 50_000.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("diff")
    settings = settings_for(
        data_dir,
        source={"kind": "simulator", "batch_rows": 1500},
        simulator={"duration_s": 300.0, "rate_hz": 8.0, "seed": 11},
        sinks={"write_spreads": True},
    )
    run_flow(settings)
    return data_dir


def reference_spreads(clean: pl.DataFrame) -> pl.DataFrame:
    """Every (update, ordered venue pair) evaluation, by as-of joins on the processing position."""
    q = clean.with_columns(pl.col("quote_id").str.split("/").list.last().cast(pl.Int64).alias("pos")).sort("pos")
    out = []
    for symbol in ("BTC/USDT", "ETH/USDT"):
        s = q.filter(pl.col("symbol") == symbol)
        for buy, sell in permutations(sorted(FEES_BPS), 2):
            updates = s.filter(pl.col("exchange").is_in([buy, sell])).select("pos", "ts_recv", "quote_id")
            a = s.filter(pl.col("exchange") == buy).select(
                "pos",
                "ask_px",
                "ask_qty",
                pl.col("ts_recv").alias("recv_a"),
                pl.col("ts_event").alias("event_a"),
                pl.col("quote_id").alias("buy_quote_id"),
            )
            b = s.filter(pl.col("exchange") == sell).select(
                "pos",
                "bid_px",
                "bid_qty",
                pl.col("ts_recv").alias("recv_b"),
                pl.col("ts_event").alias("event_b"),
                pl.col("quote_id").alias("sell_quote_id"),
            )
            j = updates.join_asof(a, on="pos").join_asof(b, on="pos").drop_nulls(["ask_px", "bid_px"])
            fa, fb = FEES_BPS[buy] / 1e4, FEES_BPS[sell] / 1e4
            qty = pl.min_horizontal("ask_qty", "bid_qty", MAX_USDT / pl.col("ask_px"))
            age = pl.max_horizontal(pl.col("ts_recv") - pl.col("recv_a"), pl.col("ts_recv") - pl.col("recv_b"))
            out.append(
                j.select(
                    (pl.col("quote_id") + f"/{buy}/{sell}").alias("spread_id"),
                    pl.lit(buy).alias("buy_exchange"),
                    pl.lit(sell).alias("sell_exchange"),
                    "pos",
                    pl.col("ask_px").alias("buy_px"),
                    pl.col("bid_px").alias("sell_px"),
                    qty.alias("qty"),
                    ((pl.col("bid_px") / pl.col("ask_px") - 1) * 1e4).alias("gross_edge_bps"),
                    ((pl.col("bid_px") * (1 - fb) / (pl.col("ask_px") * (1 + fa)) - 1) * 1e4).alias("net_edge_bps"),
                    (qty * (pl.col("bid_px") * (1 - fb) - pl.col("ask_px") * (1 + fa))).alias("expected_profit_quote"),
                    (age.dt.total_microseconds() / 1000).alias("age_ms"),
                    ((pl.col("event_a") - pl.col("event_b")).dt.total_microseconds().abs() / 1000).alias("skew_ms"),
                    "buy_quote_id",
                    "sell_quote_id",
                )
            )
    ref = pl.concat(out).with_columns(
        ((pl.col("age_ms") <= MAX_AGE_MS) & (pl.col("skew_ms") <= MAX_SKEW_MS)).alias("fresh")
    )
    return ref.with_columns(
        (pl.col("fresh") & (pl.col("qty") > 0) & (pl.col("net_edge_bps") >= MIN_NET_BPS)).alias("is_signal")
    )


def test_spreads_equal_reference(run_dir: Path) -> None:
    ref = reference_spreads(table(run_dir, "quotes_clean"))
    got = table(run_dir, "spreads")
    assert got.height == ref.height > 10_000
    cols = [c for c in ref.columns if c != "pos"]
    assert_frame_equal(got.select(cols).sort("spread_id"), ref.select(cols).sort("spread_id"), rtol=1e-12, atol=1e-9)


def test_signals_are_the_rising_edges_of_the_reference(run_dir: Path) -> None:
    clean = table(run_dir, "quotes_clean")
    ref = reference_spreads(clean).join(
        clean.select(pl.col("quote_id").alias("buy_quote_id"), "symbol"), on="buy_quote_id"
    )
    previous = pl.col("is_signal").shift(1).over("symbol", "buy_exchange", "sell_exchange", order_by="pos")
    edges = ref.filter(pl.col("is_signal") & ~previous.fill_null(False))
    got = table(run_dir, "signals")
    assert got.height == edges.height > 0
    assert sorted(got["signal_id"]) == sorted("cross/" + edges["spread_id"])
    joined = got.join(edges, left_on=pl.col("signal_id").str.strip_prefix("cross/"), right_on="spread_id")
    assert (joined["net_edge_bps"] - joined["net_edge_bps_right"]).abs().max() < 1e-9
    assert (joined["qty"] - joined["qty_right"]).abs().max() < 1e-12


def test_window_stats_equal_reference(run_dir: Path) -> None:
    spreads = table(run_dir, "spreads").filter("fresh")
    signals = table(run_dir, "signals").select(pl.col("signal_id").str.strip_prefix("cross/").alias("spread_id"))
    ref = (
        spreads.with_columns(
            pl.col("ts_eval").dt.truncate("60s").alias("window_start"),
            pl.col("spread_id").is_in(signals["spread_id"]).cast(pl.Int64).alias("sig"),
        )
        .group_by("symbol", "buy_exchange", "sell_exchange", "window_start")
        .agg(
            pl.len().cast(pl.Int64).alias("evaluations"),
            pl.col("sig").sum().alias("signals"),
            pl.col("net_edge_bps").min().alias("net_edge_bps_min"),
            pl.col("net_edge_bps").max().alias("net_edge_bps_max"),
            pl.col("net_edge_bps").mean().alias("net_edge_bps_mean"),
            pl.col("gross_edge_bps").mean().alias("gross_edge_bps_mean"),
        )
    )
    got = table(run_dir, "spread_stats")
    assert not got["is_late"].any()
    keys = ["symbol", "buy_exchange", "sell_exchange", "window_start"]
    assert_frame_equal(got.select(ref.columns).sort(keys), ref.sort(keys), check_dtypes=False, rtol=1e-9, atol=1e-9)
