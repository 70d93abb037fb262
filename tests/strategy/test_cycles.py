"""N-leg negative cycles over the full Binance market list, across venues, against the textbook reference."""

from __future__ import annotations

import polars as pl
import pytest

from connectors.markets.spot import Market, markets_from_ccxt
from flows.triangular.cycles import build_graph, find_negative_cycles, find_negative_cycles_reference
from tests.strategy.conftest import binance_ccxt_markets
from tests.strategy.planting import fair_prices, plant_cycle, quotes_for

PLANTS = (("USDT", 3, "PA", 30.0), ("USDT", 4, "PB", 25.0), ("BTC", 5, "PC", 40.0))


@pytest.fixture(scope="module")
def full_market() -> tuple[dict[str, Market], pl.DataFrame, pl.DataFrame, list[tuple[list[str], float]]]:
    """All 1,695 recorded Binance markets (halted ones too), arbitrage-free quotes, plus planted 3/4/5-leg cycles."""
    markets = markets_from_ccxt(binance_ccxt_markets(), taker_fee_bps=10.0, include_inactive=True)
    prices = fair_prices(markets)
    real = quotes_for(markets, prices)
    quotes = [real]
    truth = []
    for hub, legs, tag, edge in PLANTS:
        planted, planted_quotes, labels = plant_cycle(markets, prices, hub, legs, tag, edge)
        markets = markets | planted
        quotes.append(planted_quotes)
        truth.append((labels, edge))
    return markets, real, pl.concat(quotes), truth


def test_real_markets_at_fair_prices_have_no_cycle(full_market) -> None:
    markets, real, _, _ = full_market
    graph = build_graph(real, {"binance": markets})
    assert len(graph.labels) == 2 * 1695
    assert find_negative_cycles(graph) == []


def test_every_planted_cycle_is_found_with_its_edge_and_nothing_else(full_market) -> None:
    markets, _, quotes, truth = full_market
    graph = build_graph(quotes, {"binance": markets})
    found = find_negative_cycles(graph, start_assets=("USDT", "BTC"))
    assert sorted((list(f.labels), round(f.net_edge_bps, 6)) for f in found) == sorted(
        (labels, edge) for labels, edge in truth
    )
    assert sorted(len(f.edges) for f in found) == [3, 4, 5]
    reference = find_negative_cycles_reference(graph, start_assets=("USDT", "BTC"))
    assert sorted(f.route for f in reference) == sorted(f.route for f in found)


def test_mispriced_real_market_is_found_through_that_market(full_market) -> None:
    markets, real, _, _ = full_market
    bumped = real.with_columns(
        pl.when(pl.col("symbol") == "ETH/BTC").then(pl.col(c) * 1.01).otherwise(pl.col(c)).alias(c)
        for c in ("bid_px", "ask_px")
    )
    found = find_negative_cycles(build_graph(bumped, {"binance": markets}), max_cycles=5)
    assert found, "a 1% mispricing beats 3 x (10 bps fee + 5 bps half spread)"
    for f in found:
        assert "binance:ETH/BTC:sell" in f.labels
        assert f.net_edge_bps > 0


