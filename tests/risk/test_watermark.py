"""Decisions wait for every expected symbol stream; a stream more than stream_stall_ms of receive time behind the
latest quote holds them back by that much at most (a resume from a snapshot changes nothing); waiting changes when
rows appear, never which rows."""

from __future__ import annotations

import pickle

import polars as pl
from risk_builders import quotes, risk_config, signal

from flows.risk.engine import RiskEngine

BAL = {"binance": {"USDT": 10_000.0, "BTC": 2.0}, "okx": {"USDT": 10_000.0, "BTC": 2.0}}
FEES = {"binance": 10.0, "okx": 10.0}


def engine(expected: list[str]) -> RiskEngine:
    cfg = risk_config(balances=BAL, latency_ms=0, reorder_grace_ms=500, min_liquidity_usdt=0, stream_stall_ms=500)
    return RiskEngine(cfg, FEES, rebalance_threshold=1.0, expected_symbols=expected)


def market(ms: float):
    return quotes(("binance", "BTC/USDT", 99.9, 10, 100.0, 10, ms), ("okx", "BTC/USDT", 100.5, 10, 100.6, 10, ms))


def stream() -> list[list]:
    return [[market(0), signal("s1", 1000, "binance", "okx", 100.0, 100.5, 1.0)]] + [
        [market(ms)] for ms in range(500, 6001, 500)
    ]


def run_steps(eng: RiskEngine) -> tuple[list[int], dict[str, pl.DataFrame]]:
    """Per step, how many pnl rows came out; and all rows after the flush."""
    state, per_step, parts = eng.initial_state(), [], {}
    for events in stream():
        state, out = eng.step(state, events)
        per_step.append(out["pnl"].height if "pnl" in out else 0)
        for t, f in out.items():
            parts.setdefault(t, []).append(f)
    state, out = eng.flush(state)
    for t, f in out.items():
        parts.setdefault(t, []).append(f)
    return per_step, {t: pl.concat(fs) for t, fs in parts.items()}


def test_a_missing_expected_symbol_holds_decisions_until_it_counts_as_stalled():
    held_steps, held = run_steps(engine(["BTC/USDT", "SOL/USDT"]))
    free_steps, free = run_steps(engine(["BTC/USDT"]))
    # without SOL expected, s1 (t=1000) is decided once BTC's clock passes 1000 + 500 ms grace: step 3 (t=1500)
    assert free_steps.index(1) == 3
    # with SOL expected but silent, it holds decisions back to the latest quote minus 500 ms (stream_stall_ms), so s1
    # is decided once BTC's clock passes 1000 + 500 ms stall + 500 ms grace: step 4 (t=2000)
    assert held_steps.index(1) == 4
    for table, frame in free.items():
        key = frame.columns[0]
        assert frame.sort(key).equals(held[table].sort(key)), table


def test_silence_before_a_resume_is_not_a_stall():
    eng = engine(["BTC/USDT", "ETH/USDT"])
    state = eng.initial_state()
    for events in stream()[:3]:  # only BTC arrives; t 0..1000 ms
        state, _ = eng.step(state, events)
    state = pickle.loads(pickle.dumps(state))  # the process was down, then resumes from its snapshot
    state, out = eng.step(state, stream()[3])
    assert "pnl" not in out  # ETH still holds decisions back: downtime is no receive time, only quotes move the clock
