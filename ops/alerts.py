"""Operational alerts (thresholds crossed, a supervised process given up on): a record, a log line, a lake row.

The ``system_alerts`` table (sql/schema/ops.sql) lives at ``<lake>/system_alerts/date=YYYY-MM-DD/*.parquet``; each
``AlertLog.raise_alert`` writes one small part file at once (alerts are rare and must survive a crash right after).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.logs import with_fields
from connectors.schema import arrow_schema

TABLE = "system_alerts"
Severity = Literal["warning", "critical"]

SYSTEM_ALERTS_SCHEMA = arrow_schema(TABLE)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One alert; ``value``/``threshold`` are the measurement and the limit it crossed, when it is a measurement."""

    ts: datetime  # wall clock (UTC) when raised
    source: str  # monitor | supervisor
    kind: str  # cpu | memory | disk | response_time | error_rate | heartbeat | restarts_exhausted
    severity: Severity
    subject: str  # "system", a module name, a supervised process name
    message: str
    value: float | None = None
    threshold: float | None = None

    @property
    def alert_id(self) -> str:
        """Built from what the alert is about and when: the same event written twice keeps one id."""
        key = f"{self.source}|{self.kind}|{self.subject}|{self.ts.isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:24]


class AlertLog:
    """Keeps raised alerts in memory (for the API), logs them, and writes each to the lake when ``lake_dir`` is set."""

    def __init__(self, lake_dir: str | Path | None = None, *, keep: int = 1000) -> None:
        self.lake_dir = Path(lake_dir) if lake_dir is not None else None
        self.keep = keep
        self._alerts: list[Alert] = []
        self._lock = threading.Lock()
        self._parts = 0

    def raise_alert(self, alert: Alert) -> None:
        """Record, log (CRITICAL or WARNING) and persist one alert."""
        level = logging.CRITICAL if alert.severity == "critical" else logging.WARNING
        fields = {k: v for k, v in asdict(alert).items() if k not in {"ts", "message"}}
        log.log(level, alert.message, **with_fields(alert_id=alert.alert_id, **fields))
        with self._lock:
            self._alerts.append(alert)
            del self._alerts[: -self.keep]
            if self.lake_dir is not None:
                self._write(alert)

    def recent(self, limit: int = 100) -> list[Alert]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._alerts[-limit:]))

    def _write(self, alert: Alert) -> None:
        assert self.lake_dir is not None
        row = asdict(alert)
        row["alert_id"] = alert.alert_id
        table = pa.Table.from_pylist([row], schema=SYSTEM_ALERTS_SCHEMA)
        ts = alert.ts.astimezone(UTC)
        part_dir = self.lake_dir / TABLE / f"date={ts.date().isoformat()}"
        part_dir.mkdir(parents=True, exist_ok=True)
        final = part_dir / f"{alert.alert_id}-{os.getpid()}-{self._parts}.parquet"
        tmp = final.with_name("." + final.name + ".tmp")
        pq.write_table(table, tmp)
        tmp.replace(final)
        self._parts += 1
