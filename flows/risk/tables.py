"""Output tables of the risk step (fills, positions, pnl, risk_metrics, alerts): their schemas (declared in
sql/schema/risk.sql, read by connectors/schema.py) and the conversion from the engine's row dicts (times as integer
microseconds, receive clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from connectors.schema import PL_TS, polars_schema

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SCHEMAS = {t: polars_schema(t) for t in ("fills", "positions", "pnl", "risk_metrics", "alerts")}


def iso_us(t_us: int) -> str:
    """Receive-clock microseconds as an ISO-8601 UTC string, for readable deterministic ids."""
    return (_EPOCH + timedelta(microseconds=t_us)).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows (timestamps as int microseconds) -> a frame with the table's schema and column order."""
    schema = SCHEMAS[table]
    raw = {c: (pl.Int64() if dt == PL_TS else dt) for c, dt in schema.items()}
    frame = pl.DataFrame(rows, schema=raw)
    return frame.with_columns(
        pl.col(c).cast(pl.Datetime("us")).dt.replace_time_zone("UTC") for c, dt in schema.items() if dt == PL_TS
    )
