"""Shared by the route modules: response models, parameter checks, JSON shaping, and the per-app ``Context``."""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from arbflow.errors import UnknownColumnError
from arbflow.settings import Settings
from connectors.logs import with_fields
from ops.api.stream import SignalHub
from ops.control import FlowControl
from ops.errors import ApiError, ErrorCode
from ops.lakeread import LakeQuery, query_rows
from ops.monitor import SystemMonitor
from ops.security import ApiKeys, SlidingWindowLimiter

log = logging.getLogger("ops.api")
VERSION = "0.1.0"
SYMBOL = r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$"
NAME = r"^[a-z0-9_]{1,32}$"


class RowsOut(BaseModel):
    """Rows of one lake table, newest first; ``rows`` is empty when the table has no data yet."""

    table: str
    count: int
    rows: list[dict[str, Any]]


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    uptime_s: float


def utc_param(value: datetime | None, name: str) -> datetime | None:
    """Naive datetimes are UTC; values that cannot be represented in UTC are a 422, not a crash."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"{name} is out of range") from None


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    since_utc, until_utc = utc_param(since, "since"), utc_param(until, "until")
    if since_utc and until_utc and since_utc >= until_utc:
        raise ApiError(ErrorCode.INVALID_PARAMETER, "since must be before until")
    return since_utc, until_utc


def plain(obj: Any) -> Any:
    """Dataclasses and datetimes -> JSON-ready values (NaN -> null)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: plain(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return jsonable_encoder(obj)


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.code.http_status, headers=err.headers)


@dataclasses.dataclass(frozen=True)
class Context:
    """What the routes of one app share (built once by ``create_app``)."""

    settings: Settings
    data_dir: Path
    monitor: SystemMonitor
    control: FlowControl
    limiter: SlidingWindowLimiter
    keys: ApiKeys
    hub: SignalHub
    registry: CollectorRegistry
    started_s: float  # time.monotonic() at app creation
    stream_ping_s: float

    def read(self, q: LakeQuery) -> list[dict[str, Any]]:
        """Rows of one lake table; a bad filter is a 422, a damaged part file a DATA_CORRUPT naming the table."""
        try:
            return query_rows(self.data_dir, q)
        except UnknownColumnError as exc:
            raise ApiError(ErrorCode.INVALID_PARAMETER, str(exc)) from None
        except duckdb.Error as exc:  # a damaged part file: say which table, keep serving the rest
            log.exception("lake read failed", **with_fields(table=q.table))
            raise ApiError(ErrorCode.DATA_CORRUPT, f"table {q.table} could not be read: {type(exc).__name__}") from None

    def rows(self, table: str, **kw: Any) -> RowsOut:
        found = self.read(LakeQuery(table=table, **kw))
        return RowsOut(table=table, count=len(found), rows=plain(found))
