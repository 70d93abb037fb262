"""The README's main job, for real: `python -m bytewax.run flows.arbitrage:flow` on the bundled sample, then the
summary; signals land in data/arbflow.duckdb."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.core.conftest import REPO, run_main_job


def test_main_job_on_the_bundled_sample(tmp_path: Path) -> None:
    env = {**os.environ, "ARBFLOW__SINKS__DATA_DIR": str(tmp_path)}
    run_main_job(env)
    summary = subprocess.run(
        [sys.executable, "-m", "arbflow.cli", "summary"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert summary.returncode == 0, summary.stderr[-3000:]
    for label in ("quotes in", "clean", "rejected", "signals", "windows"):
        assert label in summary.stdout

    con = duckdb.connect(str(tmp_path / "arbflow.duckdb"), read_only=True)
    n_signals = con.execute("select count(*) from signals").fetchone()[0]
    n_in = con.execute(
        "select (select count(*) from quotes_clean) + (select count(*) from quotes_rejected)"
    ).fetchone()[0]
    real = con.execute("select count(*) from quotes_clean where source = 'binance-hftbacktest'").fetchone()[0]
    con.close()
    assert n_signals > 0
    assert f"{n_signals:,}" in summary.stdout
    assert real == 131_932  # every real Binance update of the bundled sample is clean
    assert n_in > real

    # The newest plain DuckDB shell (1.x, what most users and GUI tools run) reads the same file and views.
    shell = subprocess.run(
        [
            str(Path(sys.executable).parent / "duckdb"),
            "-readonly",
            "-csv",
            "-noheader",
            str(tmp_path / "arbflow.duckdb"),
            "-c",
            "select count(*) from signals",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shell.returncode == 0, shell.stderr
    assert int(shell.stdout.strip()) == n_signals
