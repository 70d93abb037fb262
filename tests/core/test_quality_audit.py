"""The asynchronous Great Expectations audit: chunks cut by data, GX agreeing with the compiled gate, and a crash +
resume (real Bytewax run_main with a recovery directory, the real lake sink) that neither loses nor repeats a row."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main

from connectors import lake
from connectors.batches import RawBatch
from connectors.normalize import normalize
from connectors.replay import ReplaySource
from quality.audit import COMPACT_FRAMES, AuditLogic, AuditState, Chunk, audit_chunk, quality_audit
from quality.compiled import CompiledGate
from quality.gate import SUITES_DIR, QualityGate
from tests.core.conftest import table, write_quotes

T0 = datetime(2024, 8, 8, tzinfo=UTC)
ROWS, BATCH_ROWS, AUDIT_ROWS = 1_200, 100, 300


def _recording(tmp_path: Path, rows: int = ROWS, step_ms: int = 1) -> Path:
    """Quotes with a crossed book (ask < bid) every 7th row, so the critical suite fails in every chunk."""
    times = [T0 + timedelta(milliseconds=step_ms * i) for i in range(rows)]
    asks = [60_000.0 + i + (-1.0 if i % 7 == 0 else 0.5) for i in range(rows)]
    return write_quotes(tmp_path / "quotes.parquet", asks, times, times)


def _judged(batch: RawBatch) -> tuple[str, int, pl.DataFrame]:
    return batch.partition, batch.batch_seq, normalize(batch.frame)[0]


def _audit_flow(recording: Path, data_dir: Path, crash_marker: Path) -> Dataflow:
    def crash_once(item: tuple[str, int, pl.DataFrame]) -> tuple[str, int, pl.DataFrame]:
        if item[1] == 700 and crash_marker.exists():
            crash_marker.unlink()
            msg = "planted crash at batch 700"
            raise RuntimeError(msg)
        return item

    schemas = lake.table_schemas()
    lake.prepare(data_dir, schemas)
    flow = Dataflow("audit")
    batches = op.input("quotes", flow, ReplaySource([recording], name="replay", batch_rows=BATCH_ROWS, speed=0.0))
    judged = op.map("crash_once", op.map("judged", batches, _judged), crash_once)
    op.output("lake", quality_audit("audit", judged, AUDIT_ROWS, 3600.0, None), lake.LakeSink(data_dir, schemas))
    return flow


def test_gx_audit_rows_are_cut_by_row_count_and_agree_with_the_compiled_gate(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run_main(_audit_flow(_recording(tmp_path), data_dir, tmp_path / "no-crash"))
    runs = table(data_dir, "validation_runs", order_by="run_id")
    assert set(runs["engine"]) == {"gx"}
    critical = runs.filter(pl.col("suite") == "quotes.critical").sort("batch_seq")
    assert critical["run_id"].to_list() == [f"audit/replay/{a}-{a + 200}/quotes.critical" for a in (0, 300, 600, 900)]
    assert critical["rows_in"].to_list() == [300, 300, 300, 300]
    crossed = [len([i for i in range(first, first + 300) if i % 7 == 0]) for first in (0, 300, 600, 900)]
    assert critical["rows_unexpected"].to_list() == crossed
    assert runs["compiled_agrees"].to_list() == [True] * runs.height


def test_a_crash_and_resume_neither_loses_nor_repeats_a_gx_audit_row(tmp_path: Path) -> None:
    recording = _recording(tmp_path)
    reference = tmp_path / "reference"
    run_main(_audit_flow(recording, reference, tmp_path / "no-crash"))

    data_dir, recovery, marker = tmp_path / "data", tmp_path / "recovery", tmp_path / "crash"
    recovery.mkdir()
    init_db_dir(recovery, 1)
    marker.touch()
    config = RecoveryConfig(str(recovery))
    with pytest.raises(RuntimeError, match="crash_once"):  # Bytewax wraps the planted error, naming the step
        run_main(_audit_flow(recording, data_dir, marker), epoch_interval=timedelta(0), recovery_config=config)
    assert not marker.exists()
    run_main(_audit_flow(recording, data_dir, marker), epoch_interval=timedelta(0), recovery_config=config)

    expected = table(reference, "validation_runs", order_by="run_id")
    resumed = table(data_dir, "validation_runs", order_by="run_id")
    assert expected.height == 8
    assert resumed["run_id"].is_unique().all()
    assert resumed.equals(expected)


def test_chunks_are_cut_by_receive_clock_span_too_and_the_last_at_end_of_input(tmp_path: Path) -> None:
    logic = AuditLogic(rows=10_000, interval=timedelta(seconds=1), suites_dir=None, resume=None)
    quotes = normalize(pl.read_parquet(_recording(tmp_path, rows=50, step_ms=100)).with_row_index("quote_id"))[0]
    out = []
    for first in range(0, 50, 5):  # 0.5 s per batch: a chunk spans >= 1 s of receive clock after 3 batches
        out += logic.on_item(("sim", first, quotes.slice(first, 5)))[0]
    out += logic.on_eof()[0]
    ids = [run_id for frame in out for run_id in frame.filter(pl.col("severity") == "critical")["run_id"]]
    assert ids == [f"audit/sim/{a}-{b}/quotes.critical" for a, b in ((0, 10), (15, 25), (30, 40), (45, 45))]


def test_a_snapshot_carries_finished_results_and_a_resume_reruns_only_unfinished_chunks(tmp_path: Path) -> None:
    quotes = normalize(pl.read_parquet(_recording(tmp_path, rows=20)).with_row_index("quote_id"))[0]
    logic = AuditLogic(rows=10, interval=timedelta(hours=1), suites_dir=None, resume=None)
    assert (
        logic.on_item(("sim", 0, quotes.slice(0, 10)))[0] == []
    )  # cut; GX runs in the background, nothing emitted yet
    logic.running[0].result()
    finished = logic.snapshot()
    assert [c.runs is not None for c in finished.pending] == [True]

    resumed = AuditLogic(rows=10, interval=timedelta(hours=1), suites_dir=None, resume=finished)
    assert resumed.running == {}  # nothing to validate again
    unfinished = AuditState([], [Chunk("sim", 0, 0, quotes.slice(0, 10))])
    rerun = AuditLogic(rows=10, interval=timedelta(hours=1), suites_dir=None, resume=unfinished)
    assert list(rerun.running) == [0]
    assert [f.equals(g) for f, g in zip(resumed.on_eof()[0], rerun.on_eof()[0], strict=True)] == [True]


def test_a_gx_verdict_the_compiled_gate_does_not_share_is_logged_as_an_error_and_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A compiler bug, planted: the compiled gate reads a suite whose spread bound is tighter than GX's."""
    skewed = tmp_path / "skewed"
    skewed.mkdir()
    for suite in SUITES_DIR.glob("quotes.*.json"):
        (skewed / suite.name).write_text(suite.read_text().replace('"max_value": 2000', '"max_value": 0.05'))
    quotes = normalize(pl.read_parquet(_recording(tmp_path, rows=20)).with_row_index("quote_id"))[0]
    with caplog.at_level(logging.ERROR, logger="quality.audit"):
        runs = audit_chunk(QualityGate(), CompiledGate(skewed), Chunk("replay", 0, 10, quotes))
    assert dict(zip(runs["suite"], runs["compiled_agrees"], strict=True)) == {
        "quotes.critical": False,
        "quotes.warning": True,
    }
    assert "disagree on audit/replay/0-10/quotes.critical" in caplog.text


