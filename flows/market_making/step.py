"""Bytewax wiring of paper market making (design doc: disabled by default): one stateful step per exchange.

``flows/arbitrage.py`` calls :func:`market_making_tables` with the clean batches (flows/common/clean_stage.py), like
the triangular step, and merges the returned ``("signals", frame)`` items into its table stream; with
``[market_making] enabled = false`` it adds nothing to the flow. The step takes its exchange's clean rows in source
order and quotes at the first clean update of each refresh slot. The inventory is taken at
its target (no skew) until a position feed is wired in (``paper_quotes(base_share=...)``).

Risk note: these signals are resting paper quotes (``strategy = 'market_making'``), not taker round trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream

from arbflow.settings import MarketMakingConfig, Settings
from flows.common.batches import ORDER, Item
from flows.common.clean_stage import Clean
from flows.common.fanout import Piece, exchange_pieces
from flows.common.keyed import Runner, keyed_step
from flows.market_making.quotes import paper_quotes


@dataclass
class QuotingState:
    """Per exchange: the refresh slot last quoted per symbol."""

    slots: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class QuotingRunner(Runner[Piece, Item, QuotingState]):
    params: MarketMakingConfig  # the validated [market_making] section: the only place its defaults live
    symbols: frozenset[str]

    @staticmethod
    def from_settings(settings: Settings) -> QuotingRunner:
        mm = settings.market_making
        return QuotingRunner(mm, frozenset(mm.symbols))

    def initial(self) -> QuotingState:
        return QuotingState()

    def step(self, state: QuotingState, piece: Piece) -> tuple[QuotingState, list[Item]]:
        clean = piece.clean.filter(pl.col("symbol").is_in(sorted(self.symbols))).drop(ORDER)
        slots, signals = paper_quotes(clean, state.slots, self.params)
        return QuotingState(slots), [("signals", signals)] if signals.height else []


def market_making_tables(step_id: str, clean: Stream[Clean], settings: Settings) -> Stream[Item]:
    """Paper quote signals as ``(table_name, frame)`` items (none when market making is disabled)."""
    exchanges = list(settings.market_making.exchanges) if settings.market_making.enabled else []
    runner = QuotingRunner.from_settings(settings)
    pieces = op.flat_map(f"{step_id}_by_exchange", clean, lambda c: exchange_pieces(c, exchanges))
    out = keyed_step(f"{step_id}_quote", pieces, runner)
    return op.key_rm(f"{step_id}_items", out)
