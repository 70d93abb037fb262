"""OKX ``books`` on real recorded pushes: every checksum verifies; a lost update is a gap, healed by resubscribing."""

from __future__ import annotations

import json
import zlib

import polars as pl
import pytest

from connectors.live import LiveVenue
from tests.connectors.conftest import jsonl, run_live
from tests.fakes.exchanges import FakeOkx

PUSHES = jsonl("okx/btcusdt_books_snapshot_40_updates.jsonl")


def _reference(pushes: list[dict]) -> tuple[dict[str, str], dict[str, str]]:
    """Independent book: apply every push's levels (size "0" deletes)."""
    bids: dict[str, str] = {}
    asks: dict[str, str] = {}
    for push in pushes:
        data = push["data"][0]
        for side, levels in ((bids, data["bids"]), (asks, data["asks"])):
            for px, sz, *_ in levels:
                side.pop(px, None) if float(sz) == 0 else side.__setitem__(px, sz)
    return bids, asks


def _best(side: dict[str, str], reverse: bool, n: int) -> list[tuple[str, str]]:
    return sorted(side.items(), key=lambda kv: float(kv[0]), reverse=reverse)[:n]


def _snapshot_push(bids: dict[str, str], asks: dict[str, str], ts: str) -> dict:
    """A snapshot push of a given book, with OKX's checksum computed here from its definition."""
    b, a = _best(bids, True, 400), _best(asks, False, 400)
    parts = []
    for i in range(25):
        parts += list(b[i]) if i < len(b) else []
        parts += list(a[i]) if i < len(a) else []
    crc = zlib.crc32(":".join(parts).encode())
    data = {"bids": [[p, q, "0", "1"] for p, q in b], "asks": [[p, q, "0", "1"] for p, q in a], "ts": ts,
            "checksum": crc - 2**32 if crc >= 2**31 else crc}  # fmt: skip
    return {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot", "data": [data]}


def _venue(url: str) -> LiveVenue:
    options = {"quote_channel": "tickers", "depth_channel": "books"}
    return LiveVenue("okx", ["BTC/USDT"], depth=True, ws_url=url, options=options)


def test_real_books_snapshot_and_updates_pass_every_checksum() -> None:
    with FakeOkx([[("send", p) for p in PUSHES]], speed=50.0) as fake:
        out = run_live([_venue(fake.url)], run_for_s=8.0, until=[fake])
    books = out["books"]
    assert books.height == len(PUSHES) == 41
    assert out["feed_events"]["kind"].to_list() == ["connect", "live"]  # no gap: all 41 checksums matched
    bids, asks = _reference(PUSHES)
    last = books.row(-1, named=True)
    assert last["bid_px"] == pytest.approx([float(p) for p, _ in _best(bids, True, 5)])
    assert last["ask_qty"] == pytest.approx([float(q) for _, q in _best(asks, False, 5)])


def test_a_lost_update_is_a_checksum_gap_and_the_resubscribe_snapshot_restores_the_book() -> None:
    lost = 10
    fresh = _snapshot_push(*_reference(PUSHES[: lost + 2]), PUSHES[lost + 1]["data"][0]["ts"])
    script = [("send", p) for i, p in enumerate(PUSHES[: lost + 2]) if i != lost]
    script += [("wait_resubscribe",), ("send", fresh)] + [("send", p) for p in PUSHES[lost + 2 :]]
    with FakeOkx([script], speed=50.0) as fake:
        out = run_live([_venue(fake.url)], run_for_s=8.0, until=[fake])
    events = out["feed_events"]
    assert events["kind"].to_list() == ["connect", "live", "gap", "resync"]
    gap = events.filter(pl.col("kind") == "gap").row(0, named=True)
    assert gap["symbol"] == "BTC/USDT" and gap["detail"].startswith("checksum mismatch") and gap["feed_up"]
    sent = [json.loads(text) for _, text in fake.received]
    assert [m["op"] for m in sent] == ["subscribe", "unsubscribe", "subscribe"]
    books = out["books"]
    assert books.height == len(PUSHES) - 2 + 1  # all but the lost and the broken push, plus the fresh snapshot
    bids, _ = _reference(PUSHES)
    assert books.row(-1, named=True)["bid_qty"] == pytest.approx([float(q) for _, q in _best(bids, True, 5)])
