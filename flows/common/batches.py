"""Checked batches: a source batch after normalization, QingXi's stateless row checks and the quality gate, and the
items that travel with them to the keyed steps (the books behind a symbol's quotes, live feed downs).

Every row keeps ``batch_row``, its position in the source batch: with ``batch_seq`` it is the source order, so steps
that merge rows from different stages sort on a number instead of parsing ``quote_id``."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from arbflow.settings import Settings
from connectors.batches import RawBatch, books_table
from connectors.normalize import REJECT_COLUMNS, normalize
from connectors.schema import QUOTE_COLUMNS
from flows.common import cleaning
from quality.compiled import CompiledGate

Item = tuple[str, pl.DataFrame]  # (lake table name, rows)
Tables = list[Item]
ORDER = "batch_row"  # UInt32: the row's position in its source batch (RawBatch.frame)
QUARANTINE_COLUMNS = ("quote_id", "exchange", "symbol", ORDER)


@dataclass(frozen=True)
class Checked:
    """A batch after normalization, row checks and the quality gate."""

    batch_seq: int
    passed: pl.DataFrame  # source order, with ``batch_seq`` and ``batch_row``
    tables: Tables  # rejected rows and validation runs, ready for the lake
    quarantined: pl.DataFrame  # the rows rejected so far (normalize, row checks, gate): QUARANTINE_COLUMNS
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
    quotes, bad_types = _with_batch_rows(batch.frame, *normalize(batch.frame))
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
    quarantined = pl.concat([f.select(QUARANTINE_COLUMNS) for f in (bad_types, bad_rows, gated.failed)])
    return Checked(batch.batch_seq, passed, tables, quarantined, ok, batch.partition, books)


def _with_batch_rows(
    raw: pl.DataFrame, quotes: pl.DataFrame, rejected: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``normalize``'s outputs with ``batch_row``. It keeps the row order, and ``quote_id`` is unique in a batch
    (connectors/batches.py), so the rows it rejected are found by id; the common case (none) costs one column."""
    if not rejected.height:
        return quotes.with_row_index(ORDER), rejected.with_columns(pl.lit(None, dtype=pl.UInt32).alias(ORDER))
    ids = raw.select(pl.col("quote_id").cast(pl.String)).with_row_index(ORDER)
    bad = ids["quote_id"].is_in(rejected["quote_id"].implode())
    kept = ids.filter(~bad)[ORDER]
    return kept.to_frame().hstack(quotes), rejected.join(ids, on="quote_id", how="left", maintain_order="left")


@dataclass(frozen=True)
class SymbolBooks:
    """Replay of a book format: the books behind one symbol's quotes of a batch (sent just before those quotes)."""

    books: pl.DataFrame


@dataclass(frozen=True)
class FeedDowns:
    """Live only: moments (receive clock) when a venue's feed became unfit (see connectors/exchanges/feed_state.py)."""

    events: pl.DataFrame  # exchange, down_ts
