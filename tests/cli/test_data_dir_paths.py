"""Every path arbflow writes derives from the data dir: a read-only working directory still runs, simulates and runs
scheduled jobs when ARBFLOW__SINKS__DATA_DIR points elsewhere (the container's /app and the systemd unit's
ReadWritePaths=/var/lib/arbflow)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from arbflow.settings import load_settings
from tests.cli.conftest import ARBFLOW, Market, count

WRAP = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && cd "$0" && exec "$@"'


def _in_read_only(cwd: Path, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run argv with cwd read-only: chmod for a normal user; a private read-only bind mount for root (root ignores
    permission bits)."""
    cwd.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        argv = ["unshare", "-m", "sh", "-c", WRAP, str(cwd), *argv]
    else:
        cwd.chmod(0o555)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def read_only_cwd(tmp_path: Path, environ_without_arbflow: dict[str, str]) -> Path:
    cwd = tmp_path / "cwd"
    probe = _in_read_only(cwd, ["touch", "probe"], environ_without_arbflow)
    if probe.returncode == 0 and os.geteuid() == 0:
        pytest.skip("this machine cannot give root a read-only directory (no mount namespace)")
    assert probe.returncode != 0 and not (cwd / "probe").exists()
    return cwd


def test_scheduled_job_defaults_follow_the_data_dir() -> None:
    s = load_settings(environ={"ARBFLOW__SINKS__DATA_DIR": '"/var/lib/arbflow"'})
    (job,) = s.schedule.jobs
    assert job.output_dir == "/var/lib/arbflow/jobs"
    assert job.paths == ["/var/lib/arbflow/capture/exchange=*/date={date}/*.parquet"]


def test_a_scheduled_job_runs_from_a_read_only_directory(
    tmp_path: Path, market: Market, read_only_cwd: Path, environ_without_arbflow: dict[str, str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(market.capture, data / "capture")  # where `arbflow capture` writes by default
    env = environ_without_arbflow | {"ARBFLOW__SINKS__DATA_DIR": str(data)}
    result = _in_read_only(read_only_cwd, [ARBFLOW, "schedule", "--once", "replay-previous-day"], env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    partition = data / "jobs" / "replay-previous-day" / f"date={market.day}"
    captured = sum(pq.ParquetFile(f).metadata.num_rows for f in (data / "capture").rglob("*.parquet"))
    assert captured > 0
    assert count(partition, "select (select count(*) from quotes_clean) + (select count(*) from quotes_rejected)") == (
        captured
    )


def test_run_and_simulate_from_a_read_only_directory(
    tmp_path: Path, read_only_cwd: Path, environ_without_arbflow: dict[str, str]
) -> None:
    data = tmp_path / "data"
    env = environ_without_arbflow | {"ARBFLOW__SINKS__DATA_DIR": str(data)}
    simulated = _in_read_only(read_only_cwd, [ARBFLOW, "simulate", "--duration-s", "5"], env)
    assert simulated.returncode == 0, simulated.stderr[-3000:]
    assert (data / "sim" / "quotes.parquet").is_file()
    run = _in_read_only(read_only_cwd, [ARBFLOW, "run", "--source", "simulator"], env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert count(data, "select count(*) from quotes_clean") > 0
    assert (data / "last_run.json").is_file()
