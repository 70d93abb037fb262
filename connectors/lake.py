"""The Parquet lake (exactly-once) and the DuckDB file of views over it.

Layout: ``<data_dir>/lake/<table>/date=YYYY-MM-DD/part-<n>.parquet`` (date of the table's first timestamp column;
``date=none`` when that value is null) plus a zero-row ``_schema.parquet`` per table so every view exists from the
start. ``<data_dir>/arbflow.duckdb`` holds one view per table over those files: the flow never opens the DuckDB file
while running, so any number of readers (CLI, API, the plain ``duckdb`` client) can query it concurrently.
``lake`` is a link to one of two run slots (connectors/views.py): a fresh run writes the other slot and publishes
it, views included, in one switch, so readers see one run or the other, never a mix.

Exactly-once: each table is one partition of a Bytewax ``FixedPartitionedSink`` whose snapshot is the next part
number. Files are written to a temporary name and renamed, so a part is either whole or absent. On resume, parts
numbered at or after the snapshot (written after the last committed epoch) are deleted before the replayed items
rewrite them; a fresh run (no resume state) starts the table empty. Row ids are deterministic, so the resumed lake
equals an uninterrupted run's.

Parts are encoded and written on a background thread while the worker computes the next batch (Parquet encoding
releases the GIL). Part numbers are still assigned in order on the worker, at most ``MAX_PENDING`` parts per table
wait, and ``snapshot`` returns only after every part of the epoch is on disk, so the exactly-once contract holds. A
failed write is raised on the worker at its next write, snapshot or close.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from connectors import schema, views
from connectors.views import DUCKDB_CONFIG

PART_RE = re.compile(r"^part-(\d{10})\.parquet$")
MAX_PENDING = 2  # parts per table queued for the writer thread before write_batch waits (bounds memory)
LOW_CARDINALITY = frozenset(
    {
        "exchange",
        "symbol",
        "source",
        "stage",
        "reason",
        "suite",
        "severity",
        "strategy",
        "buy_exchange",
        "sell_exchange",
    }
)


def table_schemas() -> dict[str, pa.Schema]:
    """Arrow schemas of every table (connectors/schema.py reads them from ``sql/schema/*.sql``), all columns nullable
    in the lake."""
    return {name: schema.arrow_schema(name, not_null=False) for name in schema.tables()}


def _date_column(schema: pa.Schema) -> str | None:
    return next((f.name for f in schema if pa.types.is_timestamp(f.type)), None)


def lake_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "lake"


def table_glob(data_dir: str | Path, table: str) -> str:
    return str(lake_dir(data_dir).resolve() / table / "**" / "*.parquet")


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # Dictionary-encode only low-cardinality strings: ids and free text would build a dictionary only to drop it.
    dictionary = [f.name for f in table.schema if pa.types.is_string(f.type) and f.name in LOW_CARDINALITY]
    pq.write_table(table, tmp, compression="zstd", compression_level=1, use_dictionary=dictionary)
    os.replace(tmp, path)


def _by_date(data: pl.DataFrame, column: str) -> list[tuple[str, pl.DataFrame]]:
    """(``YYYY-MM-DD`` or ``none``, rows) per UTC date of ``column``; one group without a split in the usual case."""
    day = pl.col(column).dt.date()
    first, last, nulls = data.select(day.min().alias("a"), day.max().alias("b"), day.null_count().alias("n")).row(0)
    if first == last and not nulls:
        return [(str(first), data)]
    keyed = data.with_columns(day.cast(pl.String).fill_null("none").alias("_date"))
    return [(k[0], g.drop("_date")) for k, g in keyed.group_by("_date", maintain_order=True)]


def to_arrow(frame: pl.DataFrame, schema: pa.Schema, table: str) -> pa.Table:
    """Cast a frame to its table's schema; a missing or extra column is a bug, reported by name."""
    names = set(schema.names)
    if set(frame.columns) != names:
        msg = f"{table}: columns {sorted(set(frame.columns) ^ names)} do not match sql/schema"
        raise ValueError(msg)
    return frame.select(schema.names).to_arrow().cast(schema)


class _TablePartition(StatefulSinkPartition[pl.DataFrame, int]):
    def __init__(
        self,
        root: Path,
        table: str,
        schema: pa.Schema,
        next_part: int,
        writer: ThreadPoolExecutor,
        on_snapshot: Callable[[], None],
        on_close: Callable[[], None],
    ) -> None:
        self.root, self.table, self.schema, self.next_part, self.writer = root, table, schema, next_part, writer
        self.on_snapshot, self.on_close = on_snapshot, on_close
        self.date_col = _date_column(schema)
        self.pending: list[Future[None]] = []
        for path in root.glob("date=*/part-*.parquet"):
            match = PART_RE.match(path.name)
            if match and int(match.group(1)) >= next_part:
                path.unlink()

    def write_batch(self, items: list[pl.DataFrame]) -> None:
        frames = [f for f in items if f.height]
        if not frames:
            return
        self._wait(keep=MAX_PENDING - 1)
        self.pending.append(self.writer.submit(self._write_part, frames, self.next_part))
        self.next_part += 1

    def _write_part(self, frames: list[pl.DataFrame], part: int) -> None:
        data = pl.concat(frames, how="vertical_relaxed")
        groups = [("none", data)] if self.date_col is None else _by_date(data, self.date_col)
        for day_value, group in groups:
            name = f"part-{part:010d}.parquet"
            _write_atomic(to_arrow(group, self.schema, self.table), self.root / f"date={day_value}" / name)

    def _wait(self, keep: int = 0) -> None:
        """Block until at most ``keep`` parts are still being written; re-raise a failed write here."""
        while len(self.pending) > keep:
            self.pending.pop(0).result()

    def snapshot(self) -> int:
        self._wait()
        self.on_snapshot()
        return self.next_part

    def close(self) -> None:
        """Bytewax calls this only at end of input (never on abort or crash)."""
        self._wait()
        self.on_close()


class LakeSink(FixedPartitionedSink[pl.DataFrame, int]):
    """Items are ``(table_name, polars.DataFrame)``; one partition per table.

    ``on_eof`` is called once, when every partition this process built has closed at end of input, so whoever
    records the run (connectors/runs.py) learns that the lake holds all of it.
    """

    def __init__(
        self, data_dir: str | Path, schemas: dict[str, pa.Schema], on_eof: Callable[[], None] | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.on_eof = on_eof
        self._open = 0
        self._lock = threading.Lock()
        self._slot: Path | None = None  # the run slot this process writes (connectors/views.py)
        self._published = False
        self.schemas = schemas
        self.tables = sorted(schemas)
        # One writer thread per sink, shared by its partitions (and by the workers of one process); started lazily.
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-writer")

    def list_parts(self) -> list[str]:
        return self.tables

    def part_fn(self, item_key: str) -> int:
        try:
            return self.tables.index(item_key)
        except ValueError:
            msg = f"lake sink got rows for table {item_key!r}, which sql/schema/*.sql does not declare"
            raise KeyError(msg) from None

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _TablePartition:
        with self._lock:
            self._open += 1
            if self._slot is None:  # a fresh run writes beside the published one; a resumed run continues it
                fresh = resume_state is None
                self._slot = views.next_slot(self.data_dir) if fresh else views.current_slot(self.data_dir)
                self._published = not fresh
            slot = self._slot
        schema = self.schemas[for_part]
        return _TablePartition(
            slot / for_part, for_part, schema, resume_state or 0, self.writer, self._publish, self._closed
        )

    def _publish(self) -> None:
        """At the first snapshot (every table's parts of an epoch are on disk) or at the end: the run's tables
        become visible together."""
        with self._lock:
            if self._published or self._slot is None:
                return
            views.publish(self.data_dir, self._slot, self.schemas)
            self._published = True

    def _closed(self) -> None:
        self._publish()
        with self._lock:
            self._open -= 1
            last = self._open == 0
        if last and self.on_eof is not None:
            self.on_eof()


def prepare(data_dir: str | Path, schemas: dict[str, pa.Schema]) -> Path:
    """Create the published run slot's schema files and the DuckDB file of views over it; return the DuckDB path.

    The DuckDB file is built under a temporary name and renamed into place, so readers never meet a lock held by the
    flow, and several processes of one cluster can prepare at once. A run publishes its own slot later
    (connectors/views.py).
    """
    slot = views.current_slot(data_dir)
    views.write_schema_files(slot, schemas)
    return views.write_views(data_dir, slot, list(schemas))


def connect(data_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the results (what the CLI and the API use)."""
    return duckdb.connect(str(Path(data_dir) / "arbflow.duckdb"), read_only=True, config=DUCKDB_CONFIG)
