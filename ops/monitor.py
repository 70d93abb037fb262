"""System monitor: measured host and process metrics, per-module heartbeats, and the design doc's alert thresholds.

Every number comes from psutil or from recorded requests, never from a generator. Modules in other processes (the
dataflow, the scheduler) report health by writing heartbeat files ``<data_dir>/heartbeats/<module>.json`` with
``connectors.logs.HeartbeatWriter`` (in connectors so the flow can use it); the monitor reads them, so nothing needs
a socket between processes. ``threshold_alerts`` is a
pure function of readings and thresholds, so the alert logic is testable with any value.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psutil

from arbflow.settings import MonitorConfig
from connectors.logs import read_heartbeats
from connectors.runs import FINISHED, last_run
from ops.alerts import Alert, AlertLog

FLOW_MODULE = "dataflow"  # the heartbeat module name of flows/common/heartbeat.py

HealthState = Literal["healthy", "unhealthy", "stale", "finished"]


@dataclass(frozen=True)
class Thresholds:
    """Alert when a reading is above its limit (the ``[monitor]`` keys; design doc: 1000 ms, 1 %, CPU 80 %, memory
    85 %, disk 90 %)."""

    response_time_ms: float
    error_rate: float
    cpu_pct: float
    memory_pct: float
    disk_pct: float
    heartbeat_timeout_s: float

    @classmethod
    def from_config(cls, cfg: MonitorConfig) -> Thresholds:
        return cls(
            cfg.max_response_time_ms,
            cfg.max_error_rate,
            cfg.max_cpu_pct,
            cfg.max_memory_pct,
            cfg.max_disk_pct,
            cfg.heartbeat_timeout_s,
        )


@dataclass(frozen=True)
class ProcessReadings:
    pid: int
    rss_bytes: int
    cpu_pct: float  # of one core, since the previous reading of this process
    threads: int
    open_fds: int
    uptime_s: float


@dataclass(frozen=True)
class SystemReadings:
    ts: datetime  # wall clock (UTC) of the reading
    cpu_pct: float  # all cores, since the previous reading
    memory_pct: float
    disk_pct: float  # of the filesystem holding the data directory
    uptime_s: float  # since host boot
    cpu_count: int


@dataclass(frozen=True)
class ModuleHealth:
    module: str
    status: HealthState
    last_beat: datetime | None
    age_s: float | None  # since the last heartbeat
    detail: str
    counters: dict[str, float]


def threshold_alerts(readings: Mapping[str, float | None], thresholds: Thresholds, ts: datetime) -> list[Alert]:
    """Alerts for readings above their thresholds; a missing/None reading (e.g. no requests yet) raises nothing.

    Keys: ``cpu_pct``, ``memory_pct``, ``disk_pct``, ``response_time_ms``, ``error_rate``.
    """
    limits = {
        "cpu_pct": ("cpu", thresholds.cpu_pct, "CPU {v:.1f}% above {t:g}%"),
        "memory_pct": ("memory", thresholds.memory_pct, "memory {v:.1f}% above {t:g}%"),
        "disk_pct": ("disk", thresholds.disk_pct, "disk {v:.1f}% above {t:g}%"),
        "response_time_ms": (
            "response_time",
            thresholds.response_time_ms,
            "p95 response time {v:.0f} ms above {t:g} ms",
        ),
        "error_rate": ("error_rate", thresholds.error_rate, "error rate {v:.2%} above {t:.2%}"),
    }
    alerts = []
    for key, (kind, limit, template) in limits.items():
        value = readings.get(key)
        if value is None or math.isnan(value) or value <= limit:
            continue
        alerts.append(
            Alert(ts, "monitor", kind, "warning", "system", template.format(v=value, t=limit), float(value), limit)
        )
    return alerts


def module_health(beat: Mapping[str, Any] | None, module: str, now: datetime, timeout_s: float) -> ModuleHealth:
    """A module is stale when its last heartbeat is older than ``timeout_s``, unhealthy when it reported ok=false."""
    if beat is None:
        return ModuleHealth(module, "stale", None, None, "no heartbeat", {})
    last = datetime.fromisoformat(beat["ts"])
    age_s = (now - last).total_seconds()
    status: HealthState = "stale" if age_s > timeout_s else ("healthy" if beat.get("ok", True) else "unhealthy")
    return ModuleHealth(module, status, last, age_s, str(beat.get("detail", "")), dict(beat.get("counters", {})))


def heartbeat_alerts(health: list[ModuleHealth], ts: datetime) -> list[Alert]:
    """A stale module is critical (it is down or stuck); one reporting ok=false is a warning; a finished run's
    dataflow raises nothing (a replay that reached its end is not down)."""
    return [
        Alert(
            ts,
            "monitor",
            "heartbeat",
            "critical" if h.status == "stale" else "warning",
            h.module,
            f"{h.module} is {h.status}" + (f": {h.detail}" if h.detail else ""),
            h.age_s,
            None,
        )
        for h in health
        if h.status not in ("healthy", "finished")
    ]


class RequestStats:
    """Recent API requests (sliding window) -> p95 response time and server error rate."""

    def __init__(self, window_s: float = 60.0, max_samples: int = 10_000) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float, int]] = deque(maxlen=max_samples)
        self._lock = threading.Lock()

    def record(self, duration_ms: float, status: int, now_s: float | None = None) -> None:
        with self._lock:
            self._samples.append((time.monotonic() if now_s is None else now_s, duration_ms, status))

    def snapshot(self, now_s: float | None = None) -> dict[str, float | None]:
        """``requests``, ``response_time_ms`` (p95, nearest rank) and ``error_rate`` (5xx share) in the window."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._lock:
            recent = [(d, s) for t, d, s in self._samples if now_s - t <= self.window_s]
        if not recent:
            return {"requests": 0, "response_time_ms": None, "error_rate": None}
        durations = sorted(d for d, _ in recent)
        p95 = durations[max(0, math.ceil(0.95 * len(durations)) - 1)]
        errors = sum(1 for _, s in recent if s >= 500)
        return {"requests": len(recent), "response_time_ms": p95, "error_rate": errors / len(recent)}


