"""Replay recorded quotes (any format in connectors/formats.py) as a resumable Bytewax source.

All files of a dataset are merged into one stream in receive-clock order (``ts_recv``, then file and row order, so
ties and unparsable timestamps keep their recorded position): the order a live run saw them. One partition carries the
whole stream, which makes every keyed operator downstream deterministic whatever the worker count; parallelism comes
from the keyed steps after it. The snapshot is the next row offset; resuming re-reads the files and seeks to it.

Memory does not grow with the input: each file is read in chunks (Parquet row batches, CSV line blocks) and the files
are k-way merged, holding about one chunk per file open. A first pass over each file finds its smallest receive time
and whether its rows are in receive order; a file is opened only once the merge reaches that time, so a long
recording split into consecutive files holds one or two of them at a time. A file not in receive order is sorted on
its own, so memory is bounded by that file; that is logged.

CSV files are read as text and handed on untouched: casting (and quarantining what does not cast, or a line with the
wrong number of fields) is the normalize step's job, so a malformed recording produces rejected rows, not a crashed
flow.
"""

from __future__ import annotations

import glob as globlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.batches import BOOKS_SCHEMA, RawBatch
from connectors.formats import BOOK_LEVEL_COLUMNS, BOOK_PREFIX, CHUNK_ROWS, Format, resolve

log = logging.getLogger(__name__)
_ORDER = ("_ts_us", "_file", "_row")
_NO_BOUND = -(2**63)


def expand(paths: Sequence[str | Path]) -> list[Path]:
    """Files named by paths or globs, sorted; naming nothing is a configuration error."""
    files: list[Path] = []
    for p in paths:
        matches = sorted(globlib.glob(str(p), recursive=True))
        if not matches:
            msg = f"replay path {p!s} matches no file"
            raise FileNotFoundError(msg)
        files.extend(Path(m) for m in matches)
    return files


def _sort_key(frame: pl.DataFrame, carry: int) -> pl.Series:
    """Receive time in µs for ordering only; unparsable values take the previous row's (``carry`` across chunks)."""
    col = pl.col("ts_recv")
    dtype = frame.schema.get("ts_recv")
    if dtype == pl.String:
        key = pl.coalesce(
            col.cast(pl.Int64, strict=False),
            col.str.to_datetime(time_unit="us", time_zone="UTC", strict=False).dt.epoch("us"),
        )
    elif isinstance(dtype, pl.Datetime):
        key = col.dt.epoch("us")
    elif dtype is not None and dtype.is_numeric():
        key = col.cast(pl.Int64, strict=False)
    else:
        key = pl.lit(None, dtype=pl.Int64)
    return frame.select(key.forward_fill().fill_null(carry).alias("_ts_us"))["_ts_us"]


def _keyed(path: Path, fmt: Format, index: int) -> Iterator[pl.DataFrame]:
    """One file's chunks with the merge keys ``_ts_us``, ``_file``, ``_row``, in file order."""
    carry, row = 0, 0
    for chunk in fmt.chunks(path, CHUNK_ROWS):
        key = _sort_key(chunk, carry)
        if key.len():
            carry = int(key[-1])
        rows = pl.int_range(row, row + chunk.height, eager=True, dtype=pl.Int64)
        row += chunk.height
        yield chunk.with_columns(key, pl.lit(index, dtype=pl.Int64).alias("_file"), rows.alias("_row"))


@dataclass(frozen=True)
class _FileStream:
    """One file's merge keys and chunks: ``low`` bounds every key of the file from below (None: no rows), so the merge
    opens the file only once its rows can be next."""

    low: int | None
    chunks: Iterator[pl.DataFrame]


def _scan(path: Path, fmt: Format) -> tuple[bool, int | None]:
    """A first pass over the file's chunks: (rows in receive order?, smallest key or None when there are none)."""
    last, low, ordered = _NO_BOUND, None, True
    for chunk in _keyed(path, fmt, 0):
        key = chunk["_ts_us"]
        if not key.len():
            continue
        ordered = ordered and int(key[0]) >= last and key.is_sorted()
        low = int(key.min()) if low is None else min(low, int(key.min()))  # type: ignore[arg-type]
        last = int(key[-1])
    return ordered, low


