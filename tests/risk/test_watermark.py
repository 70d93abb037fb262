"""Decisions wait for every expected symbol stream; a stream that delivers nothing for stream_stall_ms of wall time
stops holding them back (also after a resume, silence before it does not count); waiting changes when rows appear,
never which rows."""

from __future__ import annotations

import polars as pl
from risk_builders import quotes, risk_config, signal

from flows.risk.engine import RiskEngine

BAL = {"binance": {"USDT": 10_000.0, "BTC": 2.0}, "okx": {"USDT": 10_000.0, "BTC": 2.0}}
FEES = {"binance": 10.0, "okx": 10.0}


class Wall:
    """A wall clock that advances one second per reading (one reading per step)."""

    def __init__(self) -> None:
        self.t = -1.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def engine(expected: list[str]) -> RiskEngine:
    cfg = risk_config(balances=BAL, latency_ms=0, reorder_grace_ms=500, min_liquidity_usdt=0, stream_stall_ms=3000)
    return RiskEngine(cfg, FEES, rebalance_threshold=1.0, expected_symbols=expected, wall_clock=Wall())


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
    # with SOL expected but silent, nothing is decided until SOL has been silent for more than 3 s of wall time
    # (the 5th step, wall 4 s)
    assert held_steps.index(1) == 4
    for table, frame in free.items():
        key = frame.columns[0]
        assert frame.sort(key).equals(held[table].sort(key)), table


def test_silence_before_a_resume_is_not_a_stall():
    eng = engine(["BTC/USDT", "ETH/USDT"])
    state = eng.initial_state()
    for events in stream()[:3]:  # only BTC arrives; wall 0..2 s
        state, _ = eng.step(state, events)
    eng.wall_clock.t += 100.0  # the process was down for 100 s, then resumes from its snapshot
    state = eng.resumed(state)
    state, out = eng.step(state, stream()[3])
    assert "pnl" not in out  # ETH still holds decisions back: its silence restarted at the resume
