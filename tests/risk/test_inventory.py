"""Pre-funded balances: signals are sized down or blocked with a reason; imbalance raises a rebalance alert."""

from __future__ import annotations

import polars as pl
import pytest
from risk_builders import quotes, risk_config, run, signal

from arbflow.settings import load_settings
from flows.risk.engine import RiskEngine

FEES = {"binance": 10.0, "okx": 10.0}


def engine(balances: dict, **overrides) -> RiskEngine:
    base = {"balances": balances, "latency_ms": 0, "reorder_grace_ms": 0, "min_liquidity_usdt": 0}
    return RiskEngine(risk_config(**(base | overrides)), FEES, rebalance_threshold=0.1)


def market(ms: float):
    return quotes(("binance", "BTC/USDT", 99.9, 50, 100.0, 50, ms), ("okx", "BTC/USDT", 100.5, 50, 100.6, 50, ms))


def pnl(out: dict[str, pl.DataFrame]) -> dict[str, dict]:
    return {r["signal_id"]: r for r in out["pnl"].to_dicts()}


def test_sell_venue_base_balance_sizes_down_then_blocks():
    bal = {"binance": {"USDT": 100_000.0, "BTC": 1.0}, "okx": {"USDT": 100_000.0, "BTC": 0.3}}
    batches = [[market(0)], [signal("s1", 100, "binance", "okx", 100.0, 100.5, 1.0)]]
    batches += [[signal("s2", 200, "binance", "okx", 100.0, 100.5, 1.0)], [market(2000)]]
    _, out = run(engine(bal), batches)
    rows = pnl(out)
    assert rows["s1"]["status"] == "filled"
    assert rows["s1"]["qty_sized"] == pytest.approx(0.3)
    assert rows["s1"]["reason"] == "sized_down:balance:okx:BTC"
    assert rows["s2"]["status"] == "blocked"
    assert rows["s2"]["reason"] == "insufficient_balance:okx:BTC"
    # 0.3 of 1.3 BTC moved from okx to binance: okx's share fell from 23 % to 0 -> rebalance alert
    alert = out["alerts"].filter(pl.col("name") == "rebalance:BTC").to_dicts()
    assert alert[0]["value"] == pytest.approx(0.3 / 1.3)
    assert alert[0]["severity"] == "warning"


def test_buy_venue_cash_sizes_down_including_fee_and_slippage_headroom():
    bal = {"binance": {"USDT": 50.0, "BTC": 0.0}, "okx": {"USDT": 0.0, "BTC": 5.0}}
    batches = [[market(0)], [signal("s1", 100, "binance", "okx", 100.0, 100.5, 1.0)], [market(2000)]]
    _, out = run(engine(bal), batches)
    row = pnl(out)["s1"]
    # reserve per BTC: limit 100 * (1 + 10 bps slippage) * (1 + 10 bps fee)
    assert row["qty_sized"] == pytest.approx(50.0 / (100.0 * 1.001 * 1.001))
    assert row["reason"] == "sized_down:balance:binance:USDT"
    final = out["positions"].filter(pl.col("position_id") == "s1/execute/binance/USDT")["balance"][0]
    assert final >= 0.0


def test_max_position_size_caps_the_notional():
    bal = {"binance": {"USDT": 100_000.0, "BTC": 5.0}, "okx": {"USDT": 100_000.0, "BTC": 5.0}}
    batches = [[market(0)], [signal("s1", 100, "binance", "okx", 100.0, 100.5, 3.0)], [market(2000)]]
    _, out = run(engine(bal, max_position_size_usdt=150.0), batches)
    row = pnl(out)["s1"]
    assert row["qty_sized"] == pytest.approx(1.5)
    assert row["reason"] == "sized_down:max_position_size"


