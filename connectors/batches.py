"""The unit that moves through the dataflow: a micro-batch of quotes, not one Python object per tick.

Depth contract (replay of book formats: tardis ``book_snapshot_5/25``, hftbacktest depth):

- ``RawBatch.books`` holds the book levels behind the batch's quotes, one row per book, in ``BOOKS_SCHEMA``: the
  lake ``books`` table's columns (sql/schema/feeds.sql) plus ``quote_id``.
- Each book row's ``quote_id`` is the ``quote_id`` of the quote row that is that book's top of book, in the same
  batch. So ``batch.frame.join(batch.books, on="quote_id")`` pairs each quote with its full depth; quotes without a
  book (quote-only formats, or a file with both) simply have no match. A book never refers to a quote in another
  batch, so batching and resuming keep the pairs whole.
- ``book_id`` is ``"<partition>/book/<offset>"`` with the same offset as its quote's ``"<partition>/<offset>"``.
- Levels are lists, best first (bids descending, asks ascending), quantities in base units; clocks as the quote's
  (``ts_exchange`` venue clock, ``ts_recv`` receive clock, UTC µs).
- A quote that normalization quarantines keeps its book row in ``books`` (the lake keeps what the file said);
  consumers pair books with the quotes that passed by joining on ``quote_id``.
- ``books`` is None when the source has no depth (own capture, tardis ``quotes``, simulator, live: live depth goes
  out as ``TableBatch("books")`` items instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from connectors.schema import polars_schema

# The lake ``books`` table columns plus the quote the book belongs to.
BOOKS_SCHEMA = polars_schema("quotes_clean", "quote_id") | polars_schema("books")


def books_table(books: pl.DataFrame) -> pl.DataFrame:
    """``RawBatch.books`` -> rows of the lake ``books`` table (the same columns minus ``quote_id``)."""
    return books.drop("quote_id")


@dataclass(frozen=True)
class RawBatch:
    """A micro-batch as a source produced it.

    Attributes:
        batch_seq: increasing per source partition (replay: the offset of the batch's first row); with
            ``partition`` it names the batch in ids.
        partition: the source partition (a replay dataset, a live venue connection).
        frame: the quote columns (any dtypes: normalization casts and quarantines) plus ``quote_id``
            ("<partition>/<offset>", the row's position in that partition's stream).
        books: the depth behind the quotes (``BOOKS_SCHEMA``, joined to ``frame`` on ``quote_id``; see the module
            docstring), or None when the source has no book levels.
    """

    batch_seq: int
    partition: str
    frame: pl.DataFrame
    books: pl.DataFrame | None = None
