"""Paper execution: fills read from the quote stream at signal time + latency; slippage, partials, leg failures."""

from __future__ import annotations

import polars as pl
import pytest
from risk_builders import quotes, risk_config, run, signal, ts, us

from flows.risk.engine import RiskEngine
from flows.risk.execution import fill_leg, walk_levels

BAL = {"binance": {"USDT": 100_000.0, "BTC": 5.0}, "okx": {"USDT": 100_000.0, "BTC": 5.0}}
FEES = {"binance": 10.0, "okx": 10.0}


def engine(**overrides) -> RiskEngine:
    cfg = risk_config(
        **{
            "balances": BAL,
            "reorder_grace_ms": 0,
            "min_liquidity_usdt": 0,
            "slippage_tolerance_bps": 10,
            "execution_timeout_ms": 500,
        }
        | overrides
    )
    return RiskEngine(cfg, FEES, rebalance_threshold=0.5)


def market(ms: float, ask_b: float = 100.0, bid_o: float = 100.5, bid_qty_o: float = 10.0):
    """binance 99.9/ask_b, okx bid_o/100.6 (sizes 10 unless told)."""
    return quotes(
        ("binance", "BTC/USDT", 99.9, 10, ask_b, 10, ms), ("okx", "BTC/USDT", bid_o, bid_qty_o, 100.6, 10, ms)
    )


def pnl_row(out: dict[str, pl.DataFrame], signal_id: str = "s1") -> dict:
    return out["pnl"].filter(pl.col("signal_id") == signal_id).to_dicts()[0]


SIG = signal("s1", 1000, "binance", "okx", 100.0, 100.5, 1.0)
EXPECTED_PROFIT = 0.5 - 0.1 - 0.1005
EXPECTED_EDGE_BPS = EXPECTED_PROFIT / 100.0 * 1e4


def test_latency_zero_realized_edge_equals_expected_edge():
    _, out = run(engine(latency_ms=0), [[market(0)], [SIG], [market(2000)]])
    row = pnl_row(out)
    assert row["status"] == "filled"
    assert row["expected_edge_bps"] == pytest.approx(EXPECTED_EDGE_BPS, rel=1e-12)
    assert row["realized_edge_bps"] == pytest.approx(row["expected_edge_bps"], rel=1e-12)
    assert row["net_pnl_quote"] == pytest.approx(EXPECTED_PROFIT, rel=1e-12)


def test_ask_moving_up_within_the_latency_lowers_realized_edge_by_exactly_the_move():
    # binance's ask goes 100.00 -> 100.05 (5 bps) 20 ms after the signal; the order arrives 50 ms after it
    batches = [[market(0)], [SIG], [market(1020, ask_b=100.05)], [market(3000, ask_b=100.05)]]
    _, out = run(engine(latency_ms=50), batches)
    row = pnl_row(out)
    move_bps = 0.05 / 100.0 * 1e4
    assert row["status"] == "filled"
    # the move is paid on the bought quantity, and so is the taker fee on the moved amount
    assert row["realized_edge_bps"] == pytest.approx(EXPECTED_EDGE_BPS - move_bps * (1 + 10 / 1e4), rel=1e-9)
    buy = out["fills"].filter(pl.col("fill_id") == "s1/buy").to_dicts()[0]
    assert buy["px"] == pytest.approx(100.05)
    assert buy["book_ts_recv"].timestamp() * 1e6 == us(1020)
    assert buy["ts_fill"].timestamp() * 1e6 == us(1050)


def test_bid_moving_down_within_the_latency_lowers_realized_edge_by_exactly_the_move():
    batches = [[market(0)], [SIG], [market(1030, bid_o=100.45)], [market(3000, bid_o=100.45)]]
    _, out = run(engine(latency_ms=50), batches)
    move_bps = 0.05 / 100.0 * 1e4  # per unit of the signal's buy notional
    assert pnl_row(out)["realized_edge_bps"] == pytest.approx(EXPECTED_EDGE_BPS - move_bps * (1 - 10 / 1e4), rel=1e-9)


