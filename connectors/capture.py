"""Capture live quotes in our Parquet quote format so a recorded session replays through the same flow.

Layout: ``<dir>/exchange=<ccxt id>/date=YYYY-MM-DD/<exchange>-<YYYYMMDDTHH>-<first offset>.parquet``, one file per
venue per receive-clock hour, split every ``rows_per_file`` rows. Files are written to a temporary name and renamed,
so a reader (or a replay) never sees half a file. Names come from the venue's quote offsets, so a resumed live run
continues the sequence instead of overwriting. Order across venues needs no extra column: the live source's merge
point (connectors/live.py) gives every quote a strictly increasing ``ts_recv`` in arrival order, so merging the
files by ``ts_recv`` (as replay and ``read_capture`` do) rebuilds the sequence the live flow consumed. Rows are cast to ``QUOTE_SCHEMA``; a value that does not cast
(garbage from the venue) is stored as null, and the replayed row is quarantined like the live one.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from connectors.schema import POLARS_QUOTE_SCHEMA, QUOTE_SCHEMA


def to_quote_schema(frame: pl.DataFrame) -> pl.DataFrame:
    """Raw quote columns (strings, ints, datetimes) -> exactly ``POLARS_QUOTE_SCHEMA``; uncastable values -> null."""
    return frame.select(
        [pl.col(name).cast(dtype, strict=False) if dtype != pl.String() else pl.col(name).cast(pl.String)
         for name, dtype in POLARS_QUOTE_SCHEMA.items()]
    )  # fmt: skip


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` (quote schema) to ``path`` through ``<path>.tmp`` + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(frame.to_arrow().cast(QUOTE_SCHEMA), tmp, compression="zstd")
    os.replace(tmp, path)


class CaptureWriter:
    """Buffers one venue's quotes and writes a part file per hour (receive clock) or every ``rows_per_file`` rows."""

    def __init__(self, directory: str | Path, exchange: str, rows_per_file: int = 100_000) -> None:
        if rows_per_file < 1:
            msg = f"rows_per_file must be >= 1, got {rows_per_file}"
            raise ValueError(msg)
        self.directory = Path(directory)
        self.exchange = exchange
        self.rows_per_file = rows_per_file
        self._parts: list[pl.DataFrame] = []
        self._rows = 0
        self._first_offset = 0
        self._hour: dt.datetime | None = None
        self.files: list[Path] = []

    def write(self, frame: pl.DataFrame, first_offset: int) -> None:
        """Add a batch of raw quote rows whose first row has partition offset ``first_offset``."""
        quotes = to_quote_schema(frame)
        hours = quotes["ts_recv"].dt.truncate("1h")
        for hour_frame in quotes.with_columns(_hour=hours).partition_by("_hour", maintain_order=True):
            hour = hour_frame["_hour"][0]
            if self._hour is not None and hour != self._hour:
                self.flush()
            if self._rows == 0:
                self._hour, self._first_offset = hour, first_offset
            chunk = hour_frame.drop("_hour")
            while chunk.height:
                take = chunk.head(self.rows_per_file - self._rows)
                self._parts.append(take)
                self._rows += take.height
                first_offset += take.height
                chunk = chunk.slice(take.height)
                if self._rows >= self.rows_per_file:
                    self.flush()
                    self._hour, self._first_offset = hour, first_offset

    def flush(self) -> Path | None:
        """Write what is buffered as one part file; returns its path (None when nothing was buffered)."""
        if self._rows == 0 or self._hour is None:
            return None
        hour = self._hour
        path = (self.directory / f"exchange={self.exchange}" / f"date={hour:%Y-%m-%d}"
                / f"{self.exchange}-{hour:%Y%m%dT%H}-{self._first_offset:012d}.parquet")  # fmt: skip
        write_parquet_atomic(pl.concat(self._parts), path)
        self.files.append(path)
        self._parts, self._rows = [], 0
        return path


def read_capture(directory: str | Path) -> pl.DataFrame:
    """All captured quotes under ``directory``, in the quote schema, in arrival order (``ts_recv``; ties keep file
    and row order)."""
    files = sorted(Path(directory).glob("exchange=*/date=*/*.parquet"))
    if not files:
        return pl.DataFrame(schema=POLARS_QUOTE_SCHEMA)
    return pl.concat([pl.read_parquet(f) for f in files]).sort("ts_recv", maintain_order=True)
