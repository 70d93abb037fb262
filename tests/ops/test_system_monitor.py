"""System monitor: measured readings, threshold logic on injected values, heartbeats across files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from arbflow.settings import load_settings
from connectors.logs import HeartbeatWriter, read_heartbeats
from ops.alerts import AlertLog
from ops.monitor import (
    RequestStats,
    SystemMonitor,
    Thresholds,
    heartbeat_alerts,
    module_health,
    threshold_alerts,
)

T0 = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
DOC = Thresholds.from_config(load_settings(environ={}).monitor)


def test_design_doc_thresholds_come_from_config():
    assert DOC == Thresholds(1000.0, 0.01, 80.0, 85.0, 90.0, 30.0)


@pytest.mark.parametrize(
    ("key", "below", "above", "kind"),
    [
        ("cpu_pct", 80.0, 80.1, "cpu"),
        ("memory_pct", 85.0, 85.5, "memory"),
        ("disk_pct", 90.0, 97.0, "disk"),
        ("response_time_ms", 1000.0, 1000.5, "response_time"),
        ("error_rate", 0.01, 0.0101, "error_rate"),
    ],
)
def test_each_threshold_fires_only_above_its_limit(key, below, above, kind):
    assert threshold_alerts({key: below}, DOC, T0) == []
    [alert] = threshold_alerts({key: above}, DOC, T0)
    assert (alert.kind, alert.severity, alert.subject) == (kind, "warning", "system")
    assert alert.value == pytest.approx(above) and alert.threshold == pytest.approx(below)


def test_missing_readings_raise_nothing_and_real_readings_drive_the_same_logic():
    assert threshold_alerts({"response_time_ms": None, "error_rate": None, "cpu_pct": float("nan")}, DOC, T0) == []
    mon = SystemMonitor(".", DOC)
    real = mon.system()
    readings = {"cpu_pct": real.cpu_pct, "memory_pct": real.memory_pct, "disk_pct": real.disk_pct}
    # limits just under / at each measured value: the real reading must trip exactly the lowered ones
    strict = replace(DOC, cpu_pct=real.cpu_pct - 0.01, memory_pct=real.memory_pct - 0.01, disk_pct=real.disk_pct)
    kinds = {a.kind for a in threshold_alerts(readings, strict, real.ts)}
    assert kinds == {"cpu", "memory"}  # disk sits exactly at its limit: not above it


def test_system_readings_are_measured_not_made_up():
    mon = SystemMonitor(".", DOC)
    first, second = mon.system(), mon.system()
    assert 0.0 <= first.cpu_pct <= 100.0 and first.cpu_count == psutil.cpu_count()
    assert first.memory_pct == pytest.approx(psutil.virtual_memory().percent, abs=5.0)
    assert first.disk_pct == pytest.approx(psutil.disk_usage(".").percent, abs=1.0)
    assert first.uptime_s == pytest.approx(time.time() - psutil.boot_time(), abs=5.0)
    assert second.uptime_s >= first.uptime_s


def test_process_readings_of_a_real_child_and_a_gone_one():
    child = subprocess.Popen([sys.executable, "-c", "x = bytearray(64 * 2**20); import time; time.sleep(30)"])
    try:
        mon = SystemMonitor(".", DOC)
        deadline = time.monotonic() + 10
        while (r := mon.process(child.pid)) is not None and r.rss_bytes < 64 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r is not None and r.pid == child.pid and r.rss_bytes >= 64 * 2**20 and r.threads >= 1
    finally:
        child.kill()
        child.wait()
    assert mon.process(child.pid) is None
    assert mon.process(os.getpid()).open_fds > 0


def test_heartbeats_written_by_another_process_drive_module_health(tmp_path):
    hb = tmp_path / "heartbeats"
    code = f"from connectors.logs import HeartbeatWriter; HeartbeatWriter({str(hb)!r}, 'dataflow').beat(True, 'ok', quotes_in=1200)"
    subprocess.run([sys.executable, "-c", code], check=True)
    HeartbeatWriter(hb, "scheduler").beat(False, "job replay-daily failed")
    beats = read_heartbeats(hb)
    now = datetime.now(UTC)
    health = {h.module: h for h in SystemMonitor(tmp_path, DOC).modules(now)}
    assert health["dataflow"].status == "healthy" and health["dataflow"].counters == {"quotes_in": 1200}
    assert health["scheduler"].status == "unhealthy" and "failed" in health["scheduler"].detail
    later = module_health(beats["dataflow"], "dataflow", now + timedelta(seconds=31), DOC.heartbeat_timeout_s)
    assert later.status == "stale" and later.age_s > 30
    alerts = heartbeat_alerts([later, health["scheduler"], health["dataflow"]], now)
    assert [(a.subject, a.severity) for a in alerts] == [("dataflow", "critical"), ("scheduler", "warning")]


def test_request_stats_p95_and_error_rate_in_the_window():
    stats = RequestStats(window_s=60.0)
    assert stats.snapshot(100.0) == {"requests": 0, "response_time_ms": None, "error_rate": None}
    for i in range(100):
        stats.record(float(i + 1), 500 if i < 2 else 200, now_s=100.0)
    stats.record(5000.0, 500, now_s=10.0)  # outside the window
    snap = stats.snapshot(100.0)
    assert snap["requests"] == 100 and snap["response_time_ms"] == pytest.approx(95.0)
    assert snap["error_rate"] == pytest.approx(0.02)
    assert {a.kind for a in threshold_alerts(snap, DOC, T0)} == {"error_rate"}


def test_check_raises_alerts_once_per_cooldown(tmp_path):
    alerts = AlertLog()
    low = replace(DOC, memory_pct=0.001)  # any real machine is above this
    mon = SystemMonitor(tmp_path, low, alerts=alerts, alert_cooldown_s=3600)
    first = mon.check()
    assert "memory" in {a.kind for a in first["active_alerts"]}
    mon.check()
    assert [a.kind for a in alerts.recent()].count("memory") == 1
    assert first["process"].pid == os.getpid()
