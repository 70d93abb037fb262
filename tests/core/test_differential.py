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
GAP_MS = 1000.0  # [episodes] gap_timeout_ms


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
    """Every (instant, ordered venue pair) evaluation, by as-of joins on the processing position.

    An instant is a run of consecutive rows of one symbol with the same event time; it is applied whole (its rows
    taken by exchange name), then each route it touches is evaluated once, named by the instant's last update of
    the route's venues, at the instant's latest receive time."""
    q = (
        clean.with_columns(pl.col("quote_id").str.split("/").list.last().cast(pl.Int64).alias("pos"))
        .sort("pos")
        .with_columns(
            (pl.col("ts_event") != pl.col("ts_event").shift(1)).fill_null(True).cum_sum().over("symbol").alias("inst")
        )
        .with_columns(pl.col("ts_recv").max().over("symbol", "inst").alias("t_inst"))
        .sort("symbol", "inst", "exchange", "pos", maintain_order=True)
        .with_columns(pl.int_range(pl.len()).alias("k"))
    )
    out = []
    for symbol in ("BTC/USDT", "ETH/USDT"):
        s = q.filter(pl.col("symbol") == symbol)
        for buy, sell in permutations(sorted(FEES_BPS), 2):
            updates = (
                s.filter(pl.col("exchange").is_in([buy, sell]))
                .group_by("inst", maintain_order=True)
                .last()
                .select("k", "pos", pl.col("t_inst").alias("ts_recv"), "quote_id")
            )
            a = s.filter(pl.col("exchange") == buy).select(
                "k",
                "ask_px",
                "ask_qty",
                pl.col("ts_recv").alias("recv_a"),
                pl.col("ts_event").alias("event_a"),
                pl.col("quote_id").alias("buy_quote_id"),
            )
            b = s.filter(pl.col("exchange") == sell).select(
                "k",
                "bid_px",
                "bid_qty",
                pl.col("ts_recv").alias("recv_b"),
                pl.col("ts_event").alias("event_b"),
                pl.col("quote_id").alias("sell_quote_id"),
            )
            j = updates.join_asof(a, on="k").join_asof(b, on="k").drop_nulls(["ask_px", "bid_px"])
            fa, fb = FEES_BPS[buy] / 1e4, FEES_BPS[sell] / 1e4
            qty = pl.min_horizontal("ask_qty", "bid_qty", MAX_USDT / pl.col("ask_px"))
            age = pl.max_horizontal(pl.col("ts_recv") - pl.col("recv_a"), pl.col("ts_recv") - pl.col("recv_b"))
            out.append(
                j.select(
                    (pl.col("quote_id") + f"/{buy}/{sell}").alias("spread_id"),
                    pl.lit(buy).alias("buy_exchange"),
                    pl.lit(sell).alias("sell_exchange"),
                    "k",
                    "ts_recv",
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
    cols = [c for c in ref.columns if c not in ("k", "ts_recv")]
    assert_frame_equal(got.select(cols).sort("spread_id"), ref.select(cols).sort("spread_id"), rtol=1e-12, atol=1e-9)


def reference_signals(ref: pl.DataFrame, gap_ms: float) -> pl.DataFrame:
    """One signal per opportunity: a qualifying evaluation of a route that is not open. A route is open after a
    qualifying evaluation until a fresh evaluation below the threshold, or until no evaluation qualified for longer
    than ``gap_ms`` (receive clock); stale evaluations neither extend nor end it."""
    starts = []
    for (symbol, buy, sell), rows in ref.sort("k").group_by("symbol", "buy_exchange", "sell_exchange"):
        last_qualifying = None
        for spread_id, ts, is_signal, fresh, net in rows.select(
            "spread_id", "ts_recv", "is_signal", "fresh", "net_edge_bps"
        ).iter_rows():
            if is_signal:
                gone = last_qualifying is None or (ts - last_qualifying).total_seconds() * 1000 > gap_ms
                if gone:
                    starts.append(spread_id)
                last_qualifying = ts
            elif fresh and net < MIN_NET_BPS:
                last_qualifying = None
    return ref.filter(pl.col("spread_id").is_in(starts))


def test_signals_are_the_opportunity_starts_of_the_reference(run_dir: Path) -> None:
    clean = table(run_dir, "quotes_clean")
    ref = reference_spreads(clean).join(
        clean.select(pl.col("quote_id").alias("buy_quote_id"), "symbol"), on="buy_quote_id"
    )
    edges = reference_signals(ref, GAP_MS)
    got = table(run_dir, "signals")
    assert got.height == edges.height > 0
    assert sorted(got["signal_id"]) == sorted("cross/" + edges["spread_id"])
    joined = got.join(edges, left_on=pl.col("signal_id").str.strip_prefix("cross/"), right_on="spread_id")
    assert (joined["net_edge_bps"] - joined["net_edge_bps_right"]).abs().max() < 1e-9
    assert (joined["qty"] - joined["qty_right"]).abs().max() < 1e-12
    assert table(run_dir, "opportunities").filter(pl.col("strategy") == "cross").height == got.height


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
