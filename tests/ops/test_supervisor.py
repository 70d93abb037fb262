"""Supervisor over real child processes: restart with backoff, give up with a critical alert, survive a SIGKILL."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from arbflow.settings import load_settings
from ops.alerts import AlertLog
from ops.supervisor import RestartPolicy, Supervisor

FAST = RestartPolicy(retries=3, initial_delay_s=0.05, backoff=2.0)

CRASHER = """
import os, sys
from pathlib import Path
runs = Path(sys.argv[1]); crashes = int(sys.argv[2])
n = len(runs.read_text().splitlines()) if runs.exists() else 0
with runs.open("a") as fh:
    fh.write(f"{os.getpid()}\\n")
sys.exit(7 if n < crashes else 0)
"""


def _crasher(tmp_path: Path, crashes: int) -> tuple[list[str], Path]:
    script = tmp_path / "child.py"
    script.write_text(CRASHER)
    runs = tmp_path / "runs.txt"
    return [sys.executable, str(script), str(runs), str(crashes)], runs


def test_default_policy_is_the_design_doc_one():
    assert RestartPolicy.from_config(load_settings(environ={}).monitor).delays_s() == [5.0, 10.0, 20.0]
    assert RestartPolicy.from_config(load_settings(environ={}).monitor) == RestartPolicy(3, 5.0, 2.0)


def test_child_crashing_twice_is_restarted_with_backoff_then_succeeds(tmp_path):
    argv, runs = _crasher(tmp_path, crashes=2)
    alerts = AlertLog(tmp_path / "lake")
    sup = Supervisor(argv, FAST, name="flow", on_alert=alerts.raise_alert)
    sup.start()
    status = sup.wait(timeout_s=30)
    assert status.state == "exited" and status.restarts == 2 and status.last_exit_code == 0 and status.pid is None
    assert sup.delays_waited_s == pytest.approx([0.05, 0.1])
    pids = runs.read_text().split()
    assert len(pids) == 3 and len(set(pids)) == 3  # three real, distinct processes
    assert alerts.recent() == [] and not (tmp_path / "lake").exists()


def test_child_always_crashing_stays_down_with_a_critical_alert(tmp_path, caplog):
    argv, runs = _crasher(tmp_path, crashes=99)
    lake = tmp_path / "lake"
    alerts = AlertLog(lake)
    sup = Supervisor(argv, FAST, name="flow", on_alert=alerts.raise_alert)
    with caplog.at_level(logging.INFO, logger="ops"):
        sup.start()
        status = sup.wait(timeout_s=30)
    assert status.state == "failed" and status.restarts == 3 and status.last_exit_code == 7
    assert sup.delays_waited_s == pytest.approx([0.05, 0.1, 0.2])
    assert len(runs.read_text().split()) == 4  # first run + 3 retries, then nothing more
    time.sleep(0.3)
    assert len(runs.read_text().split()) == 4

    [alert] = alerts.recent()
    assert (alert.kind, alert.severity, alert.subject, alert.value) == ("restarts_exhausted", "critical", "flow", 3.0)
    [part] = list((lake / "system_alerts").rglob("*.parquet"))
    row = pq.read_table(part).to_pylist()[0]
    assert row["alert_id"] == alert.alert_id and row["kind"] == "restarts_exhausted"
    assert any(r.levelno == logging.CRITICAL and "staying down" in r.getMessage() for r in caplog.records)
    assert sum("crashed, restarting" in r.getMessage() for r in caplog.records) == 3


def test_killed_child_is_restarted_and_stop_keeps_it_down(tmp_path):
    sup = Supervisor([sys.executable, "-c", "import time; time.sleep(60)"], FAST, name="sleeper")
    sup.start()
    try:
        first = sup.status()
        assert first.state == "running" and first.pid is not None and psutil.pid_exists(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (sup.status().restarts < 1 or sup.status().pid is None) and time.monotonic() < deadline:
            time.sleep(0.02)
        second = sup.status()
        assert second.restarts == 1 and second.last_exit_code == -signal.SIGKILL
        assert second.state == "running" and second.pid not in (None, first.pid)
    finally:
        final = sup.stop(timeout_s=5)
    assert final.state == "stopped" and final.pid is None and final.restarts == 1
    assert not psutil.pid_exists(second.pid) or psutil.Process(second.pid).status() == psutil.STATUS_ZOMBIE


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="non-empty"):
        Supervisor([], FAST)
    sup = Supervisor([sys.executable, "-c", "pass"], FAST)
    sup.start()
    with pytest.raises(RuntimeError, match="already started"):
        sup.start()
    assert sup.wait(10).state == "exited"


def _cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ARBFLOW__SINKS__DATA_DIR": f'"{tmp_path}"',
        "ARBFLOW__MONITOR__RESTART_INITIAL_DELAY_S": "0.05",
    }


def test_cli_gives_up_with_exit_1_an_alert_row_and_a_heartbeat(tmp_path):
    argv, runs = _crasher(tmp_path, crashes=99)
    done = subprocess.run(
        [sys.executable, "-m", "ops.supervisor", "--name", "flow", "--", *argv],
        env=_cli_env(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert len(runs.read_text().split()) == 4
    [part] = list((tmp_path / "lake" / "system_alerts").rglob("*.parquet"))
    assert pq.read_table(part).column("kind").to_pylist() == ["restarts_exhausted"]
    beat = json.loads((tmp_path / "heartbeats" / "supervisor.json").read_text())
    assert beat["ok"] is False and beat["detail"] == "failed" and beat["counters"]["restarts"] == 3
    assert any(json.loads(line)["level"] == "CRITICAL" for line in done.stderr.splitlines() if line.startswith("{"))


def test_cli_stops_child_on_sigterm_and_exits_0(tmp_path):
    pid_file = tmp_path / "child.pid"
    child = f"import os, time, pathlib; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops.supervisor", "--", sys.executable, "-c", child], env=_cli_env(tmp_path)
    )
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    child_pid = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
