"""Depth-aware sizing on a real Binance depth snapshot (NKNUSDT, cryptofeed recording) and a hand-built cycle."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from flows.common.depth import book_sides, buy_leg, chain_size, cross_size, levels, sell_leg
from tests.strategy.conftest import FIXTURES


def snapshot(symbol: str) -> dict:
    for line in (FIXTURES / "depth_snapshots.txt").read_text().splitlines():
        url, _, rest = line.partition(" -> ")
        if f"symbol={symbol}&" in url:
            return json.loads(rest.partition(": ")[2])
    raise KeyError(symbol)


@pytest.fixture(scope="module")
def nkn() -> dict:
    return snapshot("NKNUSDT")


def test_levels_parse_real_snapshot_and_reject_disorder(nkn: dict) -> None:
    px, qty = levels(nkn["asks"], "asks")
    assert (px[0], qty[0], len(px)) == (0.3525, 3959.0, 20)
    with pytest.raises(ValueError, match="ascending"):
        levels(nkn["asks"][::-1], "asks")
    with pytest.raises(ValueError, match="positive"):
        levels([["0", "1"]], "bids")
    assert levels([["1.0", "0"], ["0.9", "2"]], "bids")[1].tolist() == [2.0]  # deleted level dropped


def test_cross_size_and_vwaps_on_real_depth_equal_a_hand_walk(nkn: dict) -> None:
    """Buy NKN on the recorded Binance asks; sell on a venue quoting the recorded bids 0.5% higher.

    Fees 10 bps each, threshold 10 bps: the trade clears while 0.999 * S(q) >= 1.001 * 1.001 * C(q), with C the
    cost of q NKN on the asks and S the proceeds on the bids. Walking levels by hand:
      asks: 3959 @ 0.3525, 3199 @ 0.3526, 4201 @ 0.3527 (cumulative 3959, 7158, 11359)
      bids x 1.005: 672 @ 0.3521, 1144 @ 0.3520, 3260 @ 0.3519, 3052 @ 0.3518, 15356 @ 0.3516 (cum ... 8128, 23484)
    At q = 8128 the surplus is still positive; from there each NKN costs 0.3527 and sells for 0.3516 * 1.005, which
    loses, so q* = 8128 + h(8128) / (1.001^2 * 0.3527 - 0.999 * 0.3516 * 1.005).
    """
    asks = levels(nkn["asks"], "asks")
    bid_px, bid_qty = levels(nkn["bids"], "bids")
    got = cross_size(asks, (bid_px * 1.005, bid_qty), 10.0, 10.0, 10.0)

    cost_8128 = 3959 * 0.3525 + 3199 * 0.3526 + (8128 - 7158) * 0.3527
    proceeds_8128 = 1.005 * (672 * 0.3521 + 1144 * 0.3520 + 3260 * 0.3519 + 3052 * 0.3518)
    surplus = 0.999 * proceeds_8128 - 1.001 * 1.001 * cost_8128
    q = 8128 + surplus / (1.001 * 1.001 * 0.3527 - 0.999 * 0.3516 * 1.005)
    buy_vwap = (3959 * 0.3525 + 3199 * 0.3526 + (q - 7158) * 0.3527) / q
    sell_vwap = (proceeds_8128 + (q - 8128) * 0.3516 * 1.005) / q

    assert q == pytest.approx(8739.33, abs=0.01)
    assert got.qty_base == pytest.approx(q, rel=1e-12)
    assert got.buy_vwap == pytest.approx(buy_vwap, rel=1e-12)
    assert got.sell_vwap == pytest.approx(sell_vwap, rel=1e-12)
    assert got.net_edge_bps == pytest.approx(10.0, abs=1e-9)  # exactly at the threshold
    assert got.limited_by == "edge"


def test_books_table_rows_size_like_raw_levels(nkn: dict) -> None:
    """A ``books`` row (lists of floats, as connectors write them) gives the same sides as the raw snapshot."""
    row = {
        "bid_px": [float(p) for p, _ in nkn["bids"]],
        "bid_qty": [float(q) for _, q in nkn["bids"]],
        "ask_px": [float(p) for p, _ in nkn["asks"]],
        "ask_qty": [float(q) for _, q in nkn["asks"]],
    }
    bids, asks = book_sides(row)
    raw_bids, raw_asks = levels(nkn["bids"], "bids"), levels(nkn["asks"], "asks")
    assert np.array_equal(bids[0], raw_bids[0]) and np.array_equal(asks[1], raw_asks[1])
    with pytest.raises(ValueError, match="different lengths"):
        book_sides(row | {"bid_qty": row["bid_qty"][:-1]})


def test_cross_size_other_limits(nkn: dict) -> None:
    asks = levels(nkn["asks"], "asks")
    bid_px, bid_qty = levels(nkn["bids"], "bids")
    same_venue = cross_size(asks, (bid_px, bid_qty), 10.0, 10.0, 10.0)
    assert same_venue.qty_base == 0.0 and math.isnan(same_venue.buy_vwap)
    assert same_venue.net_edge_bps == pytest.approx((0.3521 * 0.999 / (0.3525 * 1.001) - 1) * 1e4)
    # 5 bps slippage: one side's VWAP reaches 5 bps from its best price before the edge runs out
    slipped = cross_size(asks, (bid_px * 1.006, bid_qty), 10.0, 10.0, 10.0, slippage_tolerance_bps=5.0)
    assert slipped.limited_by == "slippage"
    assert max(slipped.buy_vwap / 0.3525 - 1, 1 - slipped.sell_vwap / (0.3521 * 1.006)) == pytest.approx(5e-4)
    capped = cross_size(asks, (bid_px * 1.006, bid_qty), 10.0, 10.0, 10.0, max_notional_quote=1000.0)
    assert capped.limited_by == "notional"
    assert capped.qty_base == pytest.approx(1000.0 / 0.3525)
    deep = cross_size(asks, (bid_px * 1.05, bid_qty), 10.0, 10.0, 10.0)
    assert deep.limited_by == "depth"  # 5% apart: every recorded level pays
    assert deep.qty_base == pytest.approx(min(asks[1].sum(), bid_qty.sum()))


# Three hand-built books: USDT > BTC > ETH > USDT at 10 bps per leg.
BTC_USDT_ASKS = (np.array([100.0, 101.0]), np.array([1.0, 1.0]))
ETH_BTC_ASKS = (np.array([0.1, 0.102]), np.array([5.0, 10.0]))
ETH_USDT_BIDS = (np.array([10.3, 10.2]), np.array([6.0, 10.0]))


def test_hand_worked_triangular_depth_with_fees() -> None:
    """From 100 USDT on, every leg sits on its second level (hand check below), so the marginal rate is constant:
    r = (0.999 / 101) * (0.999 / 0.102) * (10.2 * 0.999). With F(100) walked by hand and a 100 bps threshold,
    x* = 100 + (F(100) - 1.01 * 100) / (1.01 - r).
    """
    keep = 0.999
    btc_100 = 1.0 * keep  # 100 USDT take the whole first BTC level
    eth_100 = 5.0 * keep + (btc_100 - 0.5) / 0.102 * keep  # 0.5 BTC empty the first ETH level
    assert eth_100 > 6.0  # ... and that much ETH empties the first ETH/USDT bid level
    usdt_100 = 6.0 * 10.3 * keep + (eth_100 - 6.0) * 10.2 * keep
    r = (keep / 101.0) * (keep / 0.102) * (10.2 * keep)
    x = 100.0 + (usdt_100 - 1.01 * 100.0) / (1.01 - r)
    btc = btc_100 + (x - 100.0) / 101.0 * keep
    eth = eth_100 + (btc - btc_100) / 0.102 * keep

    got = chain_size(
        [buy_leg(BTC_USDT_ASKS, 10.0), buy_leg(ETH_BTC_ASKS, 10.0), sell_leg(ETH_USDT_BIDS, 10.0)],
        min_net_edge_bps=100.0,
    )
    assert got.limited_by == "edge"
    assert got.start_amount == pytest.approx(x, rel=1e-12)
    assert got.net_edge_bps == pytest.approx(100.0, abs=1e-9)
    assert got.leg_outputs == pytest.approx((btc, eth, x * 1.01))
    assert got.leg_vwaps == pytest.approx((x / (btc / keep), btc / (eth / keep), (x * 1.01 / keep) / eth))


def test_chain_size_depth_position_and_slippage_limits() -> None:
    legs = [buy_leg(BTC_USDT_ASKS, 10.0), buy_leg(ETH_BTC_ASKS, 10.0), sell_leg(ETH_USDT_BIDS, 10.0)]
    # at 20 bps the cycle still pays when ETH/BTC's 15 ETH are all bought
    deep = chain_size(legs, 20.0)
    assert deep.limited_by == "depth"
    assert deep.leg_outputs[1] == pytest.approx(15.0 * 0.999)  # every ETH offered, after the fee
    assert chain_size(legs, 20.0, max_start=50.0).start_amount == 50.0
    slipped = chain_size(legs, 20.0, slippage_tolerance_bps=50.0)
    assert slipped.limited_by == "slippage"
    assert max(slipped.leg_vwaps[0] / 100.0, slipped.leg_vwaps[1] / 0.1) <= 1.005 + 1e-12
    none = chain_size(legs, 300.0)
    assert none.start_amount == 0.0
    assert none.net_edge_bps == pytest.approx(((10.3 / (100.0 * 0.1)) * 0.999**3 - 1) * 1e4)
