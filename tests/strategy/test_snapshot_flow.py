"""Issue 11 acceptance through the real flow: the planted 1 s snapshot market of test_snapshot_instants written as
three tardis.dev ``quotes`` CSV files (binance, okex, huobi), replayed by ``build_flow`` + ``run_main`` in batches
that cut instants, read back through the DuckDB views: signals and opportunities agree one to one, and the file
order does not change them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.core.conftest import run_flow, settings_for, table
from tests.strategy.test_snapshot_instants import RECV_MS, snapshot_market

TARDIS_IDS = {"binance": ("binance", "BTCUSDT"), "okx": ("okex", "BTC-USDT"), "htx": ("huobi", "BTCUSDT")}


def write_tardis(market: pl.DataFrame, out: Path) -> list[Path]:
    """One tardis ``quotes`` file per venue (µs since epoch: ``timestamp`` venue clock, ``local_timestamp`` ours)."""
    files = []
    for venue, (tardis_id, symbol) in TARDIS_IDS.items():
        path = out / f"{tardis_id}_quotes.csv"
        market.filter(pl.col("exchange") == venue).select(
            pl.lit(tardis_id).alias("exchange"),
            pl.lit(symbol).alias("symbol"),  # venue-native, as tardis writes it
            pl.col("ts_exchange").dt.epoch("us").alias("timestamp"),
            pl.col("ts_recv").dt.epoch("us").alias("local_timestamp"),
            pl.col("ask_qty").alias("ask_amount"),
            pl.col("ask_px").alias("ask_price"),
            pl.col("bid_px").alias("bid_price"),
            pl.col("bid_qty").alias("bid_amount"),
        ).write_csv(path)
        files.append(path)
    return files


def replay(tmp: Path, files: list[Path]) -> dict[str, pl.DataFrame]:
    settings = settings_for(
        tmp / "lake",
        source={"kind": "replay", "paths": [str(f) for f in files], "batch_rows": 7},
        venues={v: {"taker_fee_bps": 0.0} for v in RECV_MS},
        cross={"symbols": ["BTC/USDT"], "min_net_edge_bps": 1.0, "max_quote_age_ms": 500.0, "max_skew_ms": 500.0},
        episodes={"gap_timeout_ms": 2500.0, "min_duration_ms": 0.0},
        risk={"enabled": False},
    )
    run_flow(settings)
    return {name: table(tmp / "lake", name) for name in ("signals", "opportunities", "rejections", "quotes_rejected")}


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    tmp = tmp_path_factory.mktemp("snapshot_flow")
    files = write_tardis(snapshot_market(), tmp)
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    return replay(tmp / "a", files), replay(tmp / "b", files[::-1])


def test_signals_and_opportunities_agree_one_to_one(tables) -> None:
    got, _ = tables
    assert got["quotes_rejected"].height == 0
    signals, episodes = got["signals"].sort("ts_signal"), got["opportunities"].sort("first_seen")
    assert signals.height == episodes.height == 3
    assert signals["episode_id"].to_list() == episodes["episode_id"].to_list()
    assert (signals["ts_signal"] == episodes["first_seen"]).all()
    assert episodes["updates"].to_list() == [5, 5, 3] and episodes["evaluations"].to_list() == [5, 6, 3]
    assert got["rejections"]["reason"].to_list() == ["stale_leg", "stale_leg"]


def test_reversed_file_order_gives_the_same_rows(tables) -> None:
    forward, backward = tables
    for name, key in (("signals", "signal_id"), ("opportunities", "episode_id"), ("rejections", "rejection_id")):
        assert backward[name].sort(key).equals(forward[name].sort(key)), name
