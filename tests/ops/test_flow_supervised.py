"""The real arbitrage flow under the API's Supervisor: SIGKILL mid-run, restart, resume from Bytewax recovery, and a
lake equal row for row to an uninterrupted run; the status routes report the restart and measured metrics; the
flow's heartbeat counts what reached the lake."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest
from ops_helpers import running_server, wait_until

from arbflow.settings import load_settings
from connectors.lake import lake_dir, table_glob
from connectors.logs import read_heartbeats
from flows.common.heartbeat import FlowCounters, count, heartbeat_fields
from ops.api import create_app
from ops.control import default_flow_command
from ops.flow_process import flow_argv, flow_env, init_recovery

KEY = "supervised-key-0123456789"
HTTP = httpx.Client(timeout=30)
# 2 simulated minutes (~3600 quotes) in micro-batches of 200; the supervised copy is paced at 10x (~12 s of data)
MARKET = {"source.kind": "simulator", "simulator.duration_s": 120.0, "source.batch_rows": 200}


def _parts(data_dir: Path, table: str) -> int:
    return len(list((lake_dir(data_dir) / table).glob("date=*/part-*.parquet")))


def _tables(data_dir: Path) -> list[str]:
    return sorted(p.name for p in lake_dir(data_dir).iterdir() if any(p.glob("date=*/part-*.parquet")))


def _read(con: duckdb.DuckDBPyConnection, data_dir: Path, table: str) -> str:
    glob = table_glob(data_dir, table).replace("'", "''")
    return f"read_parquet('{glob}', union_by_name = true, hive_partitioning = false)"


def test_count_is_a_pure_sum_of_lake_bound_rows():
    ts = datetime(2026, 11, 27, 12, tzinfo=UTC)
    clean = pl.DataFrame({"ts_recv": [ts, ts.replace(second=5)]})
    counters = count(FlowCounters(), "quotes_clean", clean)
    counters = count(counters, "quotes_rejected", pl.DataFrame({"reason": ["nan_price"]}))
    counters = count(counters, "signals", pl.DataFrame({"signal_id": ["a", "b", "c"]}))
    counters = count(counters, "spread_stats", pl.DataFrame({"stats_id": ["x"]}))  # not counted
    counters = count(counters, "quotes_clean", pl.DataFrame({"ts_recv": [ts]}))  # older: last_ts_recv stays
    assert counters == FlowCounters(4, 1, 3, 0, ts.replace(second=5))
    fields = heartbeat_fields(counters, ts.replace(second=7))
    assert fields["feed_lag_ms"] == pytest.approx(2000.0) and fields["quotes_in"] == pytest.approx(4.0)


def test_sigkilled_flow_is_restarted_resumes_and_matches_an_uninterrupted_run(tmp_path):
    reference, supervised = tmp_path / "reference", tmp_path / "supervised"
    init_recovery(reference / "recovery")
    with (tmp_path / "reference.log").open("w") as log:  # runs alongside: two cores, one test
        ref = subprocess.Popen(
            flow_argv(None, 1, reference / "recovery", 1),
            env=flow_env({**MARKET, "sinks.data_dir": str(reference)}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    env = {
        "ARBFLOW__SINKS__DATA_DIR": f'"{supervised}"',
        "ARBFLOW__MONITOR__RESTART_INITIAL_DELAY_S": "0.2",
        "ARBFLOW__MONITOR__HEARTBEAT_TIMEOUT_S": "120",
        "ARBFLOW__API__RATE_LIMIT_PER_MIN": "100000",  # the test polls status
    }
    settings = load_settings(environ=env)
    command = default_flow_command(settings, None, {**MARKET, "source.speed": 10.0})
    headers = {"x-api-key": KEY}
    try:
        with running_server(create_app(settings, api_keys=[KEY], flow_command=command)) as base:

            def supervisor() -> dict:
                response = HTTP.get(f"{base}/api/system/status", headers=headers)
                assert response.status_code == 200, response.text
                return response.json()["supervisor"]

            first_pid = HTTP.post(f"{base}/api/system/start", headers=headers).json()["supervisor"]["pid"]

            # mid-run: some epochs are in the lake (and snapshotted), the paced replay is far from its end
            def beat() -> dict:
                return read_heartbeats(supervised / "heartbeats").get("dataflow", {"counters": {"quotes_in": 0}})

            wait_until(
                lambda: _parts(supervised, "quotes_clean") >= 2 and beat()["counters"]["quotes_in"] > 0,
                120,
                "the first epochs in the lake and in the heartbeat",
                poll_s=0.5,
            )
            assert supervisor()["state"] == "running"
            assert beat()["pid"] == first_pid and beat()["counters"]["quotes_in"] < 120 * 30  # far from the end
            os.kill(first_pid, signal.SIGKILL)

            wait_until(
                lambda: (s := supervisor())["restarts"] == 1 and s["state"] == "running", 60, "the restart", poll_s=0.5
            )
            assert supervisor()["pid"] != first_pid
            wait_until(lambda: supervisor()["state"] == "exited", 180, "the resumed flow to finish", poll_s=0.5)

            status = HTTP.get(f"{base}/api/system/status", headers=headers).json()
            sup = status["supervisor"]
            assert sup["restarts"] == 1 and sup["last_exit_code"] == 0 and sup["state"] == "exited"
            assert 0 < status["system"]["memory_pct"] < 100 and status["system"]["cpu_count"] >= 1
            modules = {m["module"]: m for m in status["modules"]}
            assert modules["dataflow"]["counters"]["quotes_in"] > 0
            metrics = HTTP.get(f"{base}/metrics", headers=headers).text
            assert "arbflow_supervisor_restarts 1.0" in metrics
            assert 'arbflow_module_counter{module="dataflow",name="signals"}' in metrics
        assert ref.wait(timeout=180) == 0
    finally:
        if ref.poll() is None:
            ref.kill()

    tables = _tables(reference)
    assert {"quotes_clean", "quotes_rejected", "signals", "spread_stats", "validation_runs", "risk_metrics"} <= set(
        tables
    )
    assert _tables(supervised) == tables
    con = duckdb.connect()
    counts = {}
    for table in tables:
        a, b = _read(con, reference, table), _read(con, supervised, table)
        n_ref, n_sup = (con.execute(f"select count(*) from {src}").fetchone()[0] for src in (a, b))
        missing = con.execute(f"select count(*) from (select * from {a} except all select * from {b})").fetchone()[0]
        extra = con.execute(f"select count(*) from (select * from {b} except all select * from {a})").fetchone()[0]
        assert (n_sup, missing, extra) == (n_ref, 0, 0), f"{table}: lost {missing}, duplicated/extra {extra}"
        counts[table] = n_ref
    assert counts["signals"] > 0 and counts["spread_stats"] > 0

    # the uninterrupted run exited normally: its heartbeat's final counts are exactly what reached the lake
    final = read_heartbeats(reference / "heartbeats")["dataflow"]["counters"]
    assert final["quotes_in"] == counts["quotes_clean"] + counts.get("quotes_rejected", 0)
    assert final["signals"] == counts["signals"] and final["validation_runs"] == counts["validation_runs"]
    assert final["quotes_rejected"] == counts.get("quotes_rejected", 0)
