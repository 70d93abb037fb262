"""Paper market making: hand-worked quotes with inventory skew and maker fees, refresh slots, crossing guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from arbflow.settings import load_settings
from flows.market_making.quotes import inventory_skew_bps, paper_quotes
from flows.triangular.evaluate import SIGNAL_COLUMNS

T0 = datetime(2024, 8, 8, 23, 55, tzinfo=UTC)
PARAMS = load_settings(
    environ={}
).market_making  # design doc: spread 0.002, 1000 per order, 10 s, target 0.5, 5 per side


def quotes(rows: list[tuple[str, float, float, int]]) -> pl.DataFrame:
    """rows: (symbol, bid, ask, ms after T0) on binance."""
    return pl.DataFrame(
        [
            {
                "exchange": "binance",
                "symbol": s,
                "bid_px": b,
                "bid_qty": 1.0,
                "ask_px": a,
                "ask_qty": 1.0,
                "ts_recv": T0 + timedelta(milliseconds=ms),
                "quote_id": f"m/{i}",
            }
            for i, (s, b, a, ms) in enumerate(rows)
        ]
    )


def test_defaults_follow_the_design_doc_and_are_disabled() -> None:
    mm = load_settings(environ={}).market_making
    assert (mm.enabled, mm.spread_bps, mm.order_amount_quote, mm.refresh_ms) == (False, 20.0, 1000.0, 10_000.0)
    assert (mm.inventory_target, mm.orders_per_side) == (0.5, 5)


def test_hand_worked_quotes_with_inventory_skew_and_maker_fees() -> None:
    """Mid 100, inventory 75% base (target 50%): skew = -20 * (0.25 / 0.5) = -10 bps, reservation 99.9.
    Level 0 sits 10 bps either side: bid 99.9 * 0.999 = 99.8001, ask 99.9 * 1.001 = 99.9999; qty 1000 / 99.9.
    With 10 bps maker fees on both fills: net = 99.9999 * 0.999 / (99.8001 * 1.001) - 1."""
    state, sig = paper_quotes(quotes([("BTC/USDT", 99.95, 100.05, 0)]), {}, PARAMS, {("binance", "BTC/USDT"): 0.75})
    assert sig.columns == list(SIGNAL_COLUMNS)
    assert sig.height == 5
    first = sig.row(0, named=True)
    assert first["signal_id"] == "market_making/m/0/0"
    assert first["buy_px"] == pytest.approx(99.8001)
    assert first["sell_px"] == pytest.approx(99.9999)
    assert first["qty"] == pytest.approx(1000 / 99.9)
    assert first["gross_edge_bps"] == pytest.approx((99.9999 / 99.8001 - 1) * 1e4)
    assert first["net_edge_bps"] == pytest.approx((99.9999 * 0.999 / (99.8001 * 1.001) - 1) * 1e4)
    assert first["expected_profit_quote"] == pytest.approx(1000 / 99.9 * (99.9999 * 0.999 - 99.8001 * 1.001))
    # level 4: 10 + 4 * 5 = 30 bps either side
    assert sig["buy_px"][4] == pytest.approx(99.9 * (1 - 0.003))
    assert sig["sell_px"][4] == pytest.approx(99.9 * (1 + 0.003))
    assert state == {("binance", "BTC/USDT"): int(T0.timestamp()) // 10}  # 10 s slots since the epoch


def test_skew_is_clipped_and_symmetric() -> None:
    assert inventory_skew_bps(0.5, PARAMS) == 0.0
    assert inventory_skew_bps(1.0, PARAMS) == -20.0
    assert inventory_skew_bps(0.0, PARAMS) == 20.0
    with pytest.raises(ValueError, match="within"):
        inventory_skew_bps(1.5, PARAMS)


def test_one_refresh_per_slot_whatever_the_batching() -> None:
    rows = [
        ("BTC/USDT", 99.95, 100.05, 0),
        ("ETH/USDT", 9.995, 10.005, 100),
        ("BTC/USDT", 99.96, 100.06, 9_000),  # same 10 s slot: no refresh
        ("BTC/USDT", 99.97, 100.07, 10_000),  # next slot
        ("ETH/USDT", 9.996, 10.006, 25_000),
    ]
    frame = quotes(rows)
    _, whole = paper_quotes(frame, {}, PARAMS)
    assert whole["buy_quote_id"].unique(maintain_order=True).to_list() == ["m/0", "m/1", "m/3", "m/4"]
    for cut in range(1, len(rows)):
        state, a = paper_quotes(frame.head(cut), {}, PARAMS)
        _, b = paper_quotes(frame.tail(len(rows) - cut), state, PARAMS)
        assert pl.concat([a, b]).equals(whole)


def test_levels_that_would_cross_the_book_are_dropped() -> None:
    """A 50 bps wide book absorbs a +20 bps skew (all bids stay below its ask); a 4 bps wide book with a -20 bps
    skew (inventory all base) puts the innermost asks below its bid: those would take liquidity."""
    _, wide = paper_quotes(quotes([("BTC/USDT", 99.75, 100.25, 0)]), {}, PARAMS, {("binance", "BTC/USDT"): 0.0})
    assert wide.height == 5
    _, tight = paper_quotes(quotes([("BTC/USDT", 99.98, 100.02, 0)]), {}, PARAMS, {("binance", "BTC/USDT"): 1.0})
    # reservation 99.8: asks at 99.8 * (1.001 + i * 0.0005) = 99.8998, 99.9497 (below the 99.98 bid), 99.9996, ...
    assert tight["signal_id"].to_list() == ["market_making/m/0/2", "market_making/m/0/3", "market_making/m/0/4"]
    assert tight["sell_px"][0] == pytest.approx(99.8 * 1.002)
