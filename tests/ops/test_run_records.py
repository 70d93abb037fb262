"""Runs recorded by the flow itself (connectors/runs.py), whoever starts it; and what the API's start and stop answer
about them (issue 13.8/13.9): a stop mid-replay is a partial run (``summary`` says so), a start after the replay
reached its end is a 409 with its own code, and a finished replay raises no "dataflow is stale" alarm. Real parts:
``python -m bytewax.run`` processes, the Supervisor, uvicorn, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
from ops_helpers import running_server, wait_until

from arbflow.settings import load_settings
from connectors.lake import table_glob
from connectors.logs import read_heartbeats
from connectors.runs import effective_status, last_run
from ops.api import create_app
from ops.control import default_flow_command
from ops.errors import ErrorCode
from ops.flow_process import flow_argv, flow_env

KEY = "runs-key-0123456789abcdef"
HEADERS = {"x-api-key": KEY}
MARKET = {"source.kind": "simulator", "simulator.duration_s": 120.0, "source.batch_rows": 200}
HTTP = httpx.Client(timeout=30)


def _lake_quotes(data_dir: Path) -> int:
    total = 0
    for table in ("quotes_clean", "quotes_rejected"):
        glob = table_glob(data_dir, table).replace("'", "''")
        with duckdb.connect() as con:  # its own connection: a fetchone() leaves the shared default one busy
            total += con.execute(f"select count(*) from read_parquet('{glob}', union_by_name = true)").fetchone()[0]
    return total


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "arbflow.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_a_bytewax_run_records_itself_and_status_reads_it(tmp_path: Path):
    env = flow_env({**MARKET, "sinks.data_dir": str(tmp_path)})
    run = subprocess.run(flow_argv(None), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    record = last_run(tmp_path)
    assert record is not None and record["status"] == "complete" and record["exit_code"] == 0
    assert record["command"].startswith("python -m bytewax.run flows.arbitrage:build_flow()")
    assert record["source"] == "simulator" and record["ended"] >= record["started"]
    assert record["quotes"] == _lake_quotes(tmp_path) > 0  # counts are what reached the lake
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [f"{record['run_id']}.json"]
    status = _cli("status", "--data-dir", str(tmp_path), "--format", "json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)["last_run"]
    assert (shown["run_id"], shown["status"]) == (record["run_id"], "complete")


def test_a_running_record_whose_process_is_gone_reads_as_partial():
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    pid = int(gone.stdout)
    assert effective_status({"status": "running", "pid": pid}) == "partial"
    assert effective_status({"status": "running", "pid": 0}) == "partial"  # never signals a process group
    assert effective_status({"exit_code": 0}) == "complete"  # an older CLI's record


def test_stop_mid_replay_is_partial_and_start_after_the_end_is_409(tmp_path: Path):
    env = {
        "ARBFLOW__SINKS__DATA_DIR": f'"{tmp_path}"',
        "ARBFLOW__MONITOR__RESTART_INITIAL_DELAY_S": "0.2",
        "ARBFLOW__MONITOR__HEARTBEAT_TIMEOUT_S": "1",  # a finished run's heartbeat is soon older than this
        "ARBFLOW__API__RATE_LIMIT_PER_MIN": "100000",
    }
    settings = load_settings(environ=env)
    command = default_flow_command(settings, None, {**MARKET, "source.speed": 20.0})  # ~6 s of paced replay
    with running_server(create_app(settings, api_keys=[KEY], flow_command=command)) as base:

        def supervisor() -> dict:
            return HTTP.get(f"{base}/api/system/status", headers=HEADERS).json()["supervisor"]

        assert HTTP.post(f"{base}/api/system/start", headers=HEADERS).status_code == 200

        def counters() -> dict:
            return read_heartbeats(tmp_path / "heartbeats").get("dataflow", {}).get("counters", {})

        wait_until(lambda: counters().get("quotes_in", 0) > 0, 120, "the first quotes through the flow", poll_s=0.2)
        assert HTTP.post(f"{base}/api/system/stop", headers=HEADERS).status_code == 200
        stopped = last_run(tmp_path)
        assert stopped["status"] == "partial" and "POST /api/system/stop" in stopped["reason"]
        summary = _cli("summary", "--data-dir", str(tmp_path))
        assert summary.returncode == 0, summary.stderr
        assert f"the last run ({stopped['run_id']}) is partial" in summary.stdout

        assert HTTP.post(f"{base}/api/system/start", headers=HEADERS).status_code == 200  # resumes from recovery
        wait_until(lambda: supervisor()["state"] == "exited", 180, "the resumed replay to reach its end", poll_s=0.2)
        finished = last_run(tmp_path)
        assert finished["status"] == "complete" and finished["run_id"] != stopped["run_id"]

        again = HTTP.post(f"{base}/api/system/start", headers=HEADERS)
        error = again.json()["error"]
        assert again.status_code == 409 and error["code"] == ErrorCode.NOTHING_TO_REPLAY == 4003
        assert error["name"] == "nothing_to_replay" and finished["run_id"] in error["detail"]
        assert supervisor()["state"] == "exited"  # nothing was started

        time.sleep(1.5)  # past the heartbeat timeout
        status = HTTP.get(f"{base}/api/system/status", headers=HEADERS).json()
    flow = next(m for m in status["modules"] if m["module"] == "dataflow")
    assert flow["status"] == "finished" and "complete" in flow["detail"]
    assert not [a for a in status["active_alerts"] if a["subject"] == "dataflow"]
