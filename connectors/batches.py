"""The unit that moves through the dataflow: a micro-batch of quotes, not one Python object per tick."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class RawBatch:
    """A micro-batch as a source produced it.

    Attributes:
        batch_seq: increasing per source partition (replay: the offset of the batch's first row); with
            ``partition`` it names the batch in ids.
        partition: the source partition (a replay dataset, a live venue connection).
        frame: the quote columns (any dtypes: normalization casts and quarantines) plus ``quote_id``
            ("<partition>/<offset>", the row's position in that partition's stream).
    """

    batch_seq: int
    partition: str
    frame: pl.DataFrame
