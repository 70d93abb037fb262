"""Paper market making through a real Bytewax run behind the core flow's checks (simulated market)."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from arbflow.settings import Settings, load_settings
from connectors.batches import RawBatch
from connectors.simulator import simulate
from flows.common.batches import check_batch
from flows.common.clean_stage import clean_stage
from flows.market_making.step import market_making_tables
from quality.gate import QualityGate

REPO = Path(__file__).resolve().parents[2]


def settings_with(enabled: bool) -> Settings:
    base = load_settings(REPO / "config" / "default.toml", environ={}).model_dump()
    base["simulator"] |= {"duration_s": 60.0}
    base["market_making"] |= {"enabled": enabled, "exchanges": ["binance", "okx"]}
    return Settings.model_validate(base)


def run(settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    fees = {name: v.taker_fee_bps for name, v in settings.venues.items()}
    market = simulate(settings.simulator, fees, settings.cross.min_net_edge_bps)
    quotes = market.quotes.with_row_index("o").select(pl.exclude("o"), pl.format("sim/{}", "o").alias("quote_id"))
    batches = [RawBatch(i, "sim", quotes.slice(s, 1000)) for i, s in enumerate(range(0, quotes.height, 1000))]
    gate = QualityGate()
    sink: list = []
    flow = Dataflow("mm")
    checked = op.map("check", op.input("raw", flow, TestingSource(batches)), lambda b: check_batch(settings, gate, b))
    op.output(
        "out",
        market_making_tables("mm", clean_stage("clean", checked, settings.cleaning).batches, settings),
        TestingSink(sink),
    )
    run_main(flow)
    signals = pl.concat([f for _, f in sink]) if sink else pl.DataFrame()
    return quotes, market.anomalies, signals


def test_disabled_by_default_adds_nothing() -> None:
    assert load_settings(environ={}).market_making.enabled is False
    _, _, signals = run(settings_with(False))
    assert signals.height == 0


def test_quotes_at_the_first_clean_update_of_every_refresh_slot() -> None:
    settings = settings_with(True)
    quotes, anomalies, signals = run(settings)
    clean = quotes.join(anomalies, on=["exchange", "symbol", "ts_recv", "seq"], how="anti").filter(
        pl.col("exchange").is_in(["binance", "okx"]) & pl.col("symbol").is_in(settings.market_making.symbols)
    )
    firsts = (
        clean.with_columns((pl.col("ts_recv").dt.epoch("us") // 10_000_000).alias("slot"))
        .group_by("exchange", "symbol", "slot", maintain_order=True)
        .first()
    )
    assert set(signals["buy_quote_id"]) == set(firsts["quote_id"])
    assert (signals["strategy"] == "market_making").all()
    assert signals.group_by("buy_quote_id").len()["len"].max() <= 5
    one = signals.row(0, named=True)
    quote = quotes.filter(pl.col("quote_id") == one["buy_quote_id"]).row(0, named=True)
    mid = (quote["bid_px"] + quote["ask_px"]) / 2
    level = int(one["signal_id"].rsplit("/", 1)[1])
    offset = (20.0 / 2 + level * 5.0) / 1e4
    assert (one["buy_px"], one["sell_px"]) == (pytest.approx(mid * (1 - offset)), pytest.approx(mid * (1 + offset)))
    assert one["qty"] == pytest.approx(1000.0 / mid)
