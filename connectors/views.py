"""A run's tables become visible together: run slots behind one symlink, switched atomically, and the view file.

``<data_dir>/lake`` is a symlink to ``lake.runs/a`` or ``lake.runs/b``. A fresh run writes into the other slot
(each table partition truncates its own table there), and at its first snapshot, or at its end when it has none,
the sink switches the symlink (``os.replace`` of a new link: atomic) and atomically replaces
``<data_dir>/arbflow.duckdb`` with views over the new slot's resolved path. A reader therefore sees the old run or
the new one, never new clean quotes next to old signals: ``table_glob`` resolves the link once per call, and a
DuckDB connection keeps the views of the file it opened. A resumed run writes into the published slot.

Tables that other processes append to across runs (``pipeline_logs`` by the log handler, ``system_alerts`` by the
API) live once in ``lake.shared/`` and each slot links to them, so a new run never hides them.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

SLOTS = "lake.runs"
SHARED = "lake.shared"
SHARED_TABLES = ("pipeline_logs", "system_alerts")
# The newest DuckDB CLI (1.5.x, what most users and GUI tools run) cannot open storage version 69 files.
DUCKDB_CONFIG = {"storage_compatibility_version": "v1.0.0"}


def _link(path: Path, target: str) -> None:
    """Point ``path`` at ``target`` atomically (a new link renamed over the old one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, path)


def current_slot(data_dir: str | Path) -> Path:
    """The published slot (creating the layout on first use, and moving a pre-slot ``lake`` directory into it)."""
    data_dir = Path(data_dir)
    lake = data_dir / "lake"
    if not lake.is_symlink():
        slot = data_dir / SLOTS / "a"
        slot.parent.mkdir(parents=True, exist_ok=True)
        if lake.is_dir():  # an older layout: its data becomes slot a, its shared tables move out
            for table in SHARED_TABLES:
                if (lake / table).is_dir() and not (data_dir / SHARED / table).exists():
                    (data_dir / SHARED).mkdir(exist_ok=True)
                    (lake / table).rename(data_dir / SHARED / table)
            lake.rename(slot)
        prepare_slot(data_dir, slot)
        _link(lake, f"{SLOTS}/{slot.name}")
    return lake.resolve()


def next_slot(data_dir: str | Path) -> Path:
    """Where a fresh run writes: the slot that is not published."""
    current = current_slot(data_dir)
    slot = current.parent / ("b" if current.name == "a" else "a")
    prepare_slot(data_dir, slot)
    return slot


def prepare_slot(data_dir: str | Path, slot: Path) -> None:
    """Create ``slot`` with its links to the shared tables."""
    slot.mkdir(parents=True, exist_ok=True)
    for table in SHARED_TABLES:
        shared = Path(data_dir) / SHARED / table
        shared.mkdir(parents=True, exist_ok=True)
        link = slot / table
        if not link.is_symlink():
            if link.is_dir():
                link.rmdir()  # an empty directory a writer made before the link existed
            link.symlink_to(f"../../{SHARED}/{table}")


def write_views(data_dir: str | Path, slot: Path, tables: list[str]) -> Path:
    """``<data_dir>/arbflow.duckdb`` with one view per table over ``slot``, built aside and renamed into place."""
    db_path = Path(data_dir) / "arbflow.duckdb"
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp), config=DUCKDB_CONFIG)
    try:
        for table in sorted(tables):
            glob = str((slot / table).resolve() / "**" / "*.parquet").replace("'", "''")
            con.execute(
                f'create or replace view "{table}" as select * from '
                f"read_parquet('{glob}', union_by_name = true, hive_partitioning = false)"
            )
    finally:
        con.close()
    os.replace(tmp, db_path)
    return db_path


def write_schema_files(slot: Path, schemas: dict[str, pa.Schema]) -> None:
    """A zero-row ``_schema.parquet`` per table, so every view exists (and has its columns) before any row."""
    for table, schema in schemas.items():
        path = slot / table / "_schema.parquet"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            pq.write_table(schema.empty_table(), tmp)
            os.replace(tmp, path)


def publish(data_dir: str | Path, slot: Path, schemas: dict[str, pa.Schema]) -> None:
    """Make ``slot`` the visible run: the view file first (over the slot itself), then the ``lake`` link."""
    write_schema_files(slot, schemas)
    write_views(data_dir, slot, list(schemas))
    _link(Path(data_dir) / "lake", f"{SLOTS}/{slot.name}")