def _sorted_chunks(path: Path, fmt: Format, index: int) -> Iterator[pl.DataFrame]:
    log.warning("replay file %s (%s) is not in receive order: sorting it in memory", path, fmt.name)
    chunks = list(_keyed(path, fmt, index))
    if chunks:
        whole = pl.concat(chunks, how="diagonal_relaxed").sort(*_ORDER)
        yield from (whole.slice(s, CHUNK_ROWS) for s in range(0, whole.height, CHUNK_ROWS))


def _file_stream(path: Path, fmt: Format, index: int) -> _FileStream:
    """Chunks come lazily; a format that needs the whole file has no known bound and is read at the start."""
    if not fmt.streams:
        return _FileStream(_NO_BOUND, _sorted_chunks(path, fmt, index))
    ordered, low = _scan(path, fmt)
    return _FileStream(low, _keyed(path, fmt, index) if ordered else _sorted_chunks(path, fmt, index))


class _Merge:
    """k-way merge of per-file sorted chunk streams by (``_ts_us``, file index, row), one chunk per open file in hand.

    A buffered row is safe to release once no unread row of another file can sort before it: every other file's
    unread rows have keys at least that file's bound (its last read key, or before any read its smallest key). A file
    is first read when its bound is the lowest, so consecutive files (a capture split by hour or day) are open one or
    two at a time, whatever their number.
    """

    def __init__(self, streams: list[_FileStream]) -> None:
        self.streams = [s.chunks for s in streams]
        self.bounds: list[int | None] = [s.low for s in streams]  # None: exhausted
        self.pending: pl.DataFrame | None = None

    def _pull(self) -> None:
        live = [(b, i) for i, b in enumerate(self.bounds) if b is not None]
        _, i = min(live)
        chunk = next(self.streams[i], None)
        if chunk is None:
            self.bounds[i] = None
            return
        if chunk.height:
            self.bounds[i] = int(chunk["_ts_us"][-1])
            both = [chunk] if self.pending is None else [self.pending, chunk]
            merged = pl.concat(both, how="diagonal_relaxed")
            self.pending = merged.sort(*_ORDER) if len(both) > 1 and len(self.streams) > 1 else merged

    def _ready(self) -> int:
        """How many leading pending rows are safe."""
        if self.pending is None:
            return 0
        live = sorted((b, i) for i, b in enumerate(self.bounds) if b is not None)
        if not live:
            return self.pending.height
        (b1, f1), (b2, f2) = live[0], live[1] if len(live) > 1 else (2**63 - 1, len(self.bounds))
        own = pl.col("_file") == f1
        limit_k, limit_f = pl.when(own).then(b2).otherwise(b1), pl.when(own).then(f2).otherwise(f1)
        safe = (pl.col("_ts_us") < limit_k) | ((pl.col("_ts_us") == limit_k) & (pl.col("_file") < limit_f))
        unsafe = self.pending.select((~safe).arg_true().first())[0, 0]
        return self.pending.height if unsafe is None else int(unsafe)

    def take(self, n: int) -> pl.DataFrame | None:
        """The next ``n`` rows of the merged stream (fewer at the end; None when it is over)."""
        while (ready := self._ready()) < n and any(b is not None for b in self.bounds):
            self._pull()
        if self.pending is None or ready == 0:
            return None
        out, self.pending = self.pending.head(min(n, ready)), self.pending.slice(min(n, ready))
        return out


def merged_stream(files: Sequence[Path], formats: Sequence[Format]) -> _Merge:
    """All files merged in receive order (rows carry ``_ts_us`` for pacing, ``_file``, ``_row``)."""
    return _Merge([_file_stream(p, f, i) for i, (p, f) in enumerate(zip(files, formats, strict=True))])


def with_quote_ids(frame: pl.DataFrame, partition: str, offset: int) -> pl.DataFrame:
    """``quote_id`` = "<partition>/<offset of the row in the stream>", built per batch."""
    offsets = pl.int_range(offset, offset + pl.len()).cast(pl.String)
    return frame.with_columns(pl.concat_str([pl.lit(f"{partition}/"), offsets]).alias("quote_id"))


