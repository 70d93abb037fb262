"""The lake sink writes parts on a background thread: every row still lands, in part order, and a failed write stops
the flow with the table's name instead of vanishing on the writer thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from connectors import lake

T0 = datetime(2024, 8, 8, 23, 59, 58, tzinfo=UTC)


def _runs(first: int, n: int) -> pl.DataFrame:
    """validation_runs rows (the smallest table) whose receive times cross midnight, so parts split by date."""
    ts = [T0 + timedelta(milliseconds=250 * i) for i in range(first, first + n)]
    return pl.DataFrame(
        {
            "run_id": [f"replay/{i}/quotes.critical" for i in range(first, first + n)],
            "batch_seq": list(range(first, first + n)),
            "suite": "quotes.critical",
            "severity": "critical",
            "success": True,
            "evaluated": 7,
            "failed_expectations": [[] for _ in range(n)],
            "rows_in": 10,
            "rows_unexpected": 0,
            "ts_recv_min": ts,
            "ts_recv_max": ts,
            "engine": "compiled",
            "compiled_agrees": None,
        },
        schema_overrides={
            "evaluated": pl.Int32,
            "failed_expectations": pl.List(pl.String),
            "compiled_agrees": pl.Boolean,
        },
    )


def _run(tmp_path: Path, items: list[tuple[str, pl.DataFrame]]) -> None:
    schemas = lake.table_schemas()
    lake.prepare(tmp_path, schemas)
    flow = Dataflow("lake_sink")
    op.output("lake", op.input("in", flow, TestingSource(items, batch_size=1)), lake.LakeSink(tmp_path, schemas))
    run_main(flow, epoch_interval=timedelta(0))  # a snapshot after every item: it must wait for the writer


def test_every_row_lands_in_numbered_parts_split_by_date(tmp_path: Path) -> None:
    items = [("validation_runs", _runs(4 * k, 4)) for k in range(12)]
    _run(tmp_path, items)
    parts = sorted((tmp_path / "lake" / "validation_runs").glob("date=*/part-*.parquet"))
    assert {p.parent.name for p in parts} == {"date=2024-08-08", "date=2024-08-09"}
    assert sorted({p.name for p in parts}) == [f"part-{k:010d}.parquet" for k in range(12)]
    con = lake.connect(tmp_path)
    try:
        got = con.sql("select batch_seq from validation_runs order by batch_seq").fetchall()
    finally:
        con.close()
    assert [r[0] for r in got] == list(range(48))
    assert not list((tmp_path / "lake").rglob(".*.tmp"))


def test_a_failed_write_stops_the_flow_naming_the_table(tmp_path: Path) -> None:
    bad = _runs(0, 2).drop("suite")
    with pytest.raises(Exception) as raised:  # Bytewax wraps it ("error snapshotting StatefulSink")
        _run(tmp_path, [("validation_runs", _runs(0, 2)), ("validation_runs", bad), ("validation_runs", _runs(2, 2))])
    chain, exc = [], raised.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(
        isinstance(e, ValueError) and "validation_runs: columns ['suite'] do not match sql/schema" in str(e)
        for e in chain
    ), [repr(e) for e in chain]
