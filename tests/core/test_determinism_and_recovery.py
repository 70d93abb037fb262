"""Same input, same output rows: with 1 or 2 workers, and after a crash (SIGKILL) and resume from recovery state.
Also: the DuckDB file answers queries from another process while the flow is writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from bytewax.testing import cluster_main
from polars.testing import assert_frame_equal

from connectors import lake
from flows.arbitrage import build_flow
from tests.core.conftest import REPO, run_flow, settings_for, table

TABLES = {
    "quotes_clean": "quote_id",
    "quotes_rejected": "quote_id",
    "validation_runs": "run_id",
    "spreads": "spread_id",
    "signals": "signal_id",
    "spread_stats": "stats_id",
    "fills": "fill_id",
    "positions": "position_id",
    "pnl": "pnl_id",
    "risk_metrics": "metrics_id",
    "alerts": "alert_id",
    "opportunities": "episode_id",
    "rejections": "rejection_id",
    "spread_zscores": "zscore_id",
    "cycles_found": "cycle_id",
}
SIM = {"duration_s": 240.0, "rate_hz": 6.0, "seed": 3}


def assert_same_tables(a: Path, b: Path) -> None:
    for name, key in TABLES.items():
        left, right = table(a, name, order_by=key), table(b, name, order_by=key)
        assert left.height > 0 or name in ("quotes_rejected", "alerts", "cycles_found"), name
        assert left[key].is_unique().all(), f"duplicate ids in {name}"
        assert_frame_equal(left, right, check_exact=True), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("reference")
    run_flow(
        settings_for(
            data_dir, source={"kind": "simulator", "batch_rows": 500}, simulator=SIM, sinks={"write_spreads": True}
        )
    )
    return data_dir


def test_two_workers_give_identical_rows(reference: Path, tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, source={"kind": "simulator", "batch_rows": 500}, simulator=SIM, sinks={"write_spreads": True}
    )
    cluster_main(build_flow(settings=settings), [], 0, worker_count_per_proc=2)
    assert_same_tables(reference, tmp_path)


def _env(data_dir: Path, speed: float) -> dict[str, str]:
    return {
        **os.environ,
        "ARBFLOW__SINKS__DATA_DIR": str(data_dir),
        "ARBFLOW__SINKS__WRITE_SPREADS": "true",
        "ARBFLOW__SOURCE__KIND": '"simulator"',
        "ARBFLOW__SOURCE__BATCH_ROWS": "500",
        "ARBFLOW__SOURCE__SPEED": str(speed),
        "ARBFLOW__SOURCE__SAMPLE_DIR": f'"{REPO / "samples" / "binance-spot-2024-08-08"}"',
        "ARBFLOW__SIMULATOR__DURATION_S": str(SIM["duration_s"]),
        "ARBFLOW__SIMULATOR__RATE_HZ": str(SIM["rate_hz"]),
        "ARBFLOW__SIMULATOR__SEED": str(SIM["seed"]),
    }


def _flow_cmd(recovery: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "bytewax.run", "flows.arbitrage:flow"]
    return cmd + (["-r", str(recovery), "-s", "1", "-b", "0"] if recovery else [])


def _parts(data_dir: Path, name: str) -> int:
    return len(list((data_dir / "lake" / name).glob("date=*/part-*.parquet")))


def test_killed_and_resumed_run_equals_uninterrupted_run(reference: Path, tmp_path: Path) -> None:
    data_dir, recovery = tmp_path / "data", tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True, cwd=REPO)
    # 240 s of market at 20x: about 12 s of replay; kill it hard in the middle, after a few snapshots.
    first = subprocess.Popen(_flow_cmd(recovery), cwd=REPO, env=_env(data_dir, 20.0), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _parts(data_dir, "quotes_clean") < 10 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    assert first.poll() is None, "the flow finished before it could be killed: slow the replay down"
    first.send_signal(signal.SIGKILL)
    first.wait()
    partial = _parts(data_dir, "quotes_clean")
    assert partial >= 10

    second = subprocess.run(
        _flow_cmd(recovery), cwd=REPO, env=_env(data_dir, 0.0), capture_output=True, text=True, check=False
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming replay simulator at offset" in second.stderr
    assert_same_tables(reference, data_dir)


def test_reader_queries_duckdb_while_the_flow_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    flow = subprocess.Popen(_flow_cmd(None), cwd=REPO, env=_env(data_dir, 30.0), stderr=subprocess.DEVNULL)
    try:
        seen_while_running = []
        deadline = time.monotonic() + 120
        while flow.poll() is None and time.monotonic() < deadline:
            if (data_dir / "arbflow.duckdb").exists():
                con = lake.connect(data_dir)  # raises on a lock conflict
                n = con.execute("select count(*) from quotes_clean").fetchone()[0]
                con.close()
                if n and flow.poll() is None:
                    seen_while_running.append(n)
            if len(seen_while_running) >= 3:
                break
            time.sleep(0.2)
        assert len(seen_while_running) >= 3 and seen_while_running == sorted(seen_while_running)
        assert seen_while_running[0] > 0
        # A second, independent client (read-write, as the plain duckdb shell opens files) works too.
        other = duckdb.connect(str(data_dir / "arbflow.duckdb"))
        assert other.execute("select count(*) from validation_runs").fetchone()[0] > 0
        other.close()
    finally:
        flow.kill()
        flow.wait()