def test_hand_worked_four_leg_cycle_with_fees_and_size() -> None:
    """USDT > A > B > C > USDT at 10 bps per leg, worked by hand.

    Legs: buy A/USDT at 2.0 (100 A offered: takes 200 USDT), buy B/A at 0.5 (1000 B: takes 500 A), buy C/B at 4.0
    (30 C: takes 120 B), sell C/USDT at 16.4 (50 C bid). Gross rate 16.4 / (2.0 * 0.5 * 4.0) = 1.025, net
    1.025 * 0.999^4. One USDT arrives at the legs as 1, 0.999/2 A, 0.999^2 B and 0.999^3/4 C, so the legs allow
    200, 1000/0.999, 120/0.999^2 and 200/0.999^3 USDT: the C/B leg (120 B) is the thinnest.
    """
    fee = 10.0
    markets = {
        "A/USDT": Market("A/USDT", "A", "USDT", fee),
        "B/A": Market("B/A", "B", "A", fee),
        "C/B": Market("C/B", "C", "B", fee),
        "C/USDT": Market("C/USDT", "C", "USDT", fee),
    }
    quotes = pl.DataFrame(
        [
            ("binance", "A/USDT", 1.99, 100.0, 2.0, 100.0),
            ("binance", "B/A", 0.49, 1000.0, 0.5, 1000.0),
            ("binance", "C/B", 3.99, 30.0, 4.0, 30.0),
            ("binance", "C/USDT", 16.4, 50.0, 16.5, 50.0),
        ],
        schema=["exchange", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty"],
        orient="row",
    )
    [found] = find_negative_cycles(build_graph(quotes, {"binance": markets}))
    keep = 1 - fee / 1e4
    assert found.route == "binance:USDT>binance:A>binance:B>binance:C>binance:USDT"
    assert found.net_edge_bps == pytest.approx((16.4 / (2.0 * 0.5 * 4.0) * keep**4 - 1) * 1e4)
    assert found.max_start == pytest.approx(min(200.0, 1000 / keep, 120 / keep**2, 200 / keep**3))
    assert found.max_start == pytest.approx(120 / keep**2)


def test_cross_venue_cycle_needs_configured_transfer_costs() -> None:
    """BTC is 1% dearer on okx: buy on binance, move BTC, sell on okx, move USDT back."""
    markets = {ex: {"BTC/USDT": Market("BTC/USDT", "BTC", "USDT", 10.0)} for ex in ("binance", "okx")}
    quotes = pl.DataFrame(
        [("binance", "BTC/USDT", 59990.0, 2.0, 60000.0, 1.0), ("okx", "BTC/USDT", 60600.0, 0.5, 60610.0, 2.0)],
        schema=["exchange", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty"],
        orient="row",
    )
    assert find_negative_cycles(build_graph(quotes, markets)) == []  # no transfers: two separate venues
    [found] = find_negative_cycles(build_graph(quotes, markets, {"BTC": 5.0, "USDT": 5.0}))
    assert found.labels == (
        "binance:BTC/USDT:buy",
        "transfer:binance->okx:BTC",
        "okx:BTC/USDT:sell",
        "transfer:okx->binance:USDT",
    )
    keep, move = 1 - 10.0 / 1e4, 1 - 5.0 / 1e4
    assert found.net_edge_bps == pytest.approx((60600.0 / 60000.0 * keep**2 * move**2 - 1) * 1e4)
    # okx takes 0.5 BTC; 1 USDT arrives there as keep*move/60000 BTC
    assert found.max_start == pytest.approx(min(60000.0, 0.5 * 60000.0 / (keep * move)))
    too_dear = find_negative_cycles(build_graph(quotes, markets, {"BTC": 80.0, "USDT": 10.0}))
    assert too_dear == []


def test_untradable_rows_are_skipped_not_fatal() -> None:
    markets = {"binance": {"BTC/USDT": Market("BTC/USDT", "BTC", "USDT", 10.0)}}
    quotes = pl.DataFrame(
        [("binance", "BTC/USDT", None, 1.0, 60000.0, 1.0), ("binance", "XYZ/USDT", 1.0, 1.0, 1.1, 1.0)],
        schema={"exchange": pl.String, "symbol": pl.String, "bid_px": pl.Float64, "bid_qty": pl.Float64,
                "ask_px": pl.Float64, "ask_qty": pl.Float64},
        orient="row",
    )  # fmt: skip
    graph = build_graph(quotes, markets)
    assert graph.labels == () and find_negative_cycles(graph) == []


def test_rejected_cycles_do_not_mask_a_reportable_one_through_the_same_edge() -> None:
    """okx's BTC/USDT bid is 1% rich: okx's own triangle and the binance -> okx transfer cycle both sell into it.
    Asking only for cross-venue cycles must still find the transfer cycle, whichever the search meets first."""
    fair = {"BTC/USDT": 60000.0, "ETH/USDT": 3000.0, "ETH/BTC": 0.05}
    rows, markets = [], {}
    for ex in ("binance", "okx"):
        markets[ex] = {s: Market(s, *s.split("/"), 10.0) for s in fair}
        for sym, mid in fair.items():
            lift = 1.01 if (ex, sym) == ("okx", "BTC/USDT") else 1.0
            rows.append((ex, sym, mid * lift * 0.9999, 10.0, mid * lift * 1.0001, 10.0))
    quotes = pl.DataFrame(rows, schema=["exchange", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty"], orient="row")
    graph = build_graph(quotes, markets, {"BTC": 5.0, "USDT": 5.0, "ETH": 5.0})
    moves = lambda f: any(label.startswith("transfer:") for label in f.labels)
    found = find_negative_cycles(graph, accept=moves)
    assert found and all(moves(f) for f in found)
    assert any({"okx:BTC/USDT:sell", "binance:BTC/USDT:buy"} <= set(f.labels) for f in found)
    single = find_negative_cycles(graph, accept=lambda f: not moves(f))
    assert [f.route for f in single] == ["okx:USDT>okx:ETH>okx:BTC>okx:USDT"]
