"""The live source against fake venues replaying real payloads: exact rows, per venue."""

from __future__ import annotations

import gzip
import json

import pytest

from connectors.live import LiveVenue
from tests.connectors.conftest import binance_recording, jsonl, run_live
from tests.fakes.exchanges import FakeBinance, FakeHtx, FakeOkx


def _book_top(snapshot: dict, diffs: list[dict], levels: int = 5) -> tuple[list, list]:
    """Independent reference: apply every diff to the snapshot, return the best levels."""
    bids = {float(p): float(q) for p, q in snapshot["bids"]}
    asks = {float(p): float(q) for p, q in snapshot["asks"]}
    for d in diffs:
        for side, levels_ in ((bids, d["b"]), (asks, d["a"])):
            for p, q in levels_:
                side.pop(float(p), None) if float(q) == 0 else side.__setitem__(float(p), float(q))
    return sorted(bids.items(), reverse=True)[:levels], sorted(asks.items())[:levels]


def test_binance_book_ticker_and_depth_rows_match_the_recording() -> None:
    snapshot, after, _ = binance_recording()
    with FakeBinance([[("send", m) for m in after]], snapshot) as fake:
        venue = LiveVenue("binance", ["BTC/USDT"], depth=True, ws_url=fake.url, rest_url=fake.http_url)
        out = run_live([venue], run_for_s=8.0, until=[fake])
    quotes, events, books = out["quotes"], out["feed_events"], out["books"]
    sent = [m["data"] for m in after if m["stream"].endswith("@bookTicker")]
    assert quotes.height == len(sent) > 200
    assert quotes["quote_id"].to_list() == [f"live-binance/{i}" for i in range(len(sent))]
    assert quotes["bid_px"].to_list() == [d["b"] for d in sent]
    assert quotes["ask_qty"].to_list() == [d["A"] for d in sent]
    assert quotes["seq"].to_list() == [str(d["u"]) for d in sent]
    assert set(quotes["symbol"]) == {"BTC/USDT"} and quotes["ts_exchange"].null_count() == quotes.height
    assert quotes["ts_recv"].null_count() == 0
    assert events["kind"].to_list() == ["connect", "live"]
    assert events["feed_up"].to_list() == [False, True]
    assert events["event_id"].to_list() == ["live-binance/event/0", "live-binance/event/1"]
    assert json.loads(fake.received[0][1])["params"] == ["btcusdt@bookTicker", "btcusdt@depth@100ms"]
    assert fake.http_requests == ["/api/v3/depth?symbol=BTCUSDT&limit=1000"]
    diffs = [m["data"] for m in after if "@depth" in m["stream"]]
    bids, asks = _book_top(snapshot, diffs)
    last = books.row(-1, named=True)
    assert last["seq"] == diffs[-1]["u"]
    assert last["bid_px"] + last["bid_qty"] == pytest.approx([p for p, _ in bids] + [q for _, q in bids])
    assert last["ask_px"] + last["ask_qty"] == pytest.approx([p for p, _ in asks] + [q for _, q in asks])
    assert books["seq"].is_sorted() and set(books["seq"]) <= {d["u"] for d in diffs}


@pytest.mark.parametrize(
    ("channel", "fixture"),
    [("tickers", "okx/btcusdt_tickers.jsonl"), ("bbo-tbt", "okx/btcusdt_bbo_tbt_derived.jsonl")],
)
def test_okx_quote_channels_yield_the_recorded_top_of_book(channel: str, fixture: str) -> None:
    recorded = jsonl(fixture)
    with FakeOkx([[("send", m) for m in recorded]]) as fake:
        venue = LiveVenue("okx", ["BTC/USDT"], ws_url=fake.url, options={"quote_channel": channel})
        out = run_live([venue], run_for_s=8.0, until=[fake])
    quotes, events = out["quotes"], out["feed_events"]
    assert quotes.height == len(recorded) == 25
    first = recorded[0]["data"][0]
    bid = first["bidPx"] if channel == "tickers" else first["bids"][0][0]
    assert quotes.row(0, named=True)["bid_px"] == bid == "30228.6"
    assert quotes["symbol"].unique().to_list() == ["BTC/USDT"]
    assert [round(t.timestamp() * 1000) for t in quotes["ts_exchange"]] == fake.sent_ts_ms
    assert events["kind"].to_list() == ["connect", "live"]
    assert json.loads(fake.received[0][1]) == {"op": "subscribe", "args": [{"channel": channel, "instId": "BTC-USDT"}]}


