"""Shared fixtures of the CLI tests: a small simulated market (60 s, 3 venues, 2 symbols) written by `arbflow
simulate` for yesterday (UTC, so the scheduler's "previous UTC day" finds it), and one real `arbflow run` over it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner, Result

from arbflow.cli import app

REPO = Path(__file__).resolve().parents[2]
ARBFLOW = str(Path(sys.executable).parent / "arbflow")
SMALL = {"ARBFLOW__SIMULATOR__DURATION_S": "60"}  # ~1,800 quotes: the flow's start-up dominates, not the data


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the real CLI in-process (flows still run as their own bytewax process)."""
    return CliRunner().invoke(app, [str(a) for a in args], env={**SMALL, **(env or {})}, catch_exceptions=False)


def count(data_dir: Path, sql: str) -> int:
    con = duckdb.connect(str(data_dir / "arbflow.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def yesterday() -> date:
    return (datetime.now(UTC) - timedelta(days=1)).date()


@dataclass(frozen=True)
class Market:
    out: Path  # quotes.parquet, truth.parquet, anomalies.parquet
    capture: Path  # <capture>/exchange=*/date=<day>/*.parquet
    day: date


@dataclass(frozen=True)
class RunLake:
    data_dir: Path
    recovery: Path
    stdout: str


@pytest.fixture(scope="session")
def market(tmp_path_factory: pytest.TempPathFactory) -> Market:
    root = tmp_path_factory.mktemp("market")
    day = yesterday()
    result = invoke("simulate", "--out", root / "sim", "--capture-dir", root / "capture", "--start", day.isoformat())
    assert result.exit_code == 0, result.output
    return Market(root / "sim", root / "capture", day)


@pytest.fixture(scope="session")
def run_lake(tmp_path_factory: pytest.TempPathFactory, market: Market) -> RunLake:
    """`arbflow run` of the simulator source on 2 workers with a recovery store (one real bytewax process)."""
    root = tmp_path_factory.mktemp("run")
    result = invoke("run", "--source", "simulator", "-d", root / "lake", "-w", "2", "-r", root / "recovery")
    assert result.exit_code == 0, result.output
    return RunLake(root / "lake", root / "recovery", result.output)


@pytest.fixture
def environ_without_arbflow() -> dict[str, str]:
    """The environment for subprocesses, minus ARBFLOW__ overrides a developer may have exported."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ARBFLOW__")} | SMALL
