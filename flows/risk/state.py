"""The risk step's state (plain data, picklable for bytewax snapshots) and its per-step row buffers."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from flows.risk import book
from flows.risk.ledger import Ledger
from flows.risk.tables import to_frame

US_PER_MS = 1000
US_PER_DAY = 86_400_000_000
# Task ranks: at one instant, operator commands first, then validation runs, admissions, executions, unwinds (the
# metrics tick, which is not a task, runs after all tasks of its instant).
COMMAND, VALIDATION, ADMIT, EXECUTE, UNWIND = range(5)


@dataclass
class RiskState:
    """Everything the step carries between events (plain data: picklable for bytewax snapshots)."""

    ledger: Ledger
    history: pl.DataFrame = field(default_factory=book.empty_history)
    clock_us: int | None = None  # latest ts_recv seen
    first_us: int | None = None  # earliest ts_recv seen
    stream_clock: dict[str, int] = field(default_factory=dict)  # symbol -> latest ts_recv of its quotes
    marks_seen: dict[str, float] = field(default_factory=dict)  # last mark per asset, for instants before a quote
    tasks: list[tuple[int, int, str, int, dict[str, Any]]] = field(default_factory=list)  # heap, see schedule()
    task_seq: int = 0  # tie-break after (time, rank, key): arrival order, so payloads are never compared
    next_tick_us: int | None = None
    open_orders: int = 0
    peak_equity: float | None = None
    max_drawdown: float = 0.0
    day: int | None = None
    day_open_equity: float = 0.0
    last_tick_equity: float | None = None
    pnl_window: list[float] = field(default_factory=list)  # per-interval equity change, valuation currency
    return_window: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "executed": 0, "blocked": 0, "won": 0})
    alerts_last: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (rank, ts_us) last emitted
    alerts_active: dict[str, int] = field(default_factory=dict)  # condition name -> rank it has held since raised
    kill_reason: str | None = None  # None = armed (signals admitted)
    kill_ts_us: int | None = None
    validation: list[tuple[int, int]] = field(default_factory=list)  # (rows_in, rows_unexpected), latest last
    book_at: dict[int, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)  # book.latest cache


class Out:
    """Row buffers of one step."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {
            t: [] for t in ("fills", "positions", "pnl", "risk_metrics", "alerts")
        }

    def frames(self) -> dict[str, pl.DataFrame]:
        return {t: to_frame(t, rows) for t, rows in self.rows.items() if rows}


def schedule(state: RiskState, t_us: int, rank: int, key: str, payload: dict[str, Any]) -> None:
    """Queue a decision at receive time ``t_us``; ties run by rank (VALIDATION..UNWIND), then key, then arrival."""
    heapq.heappush(state.tasks, (t_us, rank, key, state.task_seq, payload))
    state.task_seq += 1
