"""Checked batches: a source batch after normalization, QingXi's stateless row checks and the quality gate, and its
split into per-symbol items for the keyed steps (quotes, the books behind them, live feed downs)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from arbflow.settings import Settings
from connectors.batches import RawBatch, books_table
from connectors.normalize import REJECT_COLUMNS, normalize
from connectors.schema import QUOTE_COLUMNS
from flows.common import cleaning
from quality.compiled import CompiledGate

Tables = list[tuple[str, pl.DataFrame]]


@dataclass(frozen=True)
class Checked:
    """A batch after normalization, row checks and the quality gate."""

    batch_seq: int
    passed: pl.DataFrame
    tables: Tables  # rejected rows and validation runs, ready for the lake
    judged: pl.DataFrame | None = None  # the rows the quality gate judged, for the asynchronous GX audit
    partition: str = ""  # the source partition the batch came from (batch_seq counts per partition)
    books: pl.DataFrame | None = None  # replay of a book format: the books of the passed quotes (BOOKS_SCHEMA)


def rejected_rows(frame: pl.DataFrame, stage: str, batch_seq: int) -> pl.DataFrame:
    """Shape rejected rows (any stage) as quotes_rejected rows."""
    if "raw" not in frame.columns:
        raw_json = pl.struct([pl.col(c).cast(pl.String) for c in QUOTE_COLUMNS]).struct.json_encode()
        frame = frame.with_columns(raw_json.alias("raw"))
    return frame.with_columns(pl.lit(stage).alias("stage"), pl.lit(batch_seq).alias("batch_seq")).select(
        *REJECT_COLUMNS, "batch_seq"
    )


def check_batch(settings: Settings, gate: CompiledGate, batch: RawBatch) -> Checked:
    """Stateless QingXi: cast, row checks, then the quality suites (compiled; GX audits them off the hot path)."""
    quotes, bad_types = normalize(batch.frame)
    ok, bad_rows = cleaning.check_rows(quotes, settings.cleaning, set(settings.venues))
    gated = gate.validate(f"{batch.partition}/{batch.batch_seq}", batch.batch_seq, ok)
    tables: Tables = [
        ("quotes_rejected", rejected_rows(bad_types, "normalize", batch.batch_seq)),
        ("quotes_rejected", rejected_rows(bad_rows.drop("ts_event"), "clean", batch.batch_seq)),
        ("quotes_rejected", rejected_rows(gated.failed.drop("ts_event"), "validate", batch.batch_seq)),
        ("validation_runs", gated.runs),
    ]
    books = None
    if batch.books is not None:  # replay of a book format: its depth goes to the lake as live depth does
        tables.append(("books", books_table(batch.books)))
        books = batch.books.join(gated.passed.select("quote_id"), on="quote_id", how="semi")
    passed = gated.passed.with_columns(pl.lit(batch.batch_seq).alias("batch_seq"))
    return Checked(batch.batch_seq, passed, tables, ok, batch.partition, books)


@dataclass(frozen=True)
class SymbolBooks:
    """Replay of a book format: the books behind one symbol's quotes of a batch (sent just before those quotes)."""

    books: pl.DataFrame


def split_by_symbol(checked: Checked) -> list[tuple[str, pl.DataFrame | SymbolBooks]]:
    parts = checked.passed.partition_by("symbol", maintain_order=True, as_dict=True)
    books = {} if checked.books is None else checked.books.partition_by("symbol", as_dict=True)
    out: list[tuple[str, pl.DataFrame | SymbolBooks]] = []
    for key, part in parts.items():
        if key in books:
            out.append((key[0], SymbolBooks(books[key])))
        out.append((key[0], part))
    return out


@dataclass(frozen=True)
class FeedDowns:
    """Live only: moments (receive clock) when a venue's feed became unfit (see connectors/exchanges/feed_state.py)."""

    events: pl.DataFrame  # exchange, down_ts