class SystemMonitor:
    """Measures the host, named processes and module heartbeats, and raises threshold alerts (with a cooldown)."""

    def __init__(
        self,
        data_dir: str | Path,
        thresholds: Thresholds,
        *,
        alerts: AlertLog | None = None,
        requests: RequestStats | None = None,
        alert_cooldown_s: float = 300.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.heartbeat_dir = self.data_dir / "heartbeats"
        self.thresholds = thresholds
        self.alerts = alerts or AlertLog()
        self.requests = requests or RequestStats()
        self.alert_cooldown_s = alert_cooldown_s
        self._last_raised: dict[tuple[str, str], float] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._cpu_primed_at = time.monotonic()
        psutil.cpu_percent(interval=None)  # primes the since-last-call measurement

    def system(self) -> SystemReadings:
        """Host readings; the first call after start measures over at least 100 ms so it is never a bogus 0."""
        elapsed = time.monotonic() - self._cpu_primed_at
        cpu = psutil.cpu_percent(interval=max(0.0, 0.1 - elapsed) or None)
        disk_path = self.data_dir if self.data_dir.exists() else Path.cwd()
        return SystemReadings(
            ts=datetime.now(UTC),
            cpu_pct=cpu,
            memory_pct=psutil.virtual_memory().percent,
            disk_pct=psutil.disk_usage(str(disk_path)).percent,
            uptime_s=time.time() - psutil.boot_time(),
            cpu_count=psutil.cpu_count() or 1,
        )

    def process(self, pid: int) -> ProcessReadings | None:
        """Readings of one process, or None when it is gone."""
        try:
            proc = self._procs.get(pid)
            if proc is None or not proc.is_running():
                proc = self._procs[pid] = psutil.Process(pid)
            with proc.oneshot():
                return ProcessReadings(
                    pid=pid,
                    rss_bytes=proc.memory_info().rss,
                    cpu_pct=proc.cpu_percent(interval=None),
                    threads=proc.num_threads(),
                    open_fds=proc.num_fds(),
                    uptime_s=time.time() - proc.create_time(),
                )
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return None

    def modules(self, now: datetime | None = None) -> list[ModuleHealth]:
        """Module health from heartbeats; the dataflow of a run that has ended is ``finished``, never stale."""
        now = now or datetime.now(UTC)
        beats = read_heartbeats(self.heartbeat_dir)
        health = [module_health(beats[m], m, now, self.thresholds.heartbeat_timeout_s) for m in sorted(beats)]
        run = last_run(self.data_dir)
        if run is None or run["status"] not in FINISHED or beats.get(FLOW_MODULE, {}).get("pid") != run.get("pid"):
            return health
        detail = f"run {run['run_id']} {run['status']}" + (f": {run['reason']}" if run.get("reason") else "")
        return [
            dataclasses.replace(h, status="finished", detail=detail) if h.module == FLOW_MODULE else h for h in health
        ]

    def check(self) -> dict[str, Any]:
        """One measured status: host, this process, modules, request stats and the alerts they raise now.

        New alerts go to the AlertLog unless the same (kind, subject) was raised within the cooldown.
        """
        system = self.system()
        requests = self.requests.snapshot()
        modules = self.modules(system.ts)
        readings = {
            "cpu_pct": system.cpu_pct,
            "memory_pct": system.memory_pct,
            "disk_pct": system.disk_pct,
            "response_time_ms": requests["response_time_ms"],
            "error_rate": requests["error_rate"],
        }
        active = threshold_alerts(readings, self.thresholds, system.ts) + heartbeat_alerts(modules, system.ts)
        now_s = time.monotonic()
        for alert in active:
            key = (alert.kind, alert.subject)
            if now_s - self._last_raised.get(key, -math.inf) >= self.alert_cooldown_s:
                self._last_raised[key] = now_s
                self.alerts.raise_alert(alert)
        return {
            "system": system,
            "process": self.process(os.getpid()),
            "modules": modules,
            "requests": requests,
            "active_alerts": active,
        }