def split_books(frame: pl.DataFrame, partition: str) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Rows with ``quote_id`` and ``book_*`` level columns -> (quote rows, ``RawBatch.books`` in ``BOOKS_SCHEMA``)."""
    levels = [BOOK_PREFIX + c for c in BOOK_LEVEL_COLUMNS]
    if levels[0] not in frame.columns:
        return frame, None
    offset = pl.col("quote_id").str.strip_prefix(f"{partition}/")
    books = frame.filter(pl.col(levels[0]).is_not_null()).select(
        pl.col("quote_id"),
        pl.concat_str([pl.lit(f"{partition}/book/"), offset]).alias("book_id"),
        *[pl.col(c) for c in ("exchange", "symbol")],
        *[pl.col(BOOK_PREFIX + c).alias(c) for c in BOOK_LEVEL_COLUMNS],
        *[pl.col(c) for c in ("ts_exchange", "ts_recv", "seq", "source")],
    )
    return frame.drop(levels), books.cast(BOOKS_SCHEMA)  # type: ignore[arg-type]


class _ReplayPartition(StatefulSourcePartition[RawBatch, int]):
    def __init__(self, merge: _Merge, name: str, offset: int, batch_rows: int, speed: float) -> None:
        self.merge, self.name, self.offset = merge, name, offset
        self.batch_rows, self.speed = batch_rows, speed
        skipped = 0
        while skipped < offset and (rows := merge.take(min(offset - skipped, CHUNK_ROWS))) is not None:
            skipped += rows.height
        self.next_rows = merge.take(batch_rows)
        self._t0_wall = time.monotonic()
        self._t0_data = int(self.next_rows["_ts_us"][0]) if self.next_rows is not None else 0
        self._awake: datetime | None = None
        if offset:
            log.info("resuming replay %s at offset %d", name, offset)

    def next_batch(self) -> list[RawBatch]:
        rows = self.next_rows
        if rows is None:
            raise StopIteration
        if self.speed > 0:
            # Real-time pacing that never changes the batching: a batch is released once its last row is due.
            now_data = self._t0_data + (time.monotonic() - self._t0_wall) * self.speed * 1e6
            due = int(rows["_ts_us"][-1])
            if now_data < due:
                wait_s = (due - now_data) / 1e6 / self.speed
                self._awake = datetime.now(UTC) + timedelta(seconds=min(wait_s, 0.5))
                return []
        self._awake = None
        frame, books = split_books(with_quote_ids(rows.drop(*_ORDER), self.name, self.offset), self.name)
        batch = RawBatch(self.offset, self.name, frame, books)
        self.offset += rows.height
        self.next_rows = self.merge.take(self.batch_rows)
        return [batch]

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> int:
        return self.offset


class ReplaySource(FixedPartitionedSource[RawBatch, int]):
    """Replays ``files`` as one partition named ``name`` in micro-batches of ``batch_rows``.

    ``speed`` 0 replays as fast as the flow takes it; 1.0 paces to the recorded receive clock; 10.0 ten times faster.
    A batch's ``batch_seq`` is the offset of its first row. Batches always hold ``batch_rows`` rows (pacing only delays
    them), so batch boundaries, and every id derived from them, are the same in every run and after a resume.
    ``file_format`` names the format of every file (connectors/formats.py); None sniffs each file's own.
    """

    def __init__(
        self,
        files: Sequence[Path],
        *,
        batch_rows: int,
        speed: float,
        name: str = "replay",
        file_format: str | None = None,
    ) -> None:
        self.files, self.name, self.batch_rows, self.speed = list(files), name, batch_rows, speed
        self.formats = [resolve(p, file_format) for p in self.files]  # an unknown file fails here, at build time

    def list_parts(self) -> list[str]:
        return [self.name]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ReplayPartition:
        merge = merged_stream(self.files, self.formats)
        return _ReplayPartition(merge, self.name, resume_state or 0, self.batch_rows, self.speed)
