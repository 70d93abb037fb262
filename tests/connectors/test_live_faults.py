"""Fault injection against the fake venues: each fault is a feed_events row and the source keeps running."""

from __future__ import annotations

import gzip
import json

import polars as pl

from connectors.live import LiveVenue
from tests.connectors.conftest import FAST, binance_recording, jsonl, run_live
from tests.fakes.exchanges import FakeBinance, FakeHtx, FakeOkx


def _kinds(out: dict[str, pl.DataFrame]) -> list[tuple[str, bool]]:
    """(kind, feed_up) of the events up to the last quote: once a fake's script ends it goes silent, and the stall
    that follows is correct but not the subject of these tests."""
    events = _events(out)
    return list(zip(events["kind"].to_list(), events["feed_up"].to_list(), strict=True))


def _events(out: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return out["feed_events"].filter(pl.col("ts_recv") <= out["quotes"]["ts_recv"].max())


def test_dropped_connection_reconnects_and_loses_nothing_the_venue_sent_after() -> None:
    snapshot, after, _ = binance_recording()
    tickers = [m for m in after if m["stream"].endswith("@bookTicker")]
    first = [("send", m) for m in tickers[:100]] + [("sleep", 0.2), ("drop",)]
    with FakeBinance([first, [("send", m) for m in tickers[100:]]], snapshot) as fake:
        out = run_live(
            [LiveVenue("binance", ["BTC/USDT"], ws_url=fake.url)], run_for_s=8.0, settings=FAST, until=[fake]
        )
    assert fake.connections == 2
    assert _kinds(out) == [
        ("connect", False), ("live", True), ("disconnect", False), ("connect", False), ("live", True),
    ]  # fmt: skip
    assert out["quotes"]["seq"].to_list() == [str(m["data"]["u"]) for m in tickers]
    assert out["quotes"]["quote_id"].to_list()[-1] == f"live-binance/{len(tickers) - 1}"


def test_silent_stall_is_detected_and_resubscribing_restores_the_feed() -> None:
    recorded = jsonl("okx/btcusdt_tickers.jsonl")
    script = [("send", m) for m in recorded[:10]] + [("wait_resubscribe",)] + [("send", m) for m in recorded[10:]]
    with FakeOkx([script]) as fake:
        venue = LiveVenue("okx", ["BTC/USDT"], ws_url=fake.url, options={"quote_channel": "tickers"})
        out = run_live([venue], run_for_s=8.0, settings=FAST, until=[fake])
    assert fake.subscribes[0] >= 2  # the resubscribe went over the same connection
    kinds = _kinds(out)
    assert [k for k in kinds if k[0] != "clock_skew"] == [
        ("connect", False), ("live", True), ("stall", False), ("resubscribe", False), ("live", True),
    ]  # fmt: skip
    stall = out["feed_events"].filter(pl.col("kind") == "stall").row(0, named=True)
    assert stall["detail"].startswith("no market data for 0.6")
    assert out["quotes"].height == 25


def test_stall_that_resubscribing_does_not_cure_ends_in_a_reconnect() -> None:
    snapshot, after, _ = binance_recording()
    tickers = [m for m in after if m["stream"].endswith("@bookTicker")]
    with FakeBinance([[("send", m) for m in tickers[:50]], [("send", m) for m in tickers[50:]]], snapshot) as fake:
        out = run_live(
            [LiveVenue("binance", ["BTC/USDT"], ws_url=fake.url)], run_for_s=8.0, settings=FAST, until=[fake]
        )
    assert fake.connections == 2
    assert _kinds(out) == [
        ("connect", False), ("live", True), ("stall", False), ("resubscribe", False), ("disconnect", False),
        ("connect", False), ("live", True),
    ]  # fmt: skip
    assert "after resubscribing" in _events(out)["detail"][4]
    assert out["quotes"].height == len(tickers)


def test_garbage_and_truncated_gzip_frames_are_rows_not_crashes() -> None:
    frames = jsonl("htx/bbo_derived.jsonl")
    truncated = gzip.compress(json.dumps(frames[10]).encode())[:-9]
    faults = [("raw", b"\x1f\x8b\x08garbage"), ("raw", truncated), ("raw", gzip.compress(b"{not json")),
              ("raw", "a text frame")]  # fmt: skip
    script = [("send", m) for m in frames[:10]] + faults + [("send", m) for m in frames[10:]]
    with FakeHtx([script]) as fake:
        out = run_live(
            [LiveVenue("htx", ["OMG/BTC", "BOR/USDT"], ws_url=fake.url)], run_for_s=8.0, settings=FAST, until=[fake]
        )
    events = _events(out)
    assert _kinds(out) == [("connect", False), ("live", True)] + [("bad_frame", True)] * 4
    details = events.filter(pl.col("kind") == "bad_frame")["detail"].to_list()
    assert details[0].startswith("gzip:") and details[1].startswith("gzip:")
    assert details[2].startswith("json:") and "gzip" in details[3]
    assert out["quotes"].height == len(frames)  # nothing before or after the bad frames lost


def test_depth_sequence_gap_is_reported_and_the_book_resyncs_from_a_snapshot() -> None:
    snapshot, after, _ = binance_recording()
    diffs = [m for m in after if "@depth" in m["stream"]]
    skipped = diffs[8]
    script = []
    for m in after:
        if "@depth" in m["stream"]:
            script.append(("sleep", 0.05))  # a diff every 50 ms, so each snapshot lands between diffs
        script.append(("publish_only", m) if m is skipped else ("send", m))
    with FakeBinance([script], snapshot) as fake:
        venue = LiveVenue("binance", ["BTC/USDT"], depth=True, ws_url=fake.url, rest_url=fake.http_url)
        out = run_live([venue], run_for_s=8.0, until=[fake])
    events = out["feed_events"]
    assert _kinds(out) == [("connect", False), ("live", True), ("gap", True), ("resync", True)]
    gap = events.row(2, named=True)
    assert (gap["symbol"], gap["seq_expected"], gap["seq_received"]) == (
        "BTC/USDT", diffs[7]["data"]["u"] + 1, diffs[9]["data"]["U"],
    )  # fmt: skip
    assert len(fake.http_requests) == 2
    books = out["books"]
    assert skipped["data"]["u"] not in books["seq"].to_list()
    assert books["seq"][-1] == diffs[-1]["data"]["u"]  # the book continues after the resync


def test_venue_clock_two_seconds_ahead_is_one_clock_skew_event_and_quotes_keep_flowing() -> None:
    recorded = jsonl("okx/btcusdt_tickers.jsonl")
    with FakeOkx([[("send", m) for m in recorded]], skew_ms=2000) as fake:
        venue = LiveVenue("okx", ["BTC/USDT"], ws_url=fake.url, options={"quote_channel": "tickers"})
        out = run_live([venue], run_for_s=8.0, settings=FAST, until=[fake])
    events = _events(out)
    assert _kinds(out) == [("connect", False), ("live", True), ("clock_skew", True)]
    skew = events.row(2, named=True)
    offset_ms = float(skew["detail"].split("= ")[1].split(" ms")[0])
    assert -2100 < offset_ms < -1900  # receive clock - venue clock
    assert skew["ts_exchange"] is not None
    assert out["quotes"].height == 25
    assert [round(t.timestamp() * 1000) for t in out["quotes"]["ts_exchange"]] == fake.sent_ts_ms