def test_htx_gzip_bbo_with_server_pings_answered() -> None:
    frames = jsonl("htx/bbo_derived.jsonl")
    script = [("send", m) for m in frames[:30]] + [("sleep", 0.35)] + [("send", m) for m in frames[30:]]
    with FakeHtx([script], ping_interval_s=0.1) as fake:
        venue = LiveVenue("htx", ["OMG/BTC", "BOR/USDT"], ws_url=fake.url)
        out = run_live([venue], run_for_s=8.0, until=[fake])
    quotes = out["quotes"]
    assert quotes.height == len(frames) == 58
    assert quotes["bid_px"].to_list() == [str(m["tick"]["bid"]) for m in frames]
    assert quotes["seq"].to_list() == [str(m["tick"]["seqId"]) for m in frames]
    assert set(quotes["symbol"]) == {"OMG/BTC", "BOR/USDT"}
    assert [round(t.timestamp() * 1000) for t in quotes["ts_exchange"]] == fake.sent_ts_ms
    assert len(fake.pongs) >= 3  # every server ping answered with its own value
    subs = [json.loads(text)["sub"] for _, text in fake.received if "sub" in text]
    assert subs == ["market.omgbtc.bbo", "market.borusdt.bbo"]
    assert out["feed_events"]["kind"].to_list() == ["connect", "live"]
    assert gzip  # frames on the wire are gzip (FakeHtx.encode); a text frame would be a bad_frame event


def test_htx_depth_step0_real_frames_become_books_and_recorded_pings_are_answered() -> None:
    frames = jsonl("htx/depth_step0_frames.jsonl")
    depth = [f for f in frames if "ch" in f]
    pings = [f["ping"] for f in frames if "ping" in f]
    with FakeHtx([[("send", f) for f in frames]]) as fake:
        venue = LiveVenue("htx", ["OMG/BTC", "BOR/USDT"], depth=True, ws_url=fake.url)
        out = run_live([venue], run_for_s=8.0, until=[fake])
    books = out["books"]
    assert books.height == len(depth) == 58
    assert books["seq"].to_list() == [f["tick"]["version"] for f in depth]
    first, last = books.row(0, named=True), books.row(-1, named=True)
    assert first["bid_px"] == [p for p, _ in depth[0]["tick"]["bids"][:5]]
    assert last["ask_qty"] == [q for _, q in depth[-1]["tick"]["asks"][:5]]
    assert books["book_id"][-1] == f"live-htx/book/{len(depth) - 1}"
    assert fake.pongs == pings  # the recorded server pings, each answered with its own value
    subs = [json.loads(text)["sub"] for _, text in fake.received if "sub" in text]
    assert subs == [
        "market.omgbtc.bbo",
        "market.borusdt.bbo",
        "market.omgbtc.depth.step0",
        "market.borusdt.depth.step0",
    ]


def test_okx_idle_connection_is_kept_alive_with_text_pings_and_pongs_are_not_data() -> None:
    recorded = jsonl("okx/btcusdt_tickers.jsonl")
    script = [("send", recorded[0]), ("sleep", 0.7), ("send", recorded[1])]
    with FakeOkx([script]) as fake:
        venue = LiveVenue(
            "okx", ["BTC/USDT"], ws_url=fake.url, options={"quote_channel": "tickers", "ping_interval_s": 0.2}
        )
        out = run_live([venue], run_for_s=8.0, until=[fake])
    assert fake.pings >= 2  # the client pinged while the venue was quiet; each "pong" was swallowed
    assert out["feed_events"]["kind"].to_list() == ["connect", "live"]  # no bad_frame for "pong"
    assert out["quotes"].height == 2
