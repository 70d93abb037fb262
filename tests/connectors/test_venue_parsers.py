"""Venue modules and session arithmetic on their own (no sockets): the pure parts of the live path."""

from __future__ import annotations

import gzip
import json

import pytest

from arbflow.errors import BadFrame
from connectors.exchanges import Binance, Htx, Okx, venue_class
from connectors.exchanges.binance import LocalBook
from connectors.exchanges.session import backoff_delay_s
from tests.connectors.conftest import jsonl


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap_within_the_jitter_band() -> None:
    delays = [backoff_delay_s(a, 0.5, 30.0, 0.0, 0.0) for a in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff_delay_s(3, 0.5, 30.0, 0.25, -1.0) == pytest.approx(3.0)
    assert backoff_delay_s(3, 0.5, 30.0, 0.25, 1.0) == pytest.approx(5.0)
    assert backoff_delay_s(10_000, 0.5, 30.0, 0.25, 0.0) == 30.0  # no overflow on long outages


def test_binance_local_book_accepts_only_a_chained_diff() -> None:
    book = LocalBook({"lastUpdateId": 100, "bids": [["10.0", "1"]], "asks": [["11.0", "2"]]})
    assert book.apply({"U": 90, "u": 100, "b": [["10.0", "9"]], "a": []})  # older than the snapshot: ignored
    assert book.bids == {10.0: 1.0}
    assert not book.apply({"U": 102, "u": 105, "b": [], "a": []})  # first diff must bridge id 101
    assert book.apply({"U": 99, "u": 103, "b": [["10.0", "0"], ["9.5", "3"]], "a": [["11.0", "0"], ["11.5", "1"]]})
    assert book.top(5) == ([(9.5, 3.0)], [(11.5, 1.0)])
    assert not book.apply({"U": 105, "u": 106, "b": [], "a": []})  # 104 missing: a gap
    assert book.apply({"U": 104, "u": 104, "b": [], "a": []})


def test_okx_books5_push_is_a_five_level_book_row() -> None:
    push = jsonl("okx/btcusdt_books5_derived.jsonl")[0]
    decoded = Okx(["BTC/USDT"], depth=True).decode(json.dumps(push), ts_recv_us=1)
    (book,) = decoded.books
    data = push["data"][0]
    assert book["symbol"] == "BTC/USDT" and book["ts_exchange"] == int(data["ts"]) * 1000
    assert book["bid_px"] == [float(lv[0]) for lv in data["bids"]]
    assert book["ask_qty"] == [float(lv[1]) for lv in data["asks"]]
    assert len(book["ask_px"]) == 5 and decoded.data and not decoded.quotes


def test_okx_subscribes_quote_and_depth_channels_and_rejects_an_unknown_quote_channel() -> None:
    msg = json.loads(Okx(["ETH/BTC"], depth=True).subscribe_messages()[0])
    assert msg["args"] == [{"channel": "bbo-tbt", "instId": "ETH-BTC"}, {"channel": "books5", "instId": "ETH-BTC"}]
    with pytest.raises(ValueError, match="quote_channel"):
        Okx(["BTC/USDT"], quote_channel="trades")


def test_htx_ping_gets_its_own_value_back_and_venue_errors_are_bad_frames() -> None:
    venue = Htx(["BTC/USDT"])
    decoded = venue.decode(gzip.compress(b'{"ping": 1618678073643}'), ts_recv_us=1)
    assert decoded.replies == ['{"pong": 1618678073643}'] and not decoded.data
    err = gzip.compress(b'{"status":"error","err-code":"bad-request","err-msg":"invalid topic"}')
    with pytest.raises(BadFrame, match="invalid topic"):
        venue.decode(err, ts_recv_us=1)
    with pytest.raises(BadFrame, match="gzip"):
        venue.decode('{"ch": "text instead of gzip"}', ts_recv_us=1)


def test_unknown_symbols_fail_at_configuration_time_naming_venue_and_symbol() -> None:
    with pytest.raises(ValueError, match="htx has no spot market 'DOGE/XYZ'"):
        Htx(["DOGE/XYZ"])
    with pytest.raises(ValueError, match="available: binance, htx, okx"):
        venue_class("kraken")


def test_a_payload_for_a_symbol_missing_from_the_snapshot_becomes_a_row_with_null_symbol() -> None:
    frame = '{"stream":"newcoin@bookTicker","data":{"u":1,"s":"NEWCOINXYZ","b":"1","B":"1","a":"2","A":"1"}}'
    (row,) = Binance([]).decode(frame, ts_recv_us=5).quotes
    assert row["symbol"] is None and row["bid_px"] == "1"  # normalize quarantines it as missing_field:symbol
