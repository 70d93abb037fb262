"""config/live.toml -> LiveSource: the [live] section drives real connections (pointed at fake venues here)."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from arbflow.errors import ConfigError
from arbflow.settings import load_settings
from connectors.batches import RawBatch
from connectors.live_wiring import live_source
from tests.connectors.conftest import binance_recording, jsonl
from tests.fakes.exchanges import FakeBinance, FakeHtx, FakeOkx

LIVE_TOML = Path(__file__).resolve().parents[2] / "config" / "live.toml"


def test_live_toml_validates_and_merges_three_venues_in_one_partition() -> None:
    settings = load_settings(LIVE_TOML, environ={})
    assert settings.source.kind == "live"
    source = live_source(settings.live)
    assert source.list_parts() == ["live"]
    assert list(source.venues) == ["live-binance", "live-okx", "live-htx"]
    assert {v.transport for v in source.venues.values()} == {"native"}
    assert source.venues["live-okx"].symbols == ["BTC/USDT", "ETH/USDT", "ETH/BTC"]
    assert source.venues["live-okx"].options == {"quote_channel": "bbo-tbt"}  # Okx.config_options
    assert source.venues["live-binance"].options == {}


def test_a_wrong_live_key_or_symbol_fails_at_start_naming_it() -> None:
    with pytest.raises(ConfigError, match="live.transports"):
        load_settings(LIVE_TOML, environ={"ARBFLOW__LIVE__TRANSPORTS": '{okx = "carrier-pigeon"}'})
    for removed in ("reorder_ms", "flush_ms"):
        with pytest.raises(ConfigError, match=rf"\[live\] {removed} was removed: .*delete the key"):
            load_settings(LIVE_TOML, environ={f"ARBFLOW__LIVE__{removed.upper()}": "50.0"})
    settings = load_settings(LIVE_TOML, environ={"ARBFLOW__LIVE__SYMBOLS": '["BTC/USDT", "NOPE/USDT"]'})
    with pytest.raises(ValueError, match="no spot market 'NOPE/USDT'"):
        live_source(settings.live)


def test_env_overrides_point_every_venue_at_local_servers(tmp_path: Path) -> None:
    snapshot, after, _ = binance_recording()
    binance = [("send", m) for m in after if m["stream"].endswith("@bookTicker")]
    okx = [("send", m) for m in jsonl("okx/btcusdt_bbo_tbt_derived.jsonl")]
    htx = [("send", m) for m in jsonl("htx/bbo_derived.jsonl") if m["ch"] == "market.omgbtc.bbo"]
    with FakeBinance([binance], snapshot) as fb, FakeOkx([okx]) as fo, FakeHtx([htx]) as fh:
        env = {
            "ARBFLOW__LIVE__SYMBOLS": '["BTC/USDT", "OMG/BTC"]',
            "ARBFLOW__LIVE__WS_URLS": f'{{binance = "{fb.url}", okx = "{fo.url}", htx = "{fh.url}"}}',
            "ARBFLOW__LIVE__RUN_FOR_S": "1.8",
            "ARBFLOW__LIVE__CAPTURE_DIR": f'"{tmp_path}"',
        }
        settings = load_settings(LIVE_TOML, environ=env)
        out: list = []
        flow = Dataflow("live_from_config")
        op.output("out", op.input("live", flow, live_source(settings.live)), TestingSink(out))
        run_main(flow)
    quotes = [b.frame for b in out if isinstance(b, RawBatch)]
    counts = {}
    for frame in quotes:
        for exchange in frame["exchange"]:
            counts[exchange] = counts.get(exchange, 0) + 1
    assert counts == {"binance": len(binance), "okx": len(okx), "htx": len(htx)}
    assert sorted(p.parent.parent.name for p in tmp_path.rglob("*.parquet")) == [
        "exchange=binance", "exchange=htx", "exchange=okx",
    ]  # fmt: skip
