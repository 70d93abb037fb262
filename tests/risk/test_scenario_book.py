"""A known sequence of fills and price moves through the engine, checked against hand-computed numbers.

Book: binance and okx each hold 10,000 USDT and 2 BTC; taker fees 10 bps; latency 0; metrics every second.
BTC mark = mean of the two venues' mids.

  t=0     binance 99.9/100.0, okx 100.5/100.6           mark 100.25, start equity 20,000 + 4 * 100.25 = 20,401
  t=200   s1 buy 1 BTC binance @100.0, sell okx @100.5   realized +0.5, fees 0.1 + 0.1005
  t=1500  binance 98.9/99.0, okx 99.5/99.6               mark 99.25
  t=1600  s2 buy 0.5 binance @99.0; the sell leg's limit 100.5 * 0.999 is above okx's bid 99.5 -> leg failure:
          binance holds 0.5 BTC bought for 49.5 (fee 0.0495) until the unwind at t=2100 (execution timeout 500 ms)
  t=2100  unwind: sell 0.5 on binance @98.9 = 49.45 (fee 0.04945); s2 realized -0.05, unwind cost 0.14895
  t=3500  mark 101.25;  t=4500 mark 100.75;  t=6000 unchanged
"""

from __future__ import annotations

import polars as pl
import pytest
from risk_builders import quotes, risk_config, run, signal, us

from flows.risk.engine import RiskEngine

BAL = {"binance": {"USDT": 10_000.0, "BTC": 2.0}, "okx": {"USDT": 10_000.0, "BTC": 2.0}}
FEES = {"binance": 10.0, "okx": 10.0}


def both(bid_b: float, ask_b: float, bid_o: float, ask_o: float, ms: float):
    return quotes(("binance", "BTC/USDT", bid_b, 10, ask_b, 10, ms), ("okx", "BTC/USDT", bid_o, 10, ask_o, 10, ms))


@pytest.fixture(scope="module")
def result():
    cfg = risk_config(
        balances=BAL, latency_ms=0, reorder_grace_ms=0, execution_timeout_ms=500, metrics_interval_ms=1000,
        var_window=4, min_liquidity_usdt=0, max_drawdown=0.5, max_feed_stale_ms=10_000,
    )  # fmt: skip
    engine = RiskEngine(cfg, FEES, rebalance_threshold=0.1)
    batches = [
        [both(99.9, 100.0, 100.5, 100.6, 0)],
        [signal("s1", 200, "binance", "okx", 100.0, 100.5, 1.0)],
        [both(98.9, 99.0, 99.5, 99.6, 1500)],
        [signal("s2", 1600, "binance", "okx", 99.0, 100.5, 0.5)],
        [both(100.9, 101.0, 101.5, 101.6, 3500)],
        [both(100.4, 100.5, 101.0, 101.1, 4500)],
        [both(100.4, 100.5, 101.0, 101.1, 6000)],
    ]
    return run(engine, batches)


def metric(out: dict[str, pl.DataFrame], ms: float, col: str):
    rows = out["risk_metrics"].filter(pl.col("metrics_id").str.contains(f"00:00:0{int(ms // 1000)}.000000Z"))
    assert rows.height == 1
    return rows[col][0]


START = 20_000 + 4 * 100.25
FEES_S1 = 0.1 + 0.1005
EQ_1000 = START + 0.5 - FEES_S1
# t=2000: 0.5 BTC open (cost 49.5), inventory 4 BTC revalued at 99.25, buy fee paid
EQ_2000 = START + 0.5 - FEES_S1 - 0.0495 + 4 * (99.25 - 100.25) + (0.5 * 99.25 - 49.5)
FEES_ALL = FEES_S1 + 0.0495 + 0.04945
EQ_3000 = START + 0.5 - 0.05 - FEES_ALL + 4 * (99.25 - 100.25)
EQ_4000 = EQ_3000 + 4 * 2.0
EQ_5000 = EQ_4000 - 4 * 0.5
EQ_6000 = EQ_5000


def test_equity_and_pnl_at_each_tick_match_the_hand_computation(result):
    _, out = result
    assert metric(out, 1000, "start_equity_usdt") == pytest.approx(START, rel=1e-12)
    for ms, eq in [(1000, EQ_1000), (2000, EQ_2000), (3000, EQ_3000), (4000, EQ_4000), (5000, EQ_5000)]:
        assert metric(out, ms, "equity_usdt") == pytest.approx(eq, rel=1e-12), ms
    assert metric(out, 3000, "realized_pnl_usdt") == pytest.approx(0.45, abs=1e-9)
    assert metric(out, 3000, "fees_usdt") == pytest.approx(FEES_ALL, abs=1e-9)
    assert metric(out, 3000, "unrealized_pnl_usdt") == pytest.approx(-4.0, abs=1e-9)
    assert metric(out, 2000, "unrealized_pnl_usdt") == pytest.approx(-4.0 + 0.125, abs=1e-9)


