"""Bytewax wiring of the risk step: one stateful step over bundles of the pipeline's ``(table_name, frame)`` items.

``flows/arbitrage.py`` calls :func:`risk_tables` with a stream of bundles, each a list of table items that belong
together: ``SymbolOut.tables`` of one symbol's slice of a batch (its ``quotes_clean`` and ``signals``), and
``Checked.tables`` (its ``validation_runs``). It merges the returned ``fills``, ``positions``, ``pnl``,
``risk_metrics`` and ``alerts`` items into the lake stream. Other tables in a bundle are ignored. All state sits under
a single key, so one worker owns the book; the engine orders its decisions by receive time behind a per-symbol
watermark (see flows/risk/engine.py), so the interleaving of upstream workers does not change its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream

from arbflow.settings import Settings
from flows.common.keyed import Runner, keyed_step
from flows.risk.engine import INPUT_TABLES, RiskEngine, RiskState

RISK_INPUTS = frozenset(INPUT_TABLES)
Item = tuple[str, pl.DataFrame]
Bundle = list[Item]


def risk_inputs(bundle: Bundle) -> Bundle:
    """The non-empty items of a bundle that the risk step reads."""
    return [(table, frame) for table, frame in bundle if table in RISK_INPUTS and frame.height > 0]


@dataclass(frozen=True)
class RiskRunner(Runner[Bundle, Item, RiskState]):
    """The keyed step's logic: each bundle is one ``RiskEngine.step``; end of input flushes pending decisions."""

    engine: RiskEngine

    def initial(self) -> RiskState:
        return self.engine.initial_state()

    def step(self, state: RiskState, bundle: Bundle) -> tuple[RiskState, list[Item]]:
        state, out = self.engine.step(state, bundle)
        return state, list(out.items())

    def flush(self, state: RiskState) -> tuple[RiskState, list[Item]]:
        state, out = self.engine.flush(state)
        return state, list(out.items())


def risk_tables(step_id: str, bundles: Stream[Bundle], settings: Settings) -> Stream[Item]:
    """Paper-trade the signals in ``bundles``; return the risk tables as ``(table_name, frame)`` items.

    Args:
        step_id: prefix of the steps added to the flow.
        bundles: lists of table items, one list per symbol slice of a batch (quotes_clean + signals; quotes_clean is
            needed also when the lake does not store it) and per checked batch (validation_runs).
        settings: the run's settings ([risk], [venues] fees, [cross] rebalance_threshold and symbols).
    """
    engine = RiskEngine.from_settings(settings)
    inputs = op.filter(f"{step_id}_inputs", op.map(f"{step_id}_select", bundles, risk_inputs), bool)
    keyed = op.key_on(f"{step_id}_one_book", inputs, lambda _bundle: "risk")
    out = keyed_step(f"{step_id}_engine", keyed, RiskRunner(engine))
    return op.key_rm(f"{step_id}_items", out)
