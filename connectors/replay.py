"""Replay recorded quotes (our Parquet/CSV capture format) as a resumable Bytewax source.

All files of a dataset are merged into one stream in receive-clock order (``ts_recv``, then file and row order, so
ties and unparsable timestamps keep their recorded position): the order a live run saw them. One partition carries the
whole stream, which makes every keyed operator downstream deterministic whatever the worker count; parallelism comes
from the keyed steps after it. The snapshot is the next row offset; resuming re-reads the files and seeks to it.

CSV files are read as text and handed on untouched: casting (and quarantining what does not cast) is the normalize
step's job, so a malformed recording produces rejected rows, not a crashed flow.
"""

from __future__ import annotations

import glob as globlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.batches import RawBatch
from connectors.schema import QUOTE_COLUMNS

log = logging.getLogger(__name__)


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


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        frame = pl.read_csv(path, infer_schema=False)
    elif path.suffix == ".parquet":
        frame = pl.read_parquet(path)
    else:
        msg = f"replay file {path} is neither .parquet nor .csv"
        raise ValueError(msg)
    return frame.select([c for c in frame.columns if c in QUOTE_COLUMNS])


def _sort_key(frame: pl.DataFrame) -> pl.Expr:
    """Receive time in µs for ordering only; unparsable values take the previous row's."""
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
    return key.forward_fill().fill_null(0)


def load_stream(files: Sequence[Path]) -> pl.DataFrame:
    """All files merged in receive order, with ``_ts_us`` for pacing."""
    frames = []
    for i, path in enumerate(files):
        frame = _read(path)
        frames.append(
            frame.with_columns(
                _sort_key(frame).alias("_ts_us"), pl.lit(i).alias("_file"), pl.int_range(pl.len()).alias("_row")
            )
        )
    stream = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    if len(frames) > 1 or not stream["_ts_us"].is_sorted():
        stream = stream.sort("_ts_us", "_file", "_row", maintain_order=True)
    return stream.drop("_file", "_row")


def with_quote_ids(frame: pl.DataFrame, partition: str, offset: int) -> pl.DataFrame:
    """``quote_id`` = "<partition>/<offset of the row in the stream>", built per batch (10M ids up front cost seconds
    before the first batch and hold hundreds of MB)."""
    offsets = pl.int_range(offset, offset + pl.len()).cast(pl.String)
    return frame.with_columns(pl.concat_str([pl.lit(f"{partition}/"), offsets]).alias("quote_id"))


class _ReplayPartition(StatefulSourcePartition[RawBatch, int]):
    def __init__(self, stream: pl.DataFrame, name: str, offset: int, batch_rows: int, speed: float) -> None:
        self.stream, self.name, self.offset = stream, name, offset
        self.batch_rows, self.speed = batch_rows, speed
        self._t0_wall = time.monotonic()
        self._t0_data = int(stream["_ts_us"][offset]) if offset < stream.height else 0
        self._awake: datetime | None = None
        if offset:
            log.info("resuming replay %s at offset %d of %d", name, offset, stream.height)

    def next_batch(self) -> list[RawBatch]:
        if self.offset >= self.stream.height:
            raise StopIteration
        end = min(self.offset + self.batch_rows, self.stream.height)
        if self.speed > 0:
            # Real-time pacing that never changes the batching: a batch is released once its last row is due.
            now_data = self._t0_data + (time.monotonic() - self._t0_wall) * self.speed * 1e6
            due = int(self.stream["_ts_us"][end - 1])
            if now_data < due:
                wait_s = (due - now_data) / 1e6 / self.speed
                self._awake = datetime.now(UTC) + timedelta(seconds=min(wait_s, 0.5))
                return []
        self._awake = None
        frame = with_quote_ids(self.stream.slice(self.offset, end - self.offset).drop("_ts_us"), self.name, self.offset)
        batch = RawBatch(self.offset, self.name, frame)
        self.offset = end
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
    """

    def __init__(self, files: Sequence[Path], name: str = "replay", batch_rows: int = 20_000, speed: float = 0.0):
        self.files, self.name, self.batch_rows, self.speed = list(files), name, batch_rows, speed

    def list_parts(self) -> list[str]:
        return [self.name]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ReplayPartition:
        return _ReplayPartition(load_stream(self.files), self.name, resume_state or 0, self.batch_rows, self.speed)
