"""Helpers for the core flow tests: build settings for a temporary lake and run the real dataflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from bytewax.testing import run_main

from connectors import lake
from connectors.config import Settings, load_settings
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


@pytest.fixture
def sim_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


__all__ = ["REPO", "duckdb", "run_flow", "settings_for", "table"]
