"""Structured JSON logs, the ``pipeline_logs`` lake table, and its retention per level.

Every line is one JSON object: ``ts`` (UTC wall clock of the logging process, ISO 8601 with µs), ``level``,
``module`` (the logger name), ``message`` and ``fields`` (the structured context passed with ``with_fields``). Values
under secret-looking keys are masked before they are written anywhere.

``PipelineLogHandler`` also writes the records as Parquet part files
``<lake>/pipeline_logs/date=YYYY-MM-DD/<LEVEL>-<first ts µs>-<pid>-<n>.parquet``: one file holds one level of one UTC
day, so ``apply_retention`` enforces the design doc's retention (DEBUG 1 d, INFO 7 d, WARNING 30 d, ERROR 90 d,
FATAL 365 d) by deleting whole files, never rewriting one a reader may be scanning. FATAL is stdlib's CRITICAL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.schema import arrow_schema

TABLE = "pipeline_logs"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ALIASES = {"FATAL": "CRITICAL", "WARN": "WARNING"}
_SECRET_KEY = re.compile(r"secret|passw|passphrase|api_?key|token|credential|authorization", re.IGNORECASE)
_PART_NAME = re.compile(r"^(?P<level>[A-Z]+)-\d+-\d+-\d+\.parquet$")
_DATE_DIR = re.compile(r"^date=(?P<date>\d{4}-\d{2}-\d{2})$")

PIPELINE_LOGS_SCHEMA = arrow_schema(TABLE)


def canonical_level(name: str) -> str:
    """``FATAL`` -> ``CRITICAL``, ``warn`` -> ``WARNING``; anything unknown is a ValueError naming the choices."""
    upper = _ALIASES.get(name.upper(), name.upper())
    if upper not in LEVELS:
        msg = f"unknown log level {name!r}; use one of {', '.join(LEVELS)} (FATAL = CRITICAL)"
        raise ValueError(msg)
    return upper


def with_fields(**fields: Any) -> dict[str, Any]:
    """Keyword arguments for a logging call: ``log.info("restart", **with_fields(attempt=2, delay_s=5.0))``."""
    return {"extra": {"fields": fields}}


def redact(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Mask values under secret-looking keys, recursively, so a credential can't reach a log line or file."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if _SECRET_KEY.search(str(key)):
            out[str(key)] = "***"
        elif isinstance(value, Mapping):
            out[str(key)] = redact(value)
        else:
            out[str(key)] = value
    return out


def log_record(record: logging.LogRecord) -> dict[str, Any]:
    """The structured form of a stdlib record; ``ts`` is the record's creation time in UTC."""
    fields = redact(getattr(record, "fields", None) or {})
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return {
        "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "level": canonical_level(record.levelname),
        "module": record.name,
        "message": record.getMessage(),
        "fields": fields,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line; non-JSON field values are written with ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(log_record(record), default=str, sort_keys=False)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Route the root logger to JSON lines on ``stream`` (stderr by default); returns the handler it installed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(canonical_level(level))
    return handler


class PipelineLogHandler(logging.Handler):
    """Buffers records and writes them to the lake, one Parquet file per (UTC day, level) per flush.

    It flushes when ``flush_rows`` records are buffered, at once for ERROR and above (alerts must not wait in memory),
    and on ``flush()``/``close()`` (``logging.shutdown`` calls both at exit).
    """

    def __init__(self, lake_dir: str | Path, *, flush_rows: int = 1000, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.table_dir = Path(lake_dir) / TABLE
        self.flush_rows = flush_rows
        self._buffer: list[dict[str, Any]] = []
        self._parts_written = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            row = log_record(record)
            self._buffer.append(row)
            if len(self._buffer) >= self.flush_rows or record.levelno >= logging.ERROR:
                self._write_buffer()
        except Exception:  # noqa: BLE001 - logging must never take the pipeline down (stdlib handlers do the same)
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_buffer()

    def close(self) -> None:
        self.flush()
        super().close()

    def _write_buffer(self) -> None:
        rows, self._buffer = self._buffer, []
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault((row["ts"][:10], row["level"]), []).append(row)
        pid = os.getpid()
        for (day, level), group in sorted(groups.items()):
            table = rows_to_table(group, pid)
            first_us = int(table.column("ts")[0].value)
            part_dir = self.table_dir / f"date={day}"
            part_dir.mkdir(parents=True, exist_ok=True)
            final = part_dir / f"{level}-{first_us}-{pid}-{self._parts_written}.parquet"
            tmp = final.with_name("." + final.name + ".tmp")  # hidden: readers globbing *.parquet never see it
            pq.write_table(table, tmp)
            tmp.replace(final)
            self._parts_written += 1


def rows_to_table(rows: list[dict[str, Any]], pid: int) -> pa.Table:
    """Structured records -> a ``pipeline_logs`` Arrow table with deterministic ``log_id`` per record content."""
    fields_json = [json.dumps(r["fields"], default=str, sort_keys=True) for r in rows]
    ts = [datetime.fromisoformat(r["ts"]) for r in rows]
    ids = [
        hashlib.sha256(f"{r['ts']}|{pid}|{r['level']}|{r['module']}|{r['message']}|{f}".encode()).hexdigest()[:24]
        for r, f in zip(rows, fields_json, strict=True)
    ]
    return pa.Table.from_pydict(
        {
            "log_id": ids,
            "ts": ts,
            "level": [r["level"] for r in rows],
            "module": [r["module"] for r in rows],
            "message": [r["message"] for r in rows],
            "fields": fields_json,
            "pid": [pid] * len(rows),
        },
        schema=PIPELINE_LOGS_SCHEMA,
    )


def is_expired(partition_day: date, level: str, now: datetime, retention_days: Mapping[str, int]) -> bool:
    """True once every record of that day is older than the level's retention: (day + 1) + days <= now (UTC)."""
    days = {canonical_level(k): v for k, v in retention_days.items()}[canonical_level(level)]
    end_of_day = datetime.combine(partition_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return end_of_day + timedelta(days=days) <= now.astimezone(UTC)


def apply_retention(lake_dir: str | Path, now: datetime, retention_days: Mapping[str, int]) -> list[Path]:
    """Delete expired ``pipeline_logs`` part files (and emptied day folders); returns the files deleted.

    Files whose name is not a part file this module wrote are left alone: retention never guesses.
    """
    if now.tzinfo is None:
        msg = "apply_retention needs a timezone-aware now (UTC)"
        raise ValueError(msg)
    table_dir = Path(lake_dir) / TABLE
    deleted: list[Path] = []
    for day_dir in sorted(table_dir.glob("date=*")):
        day_match = _DATE_DIR.match(day_dir.name)
        if not day_match or not day_dir.is_dir():
            continue
        day = date.fromisoformat(day_match["date"])
        for part in sorted(day_dir.glob("*.parquet")):
            name_match = _PART_NAME.match(part.name)
            if (
                name_match
                and name_match["level"] in LEVELS
                and is_expired(day, name_match["level"], now, retention_days)
            ):
                part.unlink()
                deleted.append(part)
        if not any(day_dir.iterdir()):
            day_dir.rmdir()
    return deleted


class HeartbeatWriter:
    """Used by a module (in any process) to say it is alive: rewrites ``<dir>/<module>.json`` atomically."""

    def __init__(self, heartbeat_dir: str | Path, module: str) -> None:
        self.path = Path(heartbeat_dir) / f"{module}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def beat(self, ok: bool = True, detail: str = "", **counters: float) -> None:
        doc = {
            "ts": datetime.now(UTC).isoformat(),
            "ok": ok,
            "detail": detail,
            "pid": os.getpid(),
            "counters": counters,
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.path)


def read_heartbeats(heartbeat_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{module: heartbeat}`` from the directory; unreadable files are skipped (a writer may be mid-rename)."""
    beats = {}
    for path in sorted(Path(heartbeat_dir).glob("*.json")):
        try:
            beats[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return beats
