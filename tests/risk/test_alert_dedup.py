"""Alert de-duplication on the real risk engine: a condition that holds at one level is reported once (not once per
cooldown), again on a level change, and again after it cleared once the cooldown has passed."""

from __future__ import annotations

import polars as pl
from risk_builders import quotes, risk_config, run, signal, ts

from flows.risk.engine import RiskEngine

FEES = {"binance": 10.0, "okx": 10.0}
COOLDOWN_MS = 2000.0  # 30 one-second ticks span 15 cooldowns: the old rule repeated the alert every 2 s


def engine(balances: dict, **overrides) -> RiskEngine:
    base = {
        "balances": balances,
        "latency_ms": 0,
        "reorder_grace_ms": 0,
        "min_liquidity_usdt": 0,
        "min_order_notional_usdt": 0,
        "alert_cooldown_ms": COOLDOWN_MS,
        "max_feed_stale_ms": 60_000,
    }
    return RiskEngine(risk_config(**(base | overrides)), FEES, rebalance_threshold=0.1)


def market(ms: float, cheap: str = "binance", down: float = 0.0):
    """BTC/USDT 99.9/100.0 on the ``cheap`` venue and 100.5/100.6 on the other, all shifted down by ``down``."""
    other = "okx" if cheap == "binance" else "binance"
    return quotes(
        (cheap, "BTC/USDT", 99.9 - down, 50, 100.0 - down, 50, ms),
        (other, "BTC/USDT", 100.5 - down, 50, 100.6 - down, 50, ms),
    )


def alerts(out: dict[str, pl.DataFrame], name: str) -> list[tuple[object, str]]:
    rows = out["alerts"].filter(pl.col("name") == name).sort("ts_alert")
    return list(zip(rows["ts_alert"].to_list(), rows["severity"].to_list(), strict=True))


def test_a_persisting_rebalance_condition_is_reported_once_and_again_only_after_it_cleared():
    bal = {"binance": {"USDT": 100_000.0, "BTC": 1.0}, "okx": {"USDT": 100_000.0, "BTC": 1.0}}
    batches = [[market(0)], [signal("s1", 100, "binance", "okx", 100.0, 100.5, 0.5)]]
    batches += [[market(1000 * k)] for k in range(1, 31)]  # 30 s of drift at one level
    # okx cheap now: 0.5 BTC back from binance to okx -> the split is even again, the condition clears
    batches += [[market(30_500, cheap="okx")], [signal("s2", 30_600, "okx", "binance", 100.0, 100.5, 0.5)]]
    batches += [[market(1000 * k, cheap="okx")] for k in range(31, 35)]
    # and drifts again after the cooldown: a new condition, a new alert
    batches += [[market(34_500)], [signal("s3", 34_600, "binance", "okx", 100.0, 100.5, 0.5)]]
    batches += [[market(1000 * k)] for k in range(35, 45)]
    _, out = run(engine(bal), batches)
    assert set(out["pnl"]["status"].to_list()) == {"filled"}
    assert alerts(out, "rebalance:BTC") == [(ts(100), "warning"), (ts(34_600), "warning")]


def test_a_limit_is_reported_once_per_level_while_it_holds():
    bal = {"binance": {"USDT": 10_000.0, "BTC": 2.0}, "okx": {"USDT": 10_000.0, "BTC": 2.0}}
    start_usdt = 20_000 + 4 * 100.25
    eng = engine(bal, max_drawdown=5.0 / start_usdt, kill_switch_reset="manual")
    batches = [[market(0)], [market(1000)]]  # tick 1000: the peak
    batches += [[market(1000 * k + 500, down=1.245)] for k in range(1, 20)]  # 4.98 USDT down: warning for 19 s
    batches += [[market(1000 * k + 500, down=1.3)] for k in range(20, 30)]  # 5.2 USDT down: critical for 10 s
    _, out = run(eng, batches)
    assert alerts(out, "drawdown") == [(ts(2000), "warning"), (ts(21_000), "critical")]
    assert len(alerts(out, "kill_switch")) == 1
