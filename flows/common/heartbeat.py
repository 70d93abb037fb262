"""The dataflow's heartbeat: ``<data_dir>/heartbeats/dataflow.json`` with what has flowed through so far.

One ``op.inspect`` step on the stream of ``(table, frame)`` items bound for the lake counts quotes in (clean +
rejected rows), rejected quotes, signals and validation runs, and remembers the newest receive-clock time seen, so
the API's system monitor (ops/monitor.py) can report the flow as alive and show its feed lag. Inspecting never
changes an item, so no output row changes. Counters are per process and start at zero when the process (re)starts.
The file is rewritten at most every ``min_interval_s`` (wall clock) and once more when the process exits normally.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from bytewax import operators as op
from bytewax.dataflow import Stream

from connectors.logs import HeartbeatWriter
from connectors.runs import RunLog
from flows.common.publish import publish_fields

MODULE = "dataflow"
Item = tuple[str, pl.DataFrame]


@dataclass(frozen=True)
class FlowCounters:
    """Rows seen on the way to the lake since the process started."""

    quotes_in: int = 0  # quotes_clean + quotes_rejected rows: every quote lands in exactly one of them
    quotes_rejected: int = 0
    signals: int = 0
    validation_runs: int = 0
    last_ts_recv: datetime | None = None  # newest receive-clock time of a clean quote (UTC)


def count(counters: FlowCounters, table: str, frame: pl.DataFrame) -> FlowCounters:
    """Add one lake-bound item to the counters (pure)."""
    rows = frame.height
    if table == "quotes_clean":
        newest = frame["ts_recv"].max() if rows else None
        last = counters.last_ts_recv
        if isinstance(newest, datetime) and (last is None or newest > last):
            last = newest
        return replace(counters, quotes_in=counters.quotes_in + rows, last_ts_recv=last)
    if table == "quotes_rejected":
        return replace(counters, quotes_in=counters.quotes_in + rows, quotes_rejected=counters.quotes_rejected + rows)
    if table == "signals":
        return replace(counters, signals=counters.signals + rows)
    if table == "validation_runs":
        return replace(counters, validation_runs=counters.validation_runs + rows)
    return counters


def heartbeat_fields(counters: FlowCounters, now: datetime) -> dict[str, float]:
    """Numeric heartbeat counters; the feed lag is the wall clock (``now``) minus the newest receive time seen.

    In a replay the lag is the age of the recorded data (large); live it is the pipeline's end-to-end delay.
    """
    fields = {
        "quotes_in": float(counters.quotes_in),
        "quotes_rejected": float(counters.quotes_rejected),
        "signals": float(counters.signals),
        "validation_runs": float(counters.validation_runs),
    }
    if counters.last_ts_recv is not None:
        last = counters.last_ts_recv
        last = last.replace(tzinfo=UTC) if last.tzinfo is None else last
        fields["last_ts_recv_s"] = last.timestamp()
        fields["feed_lag_ms"] = (now - last).total_seconds() * 1000.0
    return fields


class FlowHeartbeat:
    """Thread-safe counter + throttled writer shared by every worker thread of the process."""

    def __init__(
        self,
        heartbeat_dir: str | Path,
        min_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        run_log: RunLog | None = None,
        data_dir: str | Path | None = None,
    ) -> None:
        self.writer = HeartbeatWriter(heartbeat_dir, MODULE)
        self.data_dir = data_dir  # set: the signal publisher's sent/dropped counts ride along
        self.run_log = run_log
        if run_log is not None:  # the run record carries the same counts
            run_log.counts = lambda: heartbeat_fields(self.counters, datetime.now(UTC))
        self.min_interval_s, self.clock = min_interval_s, clock
        self.counters = FlowCounters()
        self._lock = threading.Lock()
        self._last_beat_s: float | None = None
        atexit.register(self.flush)  # the final counts, once the flow has finished

    def observe(self, item: Item) -> None:
        table, frame = item
        with self._lock:
            self.counters = count(self.counters, table, frame)
            now_s = self.clock()
            if self._last_beat_s is None or now_s - self._last_beat_s >= self.min_interval_s:
                self._beat(now_s)

    def flush(self) -> None:
        with self._lock:
            try:
                self._beat(self.clock())
            except OSError:  # at exit the data directory may be gone (a test's tmp dir): nothing left to report to
                pass

    def _beat(self, now_s: float) -> None:
        last = self.counters.last_ts_recv
        detail = f"last batch ts_recv {last.isoformat()}" if last is not None else "no quotes yet"
        fields = heartbeat_fields(self.counters, datetime.now(UTC))
        if self.data_dir is not None:
            fields.update(publish_fields(self.data_dir))
        self.writer.beat(True, detail, **fields)
        self._last_beat_s = now_s
        if self.run_log is not None:
            self.run_log.update()


def beat_on(step_id: str, tables: Stream[Item], data_dir: str | Path, run_log: RunLog | None = None) -> Stream[Item]:
    """``op.inspect`` the lake-bound items (before any filter) and beat ``<data_dir>/heartbeats/dataflow.json``
    (and refresh ``run_log``'s counts with each beat)."""
    heartbeat = FlowHeartbeat(Path(data_dir) / "heartbeats", run_log=run_log, data_dir=data_dir)
    return op.inspect(step_id, tables, lambda _step_id, item: heartbeat.observe(item))
