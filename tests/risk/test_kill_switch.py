"""Limits, alerts and the kill switch: trips exactly at the crossing, blocks every later signal with its reason,
trips on a venue whose quotes stop and on a high validation failure rate, and re-arms only as configured."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from risk_builders import quotes, risk_config, run, signal, ts, us

from flows.risk import limits
from flows.risk.engine import RiskEngine

BAL = {"binance": {"USDT": 10_000.0, "BTC": 2.0}, "okx": {"USDT": 10_000.0, "BTC": 2.0}}
FEES = {"binance": 10.0, "okx": 10.0}
START = 20_000 + 4 * 100.25  # mark 100.25 at t=0
LOSS_LIMIT_USDT = 5.0


def engine(**overrides) -> RiskEngine:
    cfg = risk_config(
        **{
            "balances": BAL,
            "latency_ms": 0,
            "reorder_grace_ms": 0,
            "min_liquidity_usdt": 0,
            "min_order_notional_usdt": 0,
            "metrics_interval_ms": 1000,
            "max_drawdown": LOSS_LIMIT_USDT / START,  # a 5 USDT loss from the 20,401 peak
            "max_feed_stale_ms": 10_000,
        }
        | overrides
    )
    return RiskEngine(cfg, FEES, rebalance_threshold=1.0)


def market(ms: float, down: float = 0.0):
    """Both venues shifted down by ``down`` from binance 99.9/100.0, okx 100.5/100.6 (mark 100.25 - down)."""
    return quotes(
        ("binance", "BTC/USDT", 99.9 - down, 10, 100.0 - down, 10, ms),
        ("okx", "BTC/USDT", 100.5 - down, 10, 100.6 - down, 10, ms),
    )


def sig(signal_id: str, ms: float, down: float = 0.0, qty: float = 0.001):
    return signal(signal_id, ms, "binance", "okx", 100.0 - down, 100.5 - down, qty)


def drawdown_batches() -> list:
    return [
        [market(0)],
        [market(1500, down=1.245)],  # tick 2000: loss 4 * 1.245 = 4.98 < 5: warning only
        [sig("before", 2200, down=1.245)],  # admitted: +0.0003 net
        [market(2500, down=1.255)],  # tick 3000: loss 5.02 - 0.0003 > 5: critical, kill switch
        [sig("after1", 3100, down=1.255), sig("after2", 3300, down=1.255)],
        [market(4000)],  # fully recovered
        [sig("recovered", 4200)],
        [market(5000)],
    ]


def statuses(out: dict[str, pl.DataFrame]) -> dict[str, tuple[str, str | None]]:
    return {r["signal_id"]: (r["status"], r["reason"]) for r in out["pnl"].to_dicts()}


def test_trips_exactly_when_the_drawdown_limit_is_crossed_and_blocks_every_later_signal():
    _, out = run(engine(), drawdown_batches())
    m = out["risk_metrics"].sort("ts_metrics")
    assert m["kill_switch"].to_list() == [False, False, True, True, True]  # ticks 1000..5000
    assert m["risk_level"].to_list()[:3] == ["low", "high", "critical"]
    assert m["drawdown"][1] == pytest.approx(4 * 1.245 / START, rel=1e-9)
    kill = out["alerts"].filter(pl.col("name") == "kill_switch").to_dicts()
    assert len(kill) == 1
    assert kill[0]["ts_alert"] == ts(3000)
    assert "limit:drawdown" in kill[0]["message"]
    s = statuses(out)
    assert s["before"] == ("filled", None)
    assert s["after1"] == s["after2"] == ("blocked", "kill_switch:limit:drawdown")
    assert s["recovered"] == ("blocked", "kill_switch:limit:drawdown")  # manual reset mode: stays tripped


def test_warning_at_80_percent_then_critical_with_cooldown_suppressing_repeats():
    _, out = run(engine(), drawdown_batches())
    dd = out["alerts"].filter(pl.col("name") == "drawdown").sort("ts_alert")
    # warning at tick 2000 (99.6 %); the admission at 2200 sees the same warning within the cooldown: not repeated
    assert dd["severity"].to_list() == ["warning", "critical"]
    assert dd["ts_alert"].to_list() == [ts(2000), ts(3000)]


def test_manual_reset_rearms_only_when_called():
    eng = engine()
    state = eng.initial_state()
    for events in drawdown_batches()[:6]:
        state, _ = eng.step(state, events)
    assert state.kill_reason == "limit:drawdown"
    state, out = eng.reset_kill_switch(state, us(4100), "operator checked the book")
    assert out["alerts"]["name"].to_list() == ["kill_switch_reset"]
    state, out = eng.step(state, [sig("recovered", 4200), market(5000)])
    assert out["pnl"].filter(pl.col("signal_id") == "recovered")["status"][0] == "filled"


def test_timed_reset_rearms_after_the_delay_once_the_cause_has_cleared():
    _, out = run(engine(kill_switch_reset="timed", kill_switch_reset_ms=1000), drawdown_batches())
    reset = out["alerts"].filter(pl.col("name") == "kill_switch_reset").to_dicts()
    assert [r["ts_alert"] for r in reset] == [ts(4000)]
    s = statuses(out)
    assert s["after1"][0] == "blocked"
    assert s["recovered"] == ("filled", None)


def test_timed_reset_waits_while_the_cause_persists():
    batches = drawdown_batches()
    batches[5] = [market(4000, down=1.255)]  # no recovery
    batches[7] = [market(5000, down=1.255)]
    _, out = run(engine(kill_switch_reset="timed", kill_switch_reset_ms=1000), batches)
    assert out["alerts"].filter(pl.col("name") == "kill_switch_reset").height == 0


def test_stalled_venue_trips_the_kill_switch_from_receive_times():
    # okx's quotes stop after t=1000; binance keeps quoting every 500 ms; limit 3000 ms of silence
    batches = [[market(0)], [market(1000)]]
    for ms in range(1500, 8001, 500):
        batches.append([quotes(("binance", "BTC/USDT", 99.9, 10, 100.0, 10, ms))])
    batches.insert(7, [sig("fresh_enough", 3900)])  # okx silent 2900 ms: still admitted
    batches.insert(9, [sig("stale", 4100), sig("later", 6000)])
    _, out = run(engine(max_feed_stale_ms=3000, max_drawdown=0.5), batches)
    s = statuses(out)
    assert s["fresh_enough"][0] == "filled"
    assert s["stale"] == ("blocked", "kill_switch:feed_stale:okx")
    assert s["later"] == ("blocked", "kill_switch:feed_stale:okx")
    stale = out["alerts"].filter(pl.col("name") == "feed_stale:okx").to_dicts()
    assert stale[0]["ts_alert"] == ts(4100)
    assert stale[0]["value"] == pytest.approx(3100.0)
    m = out["risk_metrics"].sort("ts_metrics")
    assert m.filter(pl.col("ts_metrics") == ts(4000))["kill_switch"][0] is False  # 3000 ms is not beyond the limit
    after = m.filter(pl.col("ts_metrics") == ts(5000)).to_dicts()[0]
    assert (after["kill_switch"], after["risk_level"]) == (True, "critical")


def validation_runs(*runs: tuple[str, float, int, int]) -> tuple[str, pl.DataFrame]:
    """``(run_id, ts_recv_max ms, rows_in, rows_unexpected)`` as a validation_runs event (critical suite)."""
    rows = [
        {
            "run_id": run_id, "batch_seq": 0, "suite": "quotes.critical", "severity": "critical",
            "success": unexpected == 0, "evaluated": 5, "failed_expectations": [], "rows_in": rows_in,
            "rows_unexpected": unexpected, "ts_recv_min": ts(ms) - timedelta(milliseconds=100), "ts_recv_max": ts(ms),
        }
        for run_id, ms, rows_in, unexpected in runs
    ]  # fmt: skip
    return "validation_runs", pl.DataFrame(rows)


def test_validation_failure_rate_above_the_limit_trips_the_kill_switch():
    runs = validation_runs(("0/quotes.critical", 1500, 1000, 10), ("1/quotes.critical", 2500, 1000, 100))
    batches = [[market(0)], [runs], [sig("ok", 2000)], [sig("blocked", 2600)], [market(4000)]]
    _, out = run(engine(max_drawdown=0.5), batches)
    s = statuses(out)
    assert s["ok"][0] == "filled"  # 10 / 1000 = 1 % at t=1500
    assert s["blocked"] == ("blocked", "kill_switch:validation_failure_rate")  # 110 / 2000 = 5.5 % > 5 %
    alert = out["alerts"].filter(pl.col("name") == "validation_failure_rate").to_dicts()[0]
    assert alert["ts_alert"] == ts(2500)
    assert alert["value"] == pytest.approx(0.055)


def test_a_validation_run_arriving_after_later_quotes_still_counts_at_its_own_time():
    # the gate's run for the batch ending at 2500 arrives after quotes up to 4000 and a signal at 3000 (another
    # worker was faster): decisions wait for the validation stream, so the signal is blocked either way
    first = validation_runs(("0/quotes.critical", 1500, 1000, 10))
    second = validation_runs(("1/quotes.critical", 2500, 1000, 100))
    third = validation_runs(("2/quotes.critical", 4000, 1000, 0))
    in_order = [[market(0)], [first], [market(2000)], [second], [market(3000), sig("s", 3000)], [market(4000)], [third]]
    late = [[market(0)], [first], [market(2000)], [market(3000), sig("s", 3000)], [market(4000)], [second], [third]]
    for batches in (in_order, late):
        _, out = run(engine(max_drawdown=0.5), batches, flush=False)
        assert statuses(out)["s"] == ("blocked", "kill_switch:validation_failure_rate")


def test_open_orders_capacity_blocks_without_tripping_the_kill_switch():
    batches = [[market(0)], [sig("s1", 1000), sig("s2", 1050)], [sig("s3", 1200)], [market(3000)]]
    _, out = run(engine(latency_ms=100, max_open_orders=2, max_drawdown=0.5), batches)
    s = statuses(out)
    assert s["s1"][0] == "filled"
    assert s["s2"] == ("blocked", "max_open_orders")
    assert s["s3"][0] == "filled"  # s1 executed at 1100
    assert out["alerts"].filter(pl.col("name") == "kill_switch").height == 0
    assert out["alerts"].filter(pl.col("name") == "open_orders")["severity"].to_list() == ["critical"]


@pytest.mark.parametrize(
    ("value", "expected"), [(0.0399, "medium"), (0.04, "warning"), (0.0499999, "warning"), (0.05, "critical")]
)
def test_limit_severity_boundaries(value: float, expected: str):
    cfg = risk_config()
    assert limits.check_ceiling("drawdown", value, 0.05, cfg).severity == expected


def test_margin_ratio_is_a_floor():
    cfg = risk_config()
    assert limits.check_floor("margin_ratio", 1.2, 1.2, cfg).severity == "critical"
    assert limits.check_floor("margin_ratio", 1.45, 1.2, cfg).severity == "warning"  # 1.2 / 1.45 = 83 %
    assert limits.check_floor("margin_ratio", None, 1.2, cfg) is None


def test_cooldown_rules():
    cooldown = 60_000_000
    assert limits.should_alert(None, 2, 0, cooldown)
    assert not limits.should_alert((2, 0), 2, 59_999_999, cooldown)
    assert limits.should_alert((2, 0), 2, 60_000_000, cooldown)
    assert limits.should_alert((2, 0), 3, 1, cooldown)  # escalation is never held back


def test_daily_loss_is_measured_from_the_utc_day_opening_equity():
    # 23:59:56.5: mark 100.25; losses of 4 BTC * 0.9 before midnight, then 4 * 0.9 and 4 * 0.2 after it.
    # The 4 USDT daily limit is crossed only when the new day's own loss passes it (7.2 USDT in total before that).
    batches = [
        [market(-3500)],
        [market(-2500, down=0.9)],
        [market(500, down=1.8)],
        [market(1500, down=2.0)],
        [market(2500, down=2.0)],
    ]
    _, out = run(engine(max_daily_loss=4.0 / START, max_drawdown=0.5), batches)
    m = out["risk_metrics"].sort("ts_metrics")
    by_ms = {round((r["ts_metrics"] - ts(0)).total_seconds() * 1000): r for r in m.to_dicts()}
    assert by_ms[-2000]["daily_pnl_usdt"] == pytest.approx(-3.6, abs=1e-9)
    assert by_ms[0]["daily_pnl_usdt"] == pytest.approx(0.0, abs=1e-9)  # new UTC day: new opening equity
    assert by_ms[1000]["daily_pnl_usdt"] == pytest.approx(-3.6, abs=1e-9)
    assert [by_ms[t]["kill_switch"] for t in (-2000, 0, 1000, 2000)] == [False, False, False, True]
    assert by_ms[2000]["kill_reason"] == "limit:daily_loss"


def commands(*rows: tuple[str, str, float]) -> tuple[str, pl.DataFrame]:
    """``(command_id, command, ts_command ms)`` as a risk_commands event."""
    data = [{"command_id": cid, "command": c, "ts_command": ts(ms), "note": "ops"} for cid, c, ms in rows]
    return "risk_commands", pl.DataFrame(data)


def test_a_reset_command_in_the_stream_rearms_at_its_own_time():
    batches = drawdown_batches()
    batches.insert(6, [commands(("c1", "reset_kill_switch", 4100), ("c2", "reboot", 4100))])
    _, out = run(engine(), batches)
    s = statuses(out)
    assert s["after2"][0] == "blocked"
    assert s["recovered"] == ("filled", None)  # t=4200, after the reset at 4100
    alerts = {r["name"]: r for r in out["alerts"].to_dicts()}
    assert alerts["kill_switch_reset"]["ts_alert"] == ts(4100)
    assert "c1" in alerts["kill_switch_reset"]["message"]
    assert "reboot" in alerts["risk_command"]["message"]