def test_per_signal_pnl_rows_including_the_unwind(result):
    _, out = result
    pnl = {r["signal_id"]: r for r in out["pnl"].to_dicts()}
    assert pnl["s1"]["status"] == "filled"
    assert pnl["s1"]["net_pnl_quote"] == pytest.approx(0.5 - FEES_S1, abs=1e-12)
    s2 = pnl["s2"]
    assert s2["status"] == "leg_failure"
    assert s2["reason"] == "buy:filled,sell:slippage"
    assert s2["realized_pnl_quote"] == pytest.approx(-0.05, abs=1e-12)
    assert s2["fees_quote"] == pytest.approx(0.0495 + 0.04945, abs=1e-12)
    assert s2["unwind_cost_quote"] == pytest.approx(0.05 + 0.0495 + 0.04945, abs=1e-12)
    assert s2["net_pnl_quote"] == pytest.approx(-s2["unwind_cost_quote"], abs=1e-12)
    assert s2["ts_decided"].timestamp() * 1e6 == us(2100)
    assert s2["cum_net_pnl_usdt"] == pytest.approx(0.45 - FEES_ALL, abs=1e-12)
    fills = out["fills"].filter(pl.col("signal_id") == "s2").sort("fill_id")
    assert fills["leg"].to_list() == ["buy", "sell", "unwind_buy"]
    assert fills["qty_filled"].to_list() == pytest.approx([0.5, 0.0, 0.5])
    assert fills["px"][2] == pytest.approx(98.9)


def test_drawdown_and_max_drawdown(result):
    _, out = result
    peak_before = EQ_1000  # highest equity at any evaluation up to t=3000
    assert metric(out, 3000, "drawdown") == pytest.approx((peak_before - EQ_3000) / peak_before, rel=1e-9)
    assert metric(out, 4000, "drawdown") == 0.0  # new high
    assert metric(out, 5000, "drawdown") == pytest.approx((EQ_4000 - EQ_5000) / EQ_4000, rel=1e-9)
    assert metric(out, 5000, "max_drawdown") == pytest.approx((peak_before - EQ_3000) / peak_before, rel=1e-9)


def test_exposure_gross_net_and_leverage(result):
    _, out = result
    # t=2000: binance holds 3.5 BTC (start 2), okx 1 (start 2): net position +0.5 BTC (the open leg)
    assert metric(out, 2000, "gross_exposure_usdt") == pytest.approx(4.5 * 99.25, rel=1e-12)
    assert metric(out, 2000, "net_exposure_usdt") == pytest.approx(0.5 * 99.25, rel=1e-12)
    assert metric(out, 2000, "leverage") == pytest.approx(4.5 * 99.25 / EQ_2000, rel=1e-12)
    # after the unwind the book is hedged again: 3 BTC on binance, 1 on okx
    assert metric(out, 3000, "gross_exposure_usdt") == pytest.approx(4 * 99.25, rel=1e-12)
    assert metric(out, 3000, "net_exposure_usdt") == pytest.approx(0.0, abs=1e-9)
    assert metric(out, 3000, "margin_ratio") == pytest.approx(EQ_3000 * 3.0 / (4 * 99.25), rel=1e-12)


def test_rolling_historical_var_over_the_last_four_intervals(result):
    _, out = result
    # interval PnL: 2000: EQ_2000-EQ_1000, 3000: EQ_3000-EQ_2000, 4000: +8, 5000: -2, 6000: 0; window of 4 drops the first
    assert metric(out, 5000, "window_intervals") == 4
    assert metric(out, 5000, "var95_hist_usdt") == pytest.approx(-(EQ_2000 - EQ_1000), rel=1e-9)
    assert metric(out, 6000, "var95_hist_usdt") == pytest.approx(2.0, rel=1e-9)  # worst of [-0.22445, 8, -2, 0]
    assert metric(out, 6000, "var99_hist_usdt") == pytest.approx(2.0, rel=1e-9)


def test_success_rate_and_counts(result):
    _, out = result
    assert metric(out, 6000, "signals_total") == 2
    assert metric(out, 6000, "signals_executed") == 2
    assert metric(out, 6000, "success_rate") == pytest.approx(0.5)


def test_reconciliation_holds_at_every_tick(result):
    _, out = result
    m = out["risk_metrics"]
    rhs = m["start_equity_usdt"] + m["realized_pnl_usdt"] - m["fees_usdt"] + m["unrealized_pnl_usdt"]
    assert (m["equity_usdt"] - rhs).abs().max() < 1e-9
