"""Bytewax wiring of the risk step: one stateful step over the pipeline's ``(table_name, frame)`` items.

``flows/arbitrage.py`` calls :func:`risk_tables` with the merged table stream (before the lake sink) and merges what
it returns back into that stream. Risk reads ``quotes_clean``, ``signals`` and ``validation_runs`` items (others are
ignored) and emits ``fills``, ``positions``, ``pnl``, ``risk_metrics`` and ``alerts`` items. All state sits under a
single key, so one worker owns the book; the engine orders its decisions by receive time itself (see
flows/risk/engine.py), so the arbitrary interleaving of upstream workers does not change its rows.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic

from connectors.config import Settings
from flows.risk.engine import QUOTE_TABLES, RiskEngine, RiskState

RISK_INPUTS = frozenset({*QUOTE_TABLES, "signals", "validation_runs"})
Item = tuple[str, pl.DataFrame]


class RiskLogic(StatefulLogic[Item, Item, RiskState]):
    """Thin adapter: each item is one ``RiskEngine.step``; end of input flushes the pending decisions."""

    def __init__(self, engine: RiskEngine, resume: RiskState | None) -> None:
        self.engine = engine
        self.state = resume if resume is not None else engine.initial_state()

    def on_item(self, value: Item) -> tuple[Iterable[Item], bool]:
        self.state, out = self.engine.step(self.state, [value])
        return list(out.items()), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[Item], bool]:
        self.state, out = self.engine.flush(self.state)
        return list(out.items()), StatefulLogic.RETAIN

    def snapshot(self) -> RiskState:
        return copy.deepcopy(self.state)


def risk_tables(step_id: str, tables: Stream[Item], settings: Settings) -> Stream[Item]:
    """Paper-trade the signals in ``tables``; return the risk tables as ``(table_name, frame)`` items.

    Args:
        step_id: prefix of the steps added to the flow.
        tables: the pipeline's table items; must include ``quotes_clean`` (also when the lake does not store them).
        settings: the run's settings ([risk], [venues] fees, [cross] rebalance_threshold).
    """
    engine = RiskEngine.from_settings(settings)
    inputs = op.filter(f"{step_id}_inputs", tables, lambda kv: kv[0] in RISK_INPUTS and kv[1].height > 0)
    keyed = op.key_on(f"{step_id}_one_book", inputs, lambda _kv: "risk")
    out = op.stateful(f"{step_id}_engine", keyed, lambda resume: RiskLogic(engine, resume))
    return op.key_rm(f"{step_id}_items", out)
