"""Triangular arbitrage: cycles from real Binance metadata, batch evaluation, sizing, lots, reasons, state."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from connectors.markets.spot import Market
from flows.common.rejections import REJECTION_SCHEMA
from flows.triangular.evaluate import SIGNAL_COLUMNS, TriangularParams, evaluate_batch
from flows.triangular.markets import CycleBook, build_cycle_book, cycles_from_path, discover_cycles
from flows.triangular.state import empty_state, latest_at

T0 = datetime(2024, 8, 8, 23, 55, tzinfo=UTC)
PATHS = ("BTC/USDT-ETH/BTC-ETH/USDT", "BTC/USDT-BNB/BTC-BNB/USDT")
FEE = 10.0 / 1e4


def quotes(rows: list[tuple], exchange: str = "binance") -> pl.DataFrame:
    """rows: (symbol, bid, bid_qty, ask, ask_qty, ms after T0[, ts_exchange ms][, quarantined])."""
    data = []
    for i, r in enumerate(rows):
        sym, bid, bq, ask, aq, ms = r[:6]
        ts_ex = T0 + timedelta(milliseconds=r[6]) if len(r) > 6 and r[6] is not None else None
        data.append(
            {
                "exchange": exchange,
                "symbol": sym,
                "bid_px": bid,
                "bid_qty": bq,
                "ask_px": ask,
                "ask_qty": aq,
                "ts_exchange": ts_ex,
                "ts_recv": T0 + timedelta(milliseconds=ms),
                "seq": i,
                "source": "test",
                "quote_id": f"t/{i}",
                "quarantined": bool(r[7]) if len(r) > 7 else False,
            }
        )
    return pl.DataFrame(
        data, schema_overrides={"ts_exchange": pl.Datetime("us", "UTC"), "ts_recv": pl.Datetime("us", "UTC")}
    )


@pytest.fixture(scope="module")
def book(binance_markets: dict[str, Market]) -> CycleBook:
    return build_cycle_book(binance_markets, PATHS, discover=True, start_assets=("USDT", "BTC", "ETH", "BNB"))


PARAMS = TriangularParams("binance", 20.0, 10_000.0, max_quote_age_ms=1000.0, max_skew_ms=500.0, gap_timeout_ms=1000.0)


def test_configured_path_gives_both_directions_with_sides(binance_markets: dict[str, Market]) -> None:
    fwd, rev = cycles_from_path("BTC/USDT-ETH/BTC-ETH/USDT", binance_markets)
    assert fwd.route == "USDT>BTC>ETH>USDT"
    assert fwd.legs == (("BTC/USDT", "buy"), ("ETH/BTC", "buy"), ("ETH/USDT", "sell"))
    assert rev.route == "USDT>ETH>BTC>USDT"
    assert rev.legs == (("ETH/USDT", "buy"), ("ETH/BTC", "sell"), ("BTC/USDT", "sell"))


@pytest.mark.parametrize(
    ("path", "message"),
    [("BTC/USDT-XYZ/BTC-ETH/USDT", "unknown markets"), ("BTC/USDT-ETH/BTC-BNB/USDT", "does not trade")],
)
def test_bad_configured_path_is_a_clear_error(binance_markets: dict[str, Market], path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cycles_from_path(path, binance_markets)


def test_discovered_cycles_close_and_come_in_both_directions(binance_markets: dict[str, Market]) -> None:
    cycles = discover_cycles(binance_markets, ("USDT", "BTC", "ETH", "BNB"))
    routes = {c.route for c in cycles}
    assert {"USDT>BTC>ETH>USDT", "USDT>ETH>BTC>USDT", "USDT>BNB>BTC>USDT", "USDT>BTC>BNB>USDT"} <= routes
    for c in cycles:
        held = c.start_asset
        for symbol, side in c.legs:
            m = binance_markets[symbol]
            assert held == (m.quote if side == "buy" else m.base)
            held = m.base if side == "buy" else m.quote
        assert held == c.start_asset
        assets = c.route.split(">")
        assert ">".join([assets[0], *assets[-2:0:-1], assets[0]]) in routes  # the reverse direction exists
    assert len(routes) == len(cycles) > 3000  # ~1,500 triangles x 2 directions among 1,262 trading markets


def test_hand_worked_cycle_with_fees_and_thinnest_leg(book: CycleBook) -> None:
    """USDT > BTC > ETH > USDT at 10 bps per leg, worked by hand.

    1 USDT buys 0.999/60000 BTC, which buy 0.999^2/(60000*0.05) ETH, which sell for 3030*0.999^3/3000 USDT.
    Capacities in start USDT: leg 1 0.5*60000 = 30000; leg 2 takes 4*0.05 = 0.2 BTC = 0.2*60000/0.999 USDT;
    leg 3 takes 3 ETH = 3*3000/0.999^2 USDT (the thinnest).
    """
    out = evaluate_batch(
        quotes(
            [
                ("BTC/USDT", 59990.0, 1.0, 60000.0, 0.5, 0),
                ("ETH/BTC", 0.0499, 10.0, 0.05, 4.0, 10),
                ("ETH/USDT", 3030.0, 3.0, 3031.0, 3.0, 20),
            ]
        ),
        None,
        book,
        PARAMS,
    )
    net = 3030.0 / (60000.0 * 0.05) * (1 - FEE) ** 3 - 1
    start = min(30000.0, 0.2 * 60000.0 / (1 - FEE), 3 * 3000.0 / (1 - FEE) ** 2, 10_000.0)
    assert start == pytest.approx(9018.027036, rel=1e-9)
    assert out.signals.columns == list(SIGNAL_COLUMNS)
    assert out.signals.height == 1
    s = out.signals.row(0, named=True)
    assert s["signal_id"] == "triangular/t/2/USDT>BTC>ETH>USDT"
    assert s["symbol"] == "USDT>BTC>ETH>USDT"
    assert s["gross_edge_bps"] == pytest.approx(100.0)
    assert s["net_edge_bps"] == pytest.approx(net * 1e4)
    assert s["net_edge_bps"] == pytest.approx(69.7303, abs=1e-4)
    assert s["notional_quote"] == pytest.approx(start)
    assert s["expected_profit_quote"] == pytest.approx(start * net)
    assert s["qty"] == pytest.approx(math.floor(start / 60000.0 / 1e-5) * 1e-5)  # BTC lot step 0.00001
    assert (s["buy_px"], s["sell_px"]) == (60000.0, 3030.0)
    assert (s["age_ms"], s["skew_ms"]) == (pytest.approx(20.0), pytest.approx(20.0))
    assert (s["buy_quote_id"], s["sell_quote_id"]) == ("t/0", "t/2")
    legs = out.signal_legs
    assert legs["side"].to_list() == ["buy", "buy", "sell"]
    assert legs["qty_base"].to_list() == pytest.approx(
        [start / 60000.0, start * (1 - FEE) / 60000.0 / 0.05, start * (1 - FEE) ** 2 / 3000.0]
    )
    assert legs["qty_base"][2] == pytest.approx(3.0)  # the thinnest leg is used up
    assert legs["output_amount"][2] == pytest.approx(start * (1 + net))
    assert out.rejections.height == 0


def test_position_limit_caps_the_start_amount(book: CycleBook) -> None:
    out = evaluate_batch(
        quotes(
            [
                ("BTC/USDT", 59990.0, 1.0, 60000.0, 5.0, 0),
                ("ETH/BTC", 0.0499, 10.0, 0.05, 40.0, 10),
                ("ETH/USDT", 3030.0, 30.0, 3031.0, 3.0, 20),
            ]
        ),
        None,
        book,
        replace(PARAMS, max_position_usdt=2500.0),
    )
    assert out.signals["notional_quote"].to_list() == [pytest.approx(2500.0)]


def test_evaluates_only_cycles_the_update_touches_with_all_legs_quoted(book: CycleBook) -> None:
    rows = [
        ("BTC/USDT", 59990.0, 1.0, 60000.0, 0.5, 0),
        ("ETH/BTC", 0.0498, 10.0, 0.05, 4.0, 10),
        ("LTC/USDT", 150.0, 10.0, 150.1, 10.0, 15),  # its cycles miss legs: no evaluation
        ("ETH/USDT", 2990.0, 3.0, 2991.0, 3.0, 20),  # completes USDT>BTC>ETH>USDT (both directions)
        ("BTC/USDT", 59991.0, 1.0, 60001.0, 0.5, 30),  # touches both directions again
        ("BNB/USDT", 500.0, 1.0, 500.1, 1.0, 40),  # BNB/BTC never quoted: nothing
    ]
    out = evaluate_batch(quotes(rows), None, book, PARAMS)
    assert out.evaluations == 4
    assert out.signals.height == 0 and out.rejections.height == 0  # fair prices: gross edge negative both ways
    assert out.state.last["symbol"].to_list() == ["BNB/USDT", "BTC/USDT", "ETH/BTC", "ETH/USDT", "LTC/USDT"]


def test_reverse_direction_signals_when_prices_invert(book: CycleBook) -> None:
    out = evaluate_batch(
        quotes(
            [
                ("BTC/USDT", 60000.0, 1.0, 60001.0, 0.5, 0),
                ("ETH/BTC", 0.0505, 10.0, 0.0506, 4.0, 10),
                ("ETH/USDT", 2969.0, 3.0, 2970.0, 3.0, 20),
            ]
        ),
        None,
        book,
        PARAMS,
    )
    # USDT > ETH > BTC > USDT: 1/2970 * 0.0505 * 60000 = 1.0202 gross
    assert out.signals["symbol"].to_list() == ["USDT>ETH>BTC>USDT"]
    assert out.signals["gross_edge_bps"][0] == pytest.approx((0.0505 * 60000 / 2970 - 1) * 1e4)


def test_state_carries_across_batches_same_output_for_any_split(book: CycleBook) -> None:
    rows = [
        ("BTC/USDT", 59990.0, 1.0, 60000.0, 0.5, 0),
        ("ETH/BTC", 0.0499, 10.0, 0.05, 4.0, 10),
        ("ETH/USDT", 3030.0, 3.0, 3031.0, 3.0, 20),
        ("ETH/USDT", 3010.0, 3.0, 3011.0, 3.0, 30),
        ("BTC/USDT", 59000.0, 1.0, 59010.0, 0.5, 40),
        ("ETH/BTC", 0.0499, 10.0, 0.0501, 4.0, 50),
    ]
    frame = quotes(rows)
    whole = evaluate_batch(frame, None, book, PARAMS)
    # qualifies at t/2 (signal), fees eat it at t/3 (rejection, closes the run), qualifies again from t/4 (signal)
    # and stays qualifying at t/5 (no second signal for one opportunity)
    assert whole.signals["signal_id"].to_list() == [
        "triangular/t/2/USDT>BTC>ETH>USDT",
        "triangular/t/4/USDT>BTC>ETH>USDT",
    ]
    assert whole.rejections.select("trigger_id", "reason").rows() == [("t/3", "fees")]
    assert whole.edge_events.select("event_id", "qualifying").rows() == [
        ("t/2/USDT>BTC>ETH>USDT", True),
        ("t/3/USDT>BTC>ETH>USDT", False),
        ("t/4/USDT>BTC>ETH>USDT", True),
        ("t/5/USDT>BTC>ETH>USDT", True),
    ]
    assert whole.state.open == {"binance:USDT>BTC>ETH>USDT": T0 + timedelta(milliseconds=50)}
    for cut in range(1, len(rows)):
        a = evaluate_batch(frame.head(cut), empty_state(), book, PARAMS)
        b = evaluate_batch(frame.tail(len(rows) - cut), a.state, book, PARAMS)
        assert pl.concat([a.signals, b.signals]).equals(whole.signals)
        assert pl.concat([a.rejections, b.rejections]).equals(whole.rejections)
        assert b.state.last.equals(whole.state.last)
        assert (b.state.open, b.state.reasons) == (whole.state.open, whole.state.reasons)
        assert pl.concat([a.edge_events, b.edge_events]).equals(whole.edge_events)


BASE = [
    ("BTC/USDT", 59990.0, 1.0, 60000.0, 0.5, 0),
    ("ETH/BTC", 0.0499, 10.0, 0.05, 4.0, 10),
]


@pytest.mark.parametrize(
    ("last", "params", "reason"),
    [
        # gross +20 bps, net after 3 x 10 bps fees about -10 bps
        (("ETH/USDT", 3006.0, 3.0, 3007.0, 3.0, 20), PARAMS, "fees"),
        # the BTC/USDT leg is 1.5 s old when ETH/USDT updates
        (("ETH/USDT", 3030.0, 3.0, 3031.0, 3.0, 1500), PARAMS, "stale_leg"),
        # venue clocks 800 ms apart (receive clocks close)
        (("ETH/USDT", 3030.0, 3.0, 3031.0, 3.0, 20, 800), PARAMS, "skew"),
        # 0.000001 ETH on the last leg: a 0.003 USDT start buys 5e-8 BTC, which floors to 0 on the 0.00001 BTC lot
        (("ETH/USDT", 3030.0, 0.000001, 3031.0, 3.0, 20), PARAMS, "thin_size"),
        # 0.002 ETH: lots fine, but ~6 USDT is below BTC/USDT's and ETH/USDT's 10 USDT minimum notional
        (("ETH/USDT", 3030.0, 0.002, 3031.0, 3.0, 20), PARAMS, "min_notional"),
        (("ETH/USDT", 3030.0, 3.0, 3031.0, 3.0, 20, None, True), PARAMS, "quarantined_input"),
    ],
)
def test_every_rejection_reason_of_a_positive_gross_cycle(
    book: CycleBook, last: tuple, params: TriangularParams, reason: str
) -> None:
    rows = list(BASE)
    if len(last) > 7:  # a clean ETH/USDT quote, a quarantined update of it, then BTC/USDT triggers an evaluation
        rows += [("ETH/USDT", 3030.0, 3.0, 3031.0, 3.0, 15), last]
        last = (*BASE[0][:5], 25)
    out = evaluate_batch(quotes([*rows, last]), None, book, params)
    final = out.rejections.filter(pl.col("trigger_id") == f"t/{len(rows)}")
    assert final["reason"].to_list() == [reason]
    assert final["gross_edge_bps"][0] > 0
    assert out.signals.filter(pl.col("signal_id").str.contains(f"t/{len(rows)}/")).height == 0
    assert out.rejections.schema == pl.Schema(REJECTION_SCHEMA)


def test_risk_block_when_the_start_asset_cannot_be_valued(binance_markets: dict[str, Market]) -> None:
    book = build_cycle_book(binance_markets, (), discover=True, start_assets=("BTC",))
    rows = [
        ("ETH/BTC", 0.0499, 10.0, 0.05, 4.0, 0),
        ("BNB/ETH", 0.1, 100.0, 0.1001, 100.0, 10),
        ("BNB/BTC", 0.0051, 100.0, 0.00511, 100.0, 20),  # BTC>ETH>BNB>BTC gross +2%; BTC/USDT never quoted
    ]
    out = evaluate_batch(quotes(rows), None, book, PARAMS)
    assert out.signals.height == 0
    assert out.rejections.filter(pl.col("route") == "binance:BTC>ETH>BNB>BTC")["reason"].to_list() == ["risk_block"]
    valued = evaluate_batch(quotes([("BTC/USDT", 59990.0, 1.0, 60000.0, 0.5, 25)]), out.state, book, PARAMS)
    assert valued.evaluations == 0  # the cycles through BTC/USDT miss legs; the next BNB/BTC update is valued
    again = evaluate_batch(quotes([rows[2][:5] + (30,)]), valued.state, book, PARAMS)
    assert again.signals["symbol"].to_list() == ["BTC>ETH>BNB>BTC"]
    assert again.signals["notional_quote"][0] <= 10_000.0 / 59995.0 + 1e-12


def test_quotes_of_another_exchange_are_a_wiring_error(book: CycleBook) -> None:
    with pytest.raises(ValueError, match="key by exchange"):
        evaluate_batch(quotes([BASE[0]], exchange="okx"), None, book, PARAMS)


def test_snapshots_at_positions_equal_the_state_after_that_prefix(book: CycleBook) -> None:
    rows = [
        ("BTC/USDT", 59990.0, 1.0, 60000.0, 0.5, 0),
        ("ETH/BTC", 0.0499, 10.0, 0.05, 4.0, 10),
        ("LTC/USDT", 150.0, 10.0, 150.1, 10.0, 15),
        ("ETH/USDT", 3030.0, 3.0, 3031.0, 3.0, 20, None, True),  # quarantined: flags ETH/USDT, no prices
        ("ETH/USDT", 3010.0, 3.0, 3011.0, 3.0, 30),
        ("BTC/USDT", 59000.0, 1.0, 59010.0, 0.5, 40),
    ]
    first = evaluate_batch(quotes(rows[:2]), None, book, PARAMS)
    frame = quotes(rows[2:])
    snaps = latest_at(frame, first.state, book, [0, 1, 2, 3])
    for p in range(4):
        snap = snaps.filter(pl.col("snap") == p).drop("snap")
        assert snap.equals(evaluate_batch(frame.head(p + 1), first.state, book, PARAMS).state.last), p
    eth = snaps.filter((pl.col("snap") == 1) & (pl.col("symbol") == "ETH/USDT"))
    assert eth["quarantined"].to_list() == [True]
