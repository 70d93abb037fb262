"""The quote history's as-of queries: one instant, many instants (must agree), marks, pruning."""

from __future__ import annotations

import pytest
from risk_builders import quotes, us

from flows.risk import book


def history():
    _, frame = quotes(
        ("binance", "BTC/USDT", 99.0, 1, 100.0, 1, 0),
        ("okx", "BTC/USDT", 101.0, 1, 102.0, 1, 0),
        ("binance", "BTC/USDT", 99.5, 1, 100.5, 1, 1000),
        ("binance", "BTC/USDT", 98.5, 1, 99.5, 1, 1000),  # same receive time: the later row wins
        ("okx", "BTC/USDT", 100.0, 1, 101.0, 1, 2500),
    )
    return book.quotes_to_history(frame).sort("ts_us", maintain_order=True)


def test_latest_many_agrees_with_latest_at_every_instant():
    h = history()
    times = [us(ms) for ms in (-1, 0, 999, 1000, 2000, 2500, 9000)]
    many = book.latest_many(h, times)
    for t in times:
        assert many[t] == book.latest(h, t), t
    assert book.latest(h, us(1000))[("binance", "BTC/USDT")]["bid_px"] == 98.5
    assert many[us(-1)] == {}


def test_marks_use_fresh_venues_only_and_fall_back_to_stale_ones():
    h = history()
    at = book.latest(h, us(3000))
    # binance (t=1000) is 2000 ms old, okx (t=2500) 500 ms: with a 1000 ms freshness limit only okx counts
    assert book.mids(at, us(3000), 1_000_000) == {"BTC/USDT": pytest.approx(100.5)}
    assert book.mids(at, us(3000), 5_000_000) == {"BTC/USDT": pytest.approx((99.0 + 100.5) / 2)}
    assert book.mids(at, us(90_000), 1_000_000) == {"BTC/USDT": pytest.approx((99.0 + 100.5) / 2)}
    assert book.last_recv_by_venue(at) == {"binance": us(1000), "okx": us(2500)}


def test_prune_keeps_the_latest_quote_before_the_cutoff():
    h = book.prune(history(), us(2000))
    assert h.height == 3  # binance@1000 (the later of two), okx@0, okx@2500
    assert book.latest(h, us(2000)) == book.latest(history(), us(2000))
