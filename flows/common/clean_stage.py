"""QingXi's stream checks, once, in source order: the one stateful cleaning stage every strategy reads from.

The checked batches come from a single source partition (replay and live alike), in order. This stage runs
``cleaning.clean_stream`` on each of them, one symbol's rows at a time with that symbol's carried state, all under a
single key, so the stream state exists once and every strategy sees the same clean quotes. Its ``quotes_rejected``
and ``quotes_clean`` rows go to the lake from here, once. Live feed downs pass through in their place in the stream,
so a venue's down still reaches the per-symbol step before the quotes that arrived after it.

Outputs (:class:`Cleaned`): the clean batches alone, and the same stream with the feed downs interleaved. The
fan-out to the strategies (per symbol, per exchange, whole batches) is in flows/common/fanout.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream

from arbflow.settings import CleaningConfig
from flows.common import cleaning
from flows.common.batches import ORDER, QUARANTINE_COLUMNS, Checked, FeedDowns, Item, Tables, rejected_rows
from flows.common.keyed import Runner, keyed_step

StreamStates = dict[str, cleaning.StreamState]  # per symbol


@dataclass(frozen=True)
class Clean:
    """A checked batch after the stream checks."""

    batch_seq: int
    quotes: pl.DataFrame  # the clean rows, source order (quote columns, quote_id, ts_event, batch_seq, batch_row)
    by_symbol: dict[str, pl.DataFrame]  # the same rows per symbol, source order within each
    quarantined: pl.DataFrame  # every row of the batch rejected at any stage: QUARANTINE_COLUMNS, any order
    tables: Tables  # this stage's quotes_rejected and quotes_clean
    books: pl.DataFrame | None = None  # replay of a book format: the books of the quotes that passed the gate


def clean_batch(streams: StreamStates, checked: Checked, cfg: CleaningConfig) -> tuple[StreamStates, Clean]:
    """Stream checks on one checked batch, per symbol with that symbol's state. Returns the new states and the batch.

    ``clean_stream`` judges each venue of a symbol on that venue's own history, so running it on all venues at once
    gives every row the verdict it gets on its venue's rows alone (which triangular and market making need)."""
    streams = dict(streams)
    by_symbol, rejected = {}, []
    for (symbol,), rows in checked.passed.partition_by("symbol", maintain_order=True, as_dict=True).items():
        streams[symbol], by_symbol[symbol], bad = cleaning.clean_stream(streams.get(symbol), rows, cfg)
        if bad.height:
            rejected.append(bad)
    quotes = checked.passed
    quarantined = checked.quarantined
    if rejected:
        bad = pl.concat(rejected)
        quotes = quotes.filter(~pl.col(ORDER).is_in(bad[ORDER].implode()))
        quarantined = pl.concat([quarantined, bad.select(QUARANTINE_COLUMNS)])
        tables = [("quotes_rejected", rejected_rows(bad.drop("ts_event"), "clean", checked.batch_seq))]
    else:
        tables = []
    tables.append(("quotes_clean", quotes.drop(ORDER)))  # the lake stores them unless told not to
    return streams, Clean(checked.batch_seq, quotes, by_symbol, quarantined, tables, checked.books)


@dataclass(frozen=True)
class CleanRunner(Runner[Checked | FeedDowns, Clean | FeedDowns, StreamStates]):
    """The stage's logic under its single key: checked batches are cleaned, feed downs pass through in place."""

    cfg: CleaningConfig

    def initial(self) -> StreamStates:
        return {}

    def step(self, state: StreamStates, item: Checked | FeedDowns) -> tuple[StreamStates, list[Clean | FeedDowns]]:
        if isinstance(item, FeedDowns):
            return state, [item]
        state, batch = clean_batch(state, item, self.cfg)
        return state, [batch]


@dataclass(frozen=True)
class Cleaned:
    """The stage's outputs."""

    ordered: Stream[Clean | FeedDowns]  # clean batches and live feed downs, in source order
    batches: Stream[Clean]  # the clean batches alone
    tables: Stream[Item]  # quotes_rejected (stream checks) and quotes_clean, once


def clean_stage(step_id: str, up: Stream[Checked] | Stream[Checked | FeedDowns], cfg: CleaningConfig) -> Cleaned:
    """QingXi's stream checks on every checked batch of ``up`` (one partition, in order), under a single key."""
    keyed = op.key_on(f"{step_id}_one_stream", up, lambda _item: "qingxi")
    ordered = op.key_rm(f"{step_id}_items", keyed_step(f"{step_id}_checks", keyed, CleanRunner(cfg)))
    batches = op.filter_map(f"{step_id}_batches", ordered, lambda item: item if isinstance(item, Clean) else None)
    return Cleaned(ordered, batches, op.flat_map(f"{step_id}_tables", batches, lambda c: c.tables))