@pytest.mark.parametrize(
    ("symbol", "buy", "min_liquidity", "reason"),
    [
        ("ETH/BTC", "binance", 0.0, "unsupported_quote_currency:BTC"),
        ("BTC/USDT", "kraken", 0.0, "unknown_venue:kraken"),
        ("BTC/USDT", "binance", 10_000.0, "min_liquidity"),  # 50 BTC * 100 = 5,000 displayed
        ("BTCUSDT", "binance", 0.0, "invalid_signal:symbol"),
    ],
)
def test_blocked_with_a_reason_never_an_exception(symbol: str, buy: str, min_liquidity: float, reason: str):
    bal = {"binance": {"USDT": 100_000.0, "BTC": 5.0}, "okx": {"USDT": 100_000.0, "BTC": 5.0}}
    batches = [[market(0)], [signal("s1", 100, buy, "okx", 100.0, 100.5, 1.0, symbol=symbol)], [market(2000)]]
    _, out = run(engine(bal, min_liquidity_usdt=min_liquidity), batches)
    row = pnl(out)["s1"]
    assert (row["status"], row["reason"]) == ("blocked", reason)


def test_from_settings_uses_risk_section_venue_fees_and_rebalance_threshold():
    settings = load_settings(environ={"ARBFLOW__RISK__LATENCY_MS": "25", "ARBFLOW__CROSS__REBALANCE_THRESHOLD": "0.2"})
    eng = RiskEngine.from_settings(settings)
    assert eng.trader.latency_us == 25_000
    assert eng.trader.fees_bps["htx"] == 20.0
    assert eng.guard.rebalance_threshold == 0.2
    assert eng.expected_symbols == tuple(sorted(settings.cross.symbols))
    assert eng.initial_state().ledger.balance("okx", "USDT") == settings.risk.balances["okx"]["USDT"]


def test_a_signal_without_a_time_is_blocked_with_a_reason():
    bal = {"binance": {"USDT": 100_000.0, "BTC": 5.0}, "okx": {"USDT": 100_000.0, "BTC": 5.0}}
    _, frame = signal("s1", 100, "binance", "okx", 100.0, 100.5, 1.0)
    frame = frame.with_columns(pl.lit(None, dtype=frame["ts_signal"].dtype).alias("ts_signal"))
    _, out = run(engine(bal), [[market(0)], [("signals", frame)], [market(2000)]])
    assert (pnl(out)["s1"]["status"], pnl(out)["s1"]["reason"]) == ("blocked", "invalid_signal:ts_signal")


def test_an_asset_without_any_market_leaves_the_book_unvalued_and_says_so():
    bal = {"binance": {"USDT": 100_000.0, "BTC": 5.0, "BNB": 10.0}, "okx": {"USDT": 100_000.0, "BTC": 5.0}}
    batches = [[market(0)], [signal("s1", 100, "binance", "okx", 100.0, 100.5, 1.0)], [market(2000)]]
    _, out = run(engine(bal), batches)
    assert pnl(out)["s1"]["reason"] == "no_marks"
    assert "risk_metrics" not in out
    alert = out["alerts"].filter(pl.col("name") == "no_marks").to_dicts()[0]
    assert "['BNB']" in alert["message"]


def test_other_strategies_get_a_skipped_row_and_do_not_count():
    bal = {"binance": {"USDT": 100_000.0, "BTC": 5.0}, "okx": {"USDT": 100_000.0, "BTC": 5.0}}
    _, tri = signal("t1", 100, "binance", "binance", 100.0, 100.5, 1.0, symbol="USDT>BTC>ETH>USDT")
    tri = tri.with_columns(strategy=pl.lit("triangular"), expected_profit_quote=pl.lit(1.25))
    batches = [
        [market(0)],
        [("signals", tri)],
        [signal("s1", 200, "binance", "okx", 100.0, 100.5, 1.0)],
        [market(2000)],
    ]
    _, out = run(engine(bal), batches)
    row = pnl(out)["t1"]
    assert (row["status"], row["expected_profit_quote"], row["qty_sized"]) == ("skipped", 1.25, 0.0)
    assert "triangular" in row["reason"]
    assert pnl(out)["s1"]["status"] == "filled"
    assert out["risk_metrics"].sort("ts_metrics")["signals_total"][-1] == 1
    assert out["fills"].filter(pl.col("signal_id") == "t1").height == 0
