"""GX and other libraries stay quiet by default: the real entry point prints no Great Expectations INFO lines, while
the flow's own loggers keep ``[logging].level``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import polars as pl

from flows.arbitrage import setup_logging
from tests.core.conftest import run_main_job


def test_own_loggers_follow_the_configured_level_and_libraries_stay_at_warning() -> None:
    setup_logging("DEBUG")
    assert logging.getLogger("flows.common.cleaning").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("quality.audit").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("great_expectations.data_context").isEnabledFor(logging.INFO)
    assert not logging.getLogger("bytewax").isEnabledFor(logging.INFO)
    setup_logging("INFO")


def test_bytewax_run_prints_no_great_expectations_info(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ARBFLOW__SINKS__DATA_DIR": str(tmp_path / "data"),
        "ARBFLOW__SOURCE__KIND": '"simulator"',
        "ARBFLOW__SIMULATOR__DURATION_S": "60",
        "ARBFLOW__QUALITY__AUDIT_INTERVAL_S": "20",  # several GX audit runs, each a chance to log
    }
    run = run_main_job(env)
    lines = (run.stdout + run.stderr).splitlines()
    assert [line for line in lines if "great_expectations" in line] == []
    assert len(lines) < 10, lines[:20]
    runs = pl.read_parquet(tmp_path / "data" / "lake" / "validation_runs" / "date=*" / "part-*.parquet")
    assert (runs["engine"] == "gx").sum() >= 2, "the GX audit did not run, so the test proves nothing"
