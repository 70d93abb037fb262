"""The ccxt.pro transport against the same fake venues: real payloads in, unified rows out, faults as events.

ccxt.pro conflates (only the update awaited is delivered), so frames are paced here and assertions are about
what it can promise: every delivered row is a sent payload, in order, and the newest one always arrives.
"""

from __future__ import annotations

import pytest

from connectors.live import LiveSource, LiveVenue
from tests.connectors.conftest import CALM, FAST, SIZES, binance_recording, jsonl, run_live
from tests.fakes.exchanges import FakeBinance, FakeOkx


def _paced(msgs: list[dict], gap_s: float = 0.02) -> list[tuple]:
    return [step for m in msgs for step in (("sleep", gap_s), ("send", m))]


def _in_order_subsequence(got: list, sent: list) -> bool:
    it = iter(sent)
    return all(any(g == s for s in it) for g in got)


def test_ccxtpro_binance_delivers_recorded_quotes_in_order_with_the_latest_last() -> None:
    snapshot, after, _ = binance_recording()
    sent = [m for m in after if m["stream"].endswith("@bookTicker")][:40]
    with FakeBinance([_paced(sent)], snapshot) as fake:
        venue = LiveVenue("binance", ["BTC/USDT"], ws_url=fake.url, transport="ccxtpro")
        out = run_live([venue], run_for_s=8.0, until=[fake])
    quotes = out["quotes"]
    got = list(zip(quotes["bid_px"].cast(float), quotes["ask_qty"].cast(float), strict=True))
    expected = [(float(m["data"]["b"]), float(m["data"]["A"])) for m in sent]
    assert len(got) >= len(sent) // 2 and _in_order_subsequence(got, expected)
    assert got[-1] == expected[-1]
    assert set(quotes["source"]) == {"binance-ccxtpro"} and set(quotes["symbol"]) == {"BTC/USDT"}
    assert out["feed_events"]["kind"].to_list()[:2] == ["connect", "live"]


def test_ccxtpro_okx_bbo_tbt_keeps_the_venue_clock() -> None:
    sent = jsonl("okx/btcusdt_bbo_tbt_derived.jsonl")
    with FakeOkx([_paced(sent, 0.0)], speed=10.0) as fake:
        venue = LiveVenue("okx", ["BTC/USDT"], ws_url=fake.url, transport="ccxtpro")
        out = run_live([venue], run_for_s=8.0, until=[fake])
    quotes = out["quotes"]
    ts_ms = [round(t.timestamp() * 1000) for t in quotes["ts_exchange"]]
    assert quotes.height >= 10 and _in_order_subsequence(ts_ms, fake.sent_ts_ms)
    assert ts_ms[-1] == fake.sent_ts_ms[-1]
    assert quotes["bid_px"].cast(float)[-1] == float(sent[-1]["data"][0]["bids"][0][0])


def test_ccxtpro_dropped_connection_is_a_disconnect_then_a_reconnect() -> None:
    snapshot, after, _ = binance_recording()
    sent = [m for m in after if m["stream"].endswith("@bookTicker")][:40]
    first = [*_paced(sent[:20]), ("sleep", 0.2), ("drop",)]
    with FakeBinance([first, _paced(sent[20:])], snapshot) as fake:
        venue = LiveVenue("binance", ["BTC/USDT"], ws_url=fake.url, transport="ccxtpro")
        out = run_live([venue], run_for_s=8.0, settings=FAST, until=[fake])
    kinds = out["feed_events"]["kind"].to_list()
    assert kinds[:5] == ["connect", "live", "disconnect", "connect", "live"]
    assert fake.connections >= 2
    assert float(out["quotes"]["bid_px"][-1]) == float(sent[-1]["data"]["b"])


def test_ccxtpro_refuses_htx_and_depth_at_build_time() -> None:
    with pytest.raises(ValueError, match="no watchBidsAsks for htx"):
        LiveSource([LiveVenue("htx", ["BTC/USDT"], transport="ccxtpro")], CALM, **SIZES)
    with pytest.raises(ValueError, match="top of book only"):
        LiveSource([LiveVenue("okx", ["BTC/USDT"], depth=True, transport="ccxtpro")], CALM, **SIZES)
