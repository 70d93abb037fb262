"""Helpers for the core flow tests: build settings for a temporary lake and run the real dataflow."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from bytewax.testing import run_main

from arbflow.settings import Settings, load_settings
from connectors import lake
from flows.arbitrage import build_flow

REPO = Path(__file__).resolve().parents[2]


def settings_for(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """The default settings with a private lake and per-section overrides."""
    base = load_settings(REPO / "config" / "default.toml", environ={}).model_dump()
    base["sinks"]["data_dir"] = str(data_dir)
    base["source"]["sample_dir"] = str(REPO / "samples" / "binance-spot-2024-08-08")
    for section, values in sections.items():
        base[section].update(values)
    return Settings.model_validate(base)


def run_flow(settings: Settings) -> None:
    run_main(build_flow(settings=settings))


def table(data_dir: Path, name: str, order_by: str | None = None) -> pl.DataFrame:
    """Read a table through the DuckDB views, the way users do."""
    con = lake.connect(data_dir)
    try:
        sql = f'select * from "{name}"' + (f" order by {order_by}" if order_by else "")
        frame = pl.from_arrow(con.sql(sql).to_arrow_table())
        return frame.with_columns(pl.col(pl.Datetime).dt.convert_time_zone("UTC"))
    finally:
        con.close()


def run_main_job(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The README's main job, ``python -m bytewax.run flows.arbitrage:flow`` from the repository; it must succeed."""
    run = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "flows.arbitrage:flow"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def write_quotes(
    path: Path, ask_px: list[float], ts_recv: list[datetime], ts_exchange: list[datetime] | None = None
) -> Path:
    """A one-venue BTC/USDT recording (bids 60,000 + i, size 1, seq i) with the given asks and clocks."""
    rows = len(ask_px)
    pl.DataFrame(
        {
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "bid_px": [60_000.0 + i for i in range(rows)],
            "bid_qty": 1.0,
            "ask_px": ask_px,
            "ask_qty": 1.0,
            "ts_exchange": ts_exchange,
            "ts_recv": ts_recv,
            "seq": list(range(rows)),
            "source": "test",
        },
        schema_overrides={"ts_exchange": pl.Datetime("us", "UTC")},
    ).write_parquet(path)
    return path


@pytest.fixture
def sim_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


__all__ = ["REPO", "duckdb", "run_flow", "run_main_job", "settings_for", "table", "write_quotes"]