def test_audit_every_n_validates_one_chunk_in_n_by_chunk_number(tmp_path: Path) -> None:
    quotes = normalize(pl.read_parquet(_recording(tmp_path, rows=50)).with_row_index("quote_id"))[0]
    logic = AuditLogic(rows=10, interval=timedelta(hours=1), suites_dir=None, resume=None, every=2)
    out = []
    for first in range(0, 50, 10):
        out += logic.on_item(("sim", first, quotes.slice(first, 10)))[0]
    out += logic.on_eof()[0]
    ids = [run_id for frame in out for run_id in frame.filter(pl.col("severity") == "critical")["run_id"]]
    assert ids == [
        "audit/sim/0-0/quotes.critical",
        "audit/sim/20-20/quotes.critical",
        "audit/sim/40-40/quotes.critical",
    ]


def test_thousands_of_one_row_live_batches_make_one_chunk_of_exactly_their_rows_in_order(tmp_path: Path) -> None:
    """Live batches are a few rows: the buffer is compacted as it grows, and the chunk is still every row, in order,
    named by its first and last batch."""
    n = 3 * COMPACT_FRAMES + 5
    quotes = normalize(pl.read_parquet(_recording(tmp_path, rows=n)).with_row_index("quote_id"))[0]
    logic = AuditLogic(rows=n, interval=timedelta(hours=1), suites_dir=None, resume=None)
    for i in range(n - 1):
        assert logic.on_item(("live", i, quotes.slice(i, 1)))[0] == []
    snapshot = logic.snapshot()
    assert len(logic.state.buffer) <= COMPACT_FRAMES + 1 and snapshot.buffered_rows == n - 1
    logic.on_item(("live", n - 1, quotes.slice(n - 1, 1)))  # the n-th row cuts the chunk
    (chunk,) = logic.state.pending
    assert (chunk.partition, chunk.first_seq, chunk.last_seq) == ("live", 0, n - 1)
    assert chunk.quotes.equals(quotes)
    assert sum(frame.height for _, _, frame in snapshot.buffer) == n - 1  # the snapshot kept its own copy
    logic.running[0].result()