def test_a_move_after_the_latency_does_not_touch_the_fill():
    batches = [[market(0)], [SIG], [market(1080, ask_b=100.05)], [market(3000, ask_b=100.05)]]
    _, out = run(engine(latency_ms=50), batches)
    assert pnl_row(out)["realized_edge_bps"] == pytest.approx(EXPECTED_EDGE_BPS, rel=1e-12)


def test_leg_failure_books_the_unwind_cost_in_pnl():
    # okx's bid collapses before the order arrives (beyond the 10 bps tolerance): the buy leg fills, the sell does not;
    # 500 ms later (execution timeout) the bought BTC is sold back on binance at its bid then, 99.80
    batches = [
        [market(0)], [SIG], [market(1020, bid_o=100.0)],
        [quotes(("binance", "BTC/USDT", 99.8, 10, 99.9, 10, 1300))], [market(3000, bid_o=100.0)],
    ]  # fmt: skip
    _, out = run(engine(latency_ms=50), batches)
    row = pnl_row(out)
    cost = (100.0 - 99.8) + 0.1 + 0.0998  # round trip loss + both taker fees
    assert row["status"] == "leg_failure"
    assert row["reason"] == "buy:filled,sell:slippage"
    assert row["unwind_cost_quote"] == pytest.approx(cost, rel=1e-12)
    assert row["net_pnl_quote"] == pytest.approx(-cost, rel=1e-12)
    assert row["ts_decided"].timestamp() * 1e6 == us(1550)
    last = out["risk_metrics"].sort("ts_metrics").to_dicts()[-1]
    assert last["realized_pnl_usdt"] - last["fees_usdt"] == pytest.approx(-cost, rel=1e-12)
    assert last["success_rate"] == 0.0


def test_partial_fill_above_threshold_keeps_the_hedged_part_and_unwinds_the_excess():
    # okx shows only 0.9 BTC at its bid: 90 % >= 80 % -> keep 0.9 hedged, sell the extra 0.1 back on binance
    batches = [[market(0, bid_qty_o=0.9)], [SIG], [market(3000, bid_qty_o=0.9)]]
    _, out = run(engine(latency_ms=0), batches)
    row = pnl_row(out)
    assert row["status"] == "partial"
    assert row["qty_matched"] == pytest.approx(0.9)
    unwind = (0.1 * 100.0 + 0.1 * 0.1) - (0.1 * 99.9 - 0.1 * 99.9 * 1e-3)
    assert row["unwind_cost_quote"] == pytest.approx(unwind, rel=1e-12)
    hedged = 0.9 * (100.5 - 100.0) - 0.9 * 100.0 * 1e-3 - 0.9 * 100.5 * 1e-3
    assert row["net_pnl_quote"] == pytest.approx(hedged - unwind, rel=1e-12)


def test_partial_fill_below_threshold_is_a_leg_failure_and_unwinds_both_legs():
    batches = [[market(0, bid_qty_o=0.5)], [SIG], [market(3000, bid_qty_o=0.5)]]
    _, out = run(engine(latency_ms=0), batches)
    assert pnl_row(out)["status"] == "leg_failure"
    fills = out["fills"].filter(pl.col("signal_id") == "s1").sort("fill_id")
    assert dict(zip(fills["leg"], fills["qty_filled"], strict=True)) == pytest.approx(
        {"buy": 1.0, "sell": 0.5, "unwind_buy": 1.0, "unwind_sell": 0.5}
    )
    btc = out["positions"].filter(pl.col("position_id").str.contains("/unwind/") & (pl.col("asset") == "BTC"))
    assert btc.height == 2
    assert btc["position_qty"].abs().max() < 1e-12  # BTC back where it started on both venues


