"""JSON log lines, pipeline_logs Parquet partitions matching sql/schema/ops.sql, and retention per level."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from arbflow.settings import load_settings
from connectors.logs import (
    PIPELINE_LOGS_SCHEMA,
    JsonFormatter,
    PipelineLogHandler,
    apply_retention,
    canonical_level,
    configure_logging,
    is_expired,
    with_fields,
)

DDL = Path(__file__).resolve().parents[2] / "sql" / "schema" / "ops.sql"
RETENTION = load_settings().logging.retention_days


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log


def test_json_line_has_utc_ts_level_module_message_fields_and_masks_secrets():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = _logger("arbflow.test.json", handler)
    log.warning("feed gap", **with_fields(exchange="okx", gap_ms=1250.5, api_key="K-123", nested={"password": "p"}))
    line = json.loads(stream.getvalue())
    assert line["level"] == "WARNING" and line["module"] == "arbflow.test.json" and line["message"] == "feed gap"
    assert line["fields"] == {"exchange": "okx", "gap_ms": 1250.5, "api_key": "***", "nested": {"password": "***"}}
    ts = datetime.fromisoformat(line["ts"])
    assert ts.utcoffset().total_seconds() == 0 and line["ts"].endswith("Z")
    assert "K-123" not in stream.getvalue()


def test_fatal_is_critical_and_exceptions_are_captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = _logger("arbflow.test.fatal", handler)
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        log.fatal("flow died", exc_info=True)
    line = json.loads(stream.getvalue())
    assert line["level"] == "CRITICAL" and "ZeroDivisionError" in line["fields"]["exc"]
    assert canonical_level("fatal") == "CRITICAL"
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        canonical_level("LOUD")


def test_configure_logging_routes_root_to_json():
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream)
    try:
        logging.getLogger("arbflow.test.root").debug("hello", **with_fields(n=1))
        assert json.loads(stream.getvalue())["fields"] == {"n": 1}
    finally:
        logging.getLogger().removeHandler(handler)


def test_handler_writes_one_file_per_level_and_day_matching_the_ddl(tmp_path):
    handler = PipelineLogHandler(tmp_path, flush_rows=100)
    log = _logger("arbflow.test.lake", handler)
    for i in range(5):
        log.info("batch done", **with_fields(batch_seq=i))
    log.debug("detail")
    assert not list(tmp_path.rglob("*.parquet"))  # buffered below flush_rows ...
    log.error("sink failed", **with_fields(table="signals"))  # ... until an ERROR forces the write
    handler.close()
    files = sorted(p.name.split("-")[0] for p in tmp_path.rglob("*.parquet"))
    assert files == ["DEBUG", "ERROR", "INFO"]
    days = {p.parent.name for p in tmp_path.rglob("*.parquet")}
    assert days <= {f"date={datetime.now(UTC).date()}", f"date={(datetime.now(UTC) - timedelta(minutes=1)).date()}"}
    for part in tmp_path.rglob("*.parquet"):
        assert pq.read_schema(part).remove_metadata() == PIPELINE_LOGS_SCHEMA.remove_metadata()

    con = duckdb.connect()
    con.execute(DDL.read_text())
    ddl_cols = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = 'pipeline_logs' order by ordinal_position"
    ).fetchall()
    glob = str(tmp_path / "pipeline_logs" / "*" / "*.parquet")
    lake_cols = con.execute(f"describe select * from read_parquet('{glob}', hive_partitioning=false)").fetchall()
    assert [(c[0], c[1]) for c in lake_cols] == ddl_cols
    rows = con.execute(
        f"select level, count(*), count(distinct log_id) from read_parquet('{glob}') group by level order by level"
    ).fetchall()
    assert rows == [("DEBUG", 1, 1), ("ERROR", 1, 1), ("INFO", 5, 5)]
    fields = con.execute(f"select fields from read_parquet('{glob}') where level = 'ERROR'").fetchone()[0]
    assert json.loads(fields) == {"table": "signals"}


def _part(table_dir: Path, day: str, level: str) -> Path:
    path = table_dir / f"date={day}" / f"{level}-1-1-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(PIPELINE_LOGS_SCHEMA.empty_table(), path)
    return path


def test_retention_deletes_whole_files_per_level_by_design_doc_days(tmp_path):
    table_dir = tmp_path / "pipeline_logs"
    now = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    keep = [
        _part(table_dir, "2026-11-26", "DEBUG"),  # yesterday: its last records are < 1 day old
        _part(table_dir, "2026-11-20", "INFO"),  # ends 11-21 00:00, + 7 d = 11-28 > now
        _part(table_dir, "2026-10-28", "WARNING"),  # ends 10-29, + 30 d = 11-28
        _part(table_dir, "2026-08-29", "ERROR"),  # ends 08-30, + 90 d = 11-28
        _part(table_dir, "2025-11-27", "CRITICAL"),  # ends 11-28-2025, + 365 d = 11-28-2026
    ]
    gone = [
        _part(table_dir, "2026-11-25", "DEBUG"),
        _part(table_dir, "2026-11-19", "INFO"),
        _part(table_dir, "2026-10-27", "WARNING"),
        _part(table_dir, "2026-08-28", "ERROR"),
        _part(table_dir, "2025-11-26", "CRITICAL"),
    ]
    stranger = table_dir / "date=2020-01-01" / "notes.parquet"  # not ours: never deleted
    stranger.parent.mkdir()
    pq.write_table(PIPELINE_LOGS_SCHEMA.empty_table(), stranger)
    deleted = apply_retention(tmp_path, now, RETENTION)
    assert sorted(deleted) == sorted(gone)
    assert all(p.exists() for p in keep) and stranger.exists()
    assert not (table_dir / "date=2026-11-25").exists()  # emptied day folders go too
    assert apply_retention(tmp_path, now, RETENTION) == []  # idempotent


def test_is_expired_boundary_and_fatal_alias():
    day = date(2026, 11, 20)
    assert not is_expired(day, "INFO", datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC), RETENTION)
    assert is_expired(day, "INFO", datetime(2026, 11, 28, 0, 0, tzinfo=UTC), RETENTION)
    assert is_expired(
        date(2025, 1, 1),
        "FATAL",
        datetime(2026, 1, 2, tzinfo=UTC),
        {"FATAL": 365, **{k: 1 for k in ("DEBUG", "INFO", "WARNING", "ERROR")}},
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_retention(Path("."), datetime(2026, 1, 1), RETENTION)
