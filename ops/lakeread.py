"""Read-only queries over the Parquet lake for the API, never blocking the running flow.

Each query opens an in-memory DuckDB connection and scans ``<data_dir>/lake/<table>/**/*.parquet`` directly (the
layout and glob of connectors/lake.py), so it takes no lock on ``data/arbflow.duckdb`` and sees every part file renamed
into place so far. Table names come from the caller's allow-list; filter columns are checked against the columns the
files actually have; values are bound as parameters. A table with no files yet reads as no rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from arbflow.errors import UnknownColumnError
from connectors.lake import lake_dir, table_glob

_TIME_TYPES = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP")


@dataclass(frozen=True)
class LakeQuery:
    """Newest-first rows of one table, optionally filtered by equality and a time range on its time column."""

    table: str
    equals: Mapping[str, str | None]  # column -> value; None values are ignored
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    time_column: str | None = None  # default: the table's first timestamp column
    min_level_of: tuple[str, tuple[str, ...]] | None = None  # (column, allowed values) e.g. log levels at or above


def _clean(value: Any) -> Any:
    """JSON cannot carry NaN/inf: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def query_rows(data_dir: str | Path, q: LakeQuery) -> list[dict[str, Any]]:
    """Run ``q``; a table with no Parquet files returns ``[]``."""
    root, glob = lake_dir(data_dir) / q.table, table_glob(data_dir, q.table)
    if not root.is_dir() or not any(root.rglob("*.parquet")):
        return []
    con = duckdb.connect()
    try:
        source = "read_parquet($glob, union_by_name = true, hive_partitioning = false)"
        described = con.execute(f"describe select * from {source}", {"glob": glob}).fetchall()
        types = {name: dtype for name, dtype, *_ in described}
        time_col = q.time_column or next((n for n, t in types.items() if t in _TIME_TYPES), None)
        where, params = [], {"glob": glob, "limit": q.limit}
        for i, (col, value) in enumerate(sorted(q.equals.items())):
            if value is None:
                continue
            if col not in types:
                msg = f"table {q.table} has no column {col!r}"
                raise UnknownColumnError(msg)
            where.append(f'"{col}" = $v{i}')
            params[f"v{i}"] = value
        if q.min_level_of is not None:
            col, allowed = q.min_level_of
            where.append(f'"{col}" in (select unnest($levels))')
            params["levels"] = list(allowed)
        for bound, op, name in ((q.since, ">=", "since"), (q.until, "<", "until")):
            if bound is not None:
                if time_col is None:
                    msg = f"table {q.table} has no timestamp column to filter by {name}"
                    raise UnknownColumnError(msg)
                where.append(f'"{time_col}" {op} ${name}')
                params[name] = bound
        sql = f"select * from {source}"
        if where:
            sql += " where " + " and ".join(where)
        if time_col is not None:
            sql += f' order by "{time_col}" desc nulls last'
        sql += " limit $limit"
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [{n: _clean(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]
    finally:
        con.close()
