"""The risk step in real bytewax runs: same rows as the engine driven directly, with 1 or 2 workers and after an
abort and resume from recovery snapshots; and behind the real pipeline (simulator -> normalize -> GX gate -> cleaning
-> cross-exchange signals) into the Parquet lake, read back through the DuckDB views."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from risk_builders import ID, collect
from risk_market import BAL, VENUES, batches, generate, make_engine, run

from arbflow.settings import Settings, load_settings
from connectors import lake
from flows.risk.tables import SCHEMAS
from flows.risk.wiring import risk_tables

REPO = Path(__file__).resolve().parents[2]


def market_settings() -> Settings:
    data = load_settings(REPO / "config" / "default.toml", environ={}).model_dump()
    data["risk"] = make_engine().cfg.model_dump()
    data["venues"] = {v: {"taker_fee_bps": f} for v, f in VENUES.items()}
    data["cross"]["rebalance_threshold"] = 0.1
    return Settings.model_validate(data)


def risk_flow(bundles: list, sink: list) -> Dataflow:
    flow = Dataflow("risk_only")
    tables = op.input("tables", flow, TestingSource(bundles))
    op.output("out", risk_tables("risk", tables, market_settings()), TestingSink(sink))
    return flow


@pytest.fixture(scope="module")
def stream():
    quotes, signals = generate()
    event_batches = batches(quotes, signals, width_ms=1000, signal_delay_ms=0)
    reference = {t: f.sort(ID[t]) for t, f in run(event_batches).items()}
    return event_batches, reference


def assert_same(got: dict[str, pl.DataFrame], reference: dict[str, pl.DataFrame]) -> None:
    assert set(got) == set(reference) == set(SCHEMAS)
    for table, frame in reference.items():
        assert got[table].equals(frame), table


def test_bytewax_run_gives_the_engine_rows(stream):
    items, reference = stream
    sink: list = []
    run_main(risk_flow(items, sink))
    assert_same(collect(sink), reference)


def test_two_workers_give_the_same_rows(stream):
    items, reference = stream
    sink: list = []
    cluster_main(risk_flow(items, sink), [], 0, worker_count_per_proc=2)
    assert_same(collect(sink), reference)


def test_abort_and_resume_from_snapshots_gives_the_same_rows(stream, tmp_path: Path):
    items, reference = stream
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    abortable = [*items[:30], TestingSource.ABORT(), *items[30:]]
    sink: list = []
    flow = risk_flow(abortable, sink)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)  # stops at the ABORT item
    before = len(sink)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert 0 < before < len(sink)
    # replayed rows carry the same ids and contents: keeping one per id gives exactly the reference
    got = collect(sink)
    assert_same(got, reference)
    dupes = pl.concat([f for t, f in sink if t == "pnl"]).filter(pl.col("pnl_id").is_duplicated())
    assert dupes.unique().height == dupes["pnl_id"].n_unique()


def test_risk_tables_match_the_lake_schemas():
    schemas = lake.table_schemas()
    for table, cols in SCHEMAS.items():
        assert list(cols) == schemas[table].names, table
    quotes, signals = generate()
    out = run(batches(quotes, signals, width_ms=5000, signal_delay_ms=0))
    for table, frame in out.items():
        assert lake.to_arrow(frame, schemas[table], table).num_rows == frame.height


def test_settings_balances_are_the_configured_ones():
    assert market_settings().risk.balances == BAL