def test_walk_levels_takes_depth_within_the_limit_best_first():
    asks = [(100.05, 0.4), (100.0, 0.4), (100.2, 5.0)]
    quote = {
        "ask_px": 100.0,
        "ask_qty": 0.4,
        "ask_levels_px": [p for p, _ in asks],
        "ask_levels_qty": [q for _, q in asks],
    }
    leg = fill_leg(quote, "binance", "BTC/USDT", "buy", 1.0, limit_px=100.1, fee_bps=10)
    assert leg.status == "partial"
    assert leg.qty_filled == pytest.approx(0.8)
    assert leg.avg_px == pytest.approx((0.4 * 100.0 + 0.4 * 100.05) / 0.8)
    assert leg.fee_quote == pytest.approx((0.4 * 100.0 + 0.4 * 100.05) * 1e-3)
    # a market order (unwind) beyond the displayed depth is priced at the last level
    assert walk_levels([(99.9, 0.5)], 1.0, "sell", None) == pytest.approx((1.0, 99.9))


def test_depth_lists_in_the_quote_stream_are_walked_by_the_engine():
    def depth(ms: float) -> tuple[str, pl.DataFrame]:
        _, frame = market(ms)
        return "quotes_clean", frame.with_columns(
            bid_levels_px=pl.Series([[99.9, 99.8], [100.5, 100.45]]),
            bid_levels_qty=pl.Series([[10.0, 10.0], [0.6, 10.0]]),
            ask_levels_px=pl.Series([[100.0, 100.05], [100.6, 100.7]]),
            ask_levels_qty=pl.Series([[0.5, 10.0], [10.0, 10.0]]),
        )

    _, out = run(engine(latency_ms=0), [[depth(0)], [SIG], [depth(3000)]])
    row = pnl_row(out)
    assert row["status"] == "filled"
    gross = (0.6 * 100.5 + 0.4 * 100.45) - (0.5 * 100.0 + 0.5 * 100.05)
    fees = ((0.6 * 100.5 + 0.4 * 100.45) + (0.5 * 100.0 + 0.5 * 100.05)) * 1e-3
    assert row["net_pnl_quote"] == pytest.approx(gross - fees, rel=1e-12)


def test_depth_snapshots_from_the_books_table_are_walked():
    def books(ms: float) -> tuple[str, pl.DataFrame]:
        rows = [
            ("binance", [99.9, 99.8], [10.0, 10.0], [100.0, 100.05], [0.5, 10.0]),
            ("okx", [100.5, 100.45], [0.6, 10.0], [100.6, 100.7], [10.0, 10.0]),
        ]
        keys = ("exchange", "bid_px", "bid_qty", "ask_px", "ask_qty")
        frame = pl.DataFrame(
            [
                dict(zip(keys, r, strict=True))
                | {"book_id": f"{r[0]}/book/{ms}", "symbol": "BTC/USDT", "ts_exchange": None, "ts_recv": ts(ms)}
                | {"seq": None, "source": "test"}
                for r in rows
            ]
        )
        return "books", frame.with_columns(pl.col("ts_recv").dt.replace_time_zone("UTC"))

    _, out = run(engine(latency_ms=0), [[books(0)], [SIG], [books(3000)]])
    row = pnl_row(out)
    gross = (0.6 * 100.5 + 0.4 * 100.45) - (0.5 * 100.0 + 0.5 * 100.05)
    fees = ((0.6 * 100.5 + 0.4 * 100.45) + (0.5 * 100.0 + 0.5 * 100.05)) * 1e-3
    assert row["status"] == "filled"
    assert row["net_pnl_quote"] == pytest.approx(gross - fees, rel=1e-12)


def test_an_empty_depth_side_falls_back_to_the_top_of_book():
    quote = {"bid_px": 99.9, "bid_qty": 2.0, "bid_levels_px": [99.9], "bid_levels_qty": [0.0]}
    leg = fill_leg(quote, "binance", "BTC/USDT", "sell", 1.0, limit_px=None, fee_bps=10)
    assert (leg.status, leg.qty_filled, leg.avg_px) == ("filled", 1.0, 99.9)
