"""Read-ahead over the real replay source: same items in the same order as a plain map, a snapshot that never counts a
batch read ahead but not handed on, and a failure of the prepare step raised on the worker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from connectors.batches import RawBatch
from connectors.readahead import ReadAheadSource
from connectors.replay import ReplaySource
from tests.core.conftest import write_quotes

T0 = datetime(2024, 8, 8, tzinfo=UTC)


def _recording(tmp_path: Path, rows: int) -> Path:
    times = [T0 + timedelta(milliseconds=i) for i in range(rows)]
    return write_quotes(tmp_path / "quotes.parquet", [60_000.5 + i for i in range(rows)], times)


def _summary(batch: RawBatch) -> tuple[int, list[str], str]:
    return batch.batch_seq, batch.frame["quote_id"].to_list(), threading.current_thread().name


def test_items_and_order_equal_a_plain_map_and_prepare_runs_on_the_helper_thread(tmp_path: Path) -> None:
    source = ReplaySource([_recording(tmp_path, 23)], name="r", batch_rows=5, speed=0.0)
    flow = Dataflow("readahead")
    out: list = []
    op.output("out", op.input("in", flow, ReadAheadSource(source, _summary)), TestingSink(out))
    run_main(flow)
    assert [(seq, ids) for seq, ids, _ in out] == [
        (start, [f"r/{i}" for i in range(start, min(start + 5, 23))]) for start in range(0, 23, 5)
    ]
    assert {thread.split("_")[0] for _, _, thread in out} == {"read-ahead"}


def test_the_snapshot_is_the_last_batch_handed_on_and_a_resume_reads_the_rest(tmp_path: Path) -> None:
    source = ReadAheadSource(ReplaySource([_recording(tmp_path, 23)], name="r", batch_rows=5, speed=0.0), _summary)
    part = source.build_part("in", "r", None)
    assert part.snapshot() == 0
    first = part.next_batch()
    second = part.next_batch()  # the third batch is now being read ahead
    assert [b[0] for b in first + second] == [0, 5]
    assert part.snapshot() == 10
    part.close()
    resumed = source.build_part("in", "r", 10)
    rest = []
    with pytest.raises(StopIteration):
        while True:
            rest.extend(b[0] for b in resumed.next_batch())
    assert rest == [10, 15, 20]
    assert resumed.snapshot() == 23


def test_a_failing_prepare_step_is_raised_on_the_worker(tmp_path: Path) -> None:
    def prepare(batch: RawBatch) -> int:
        if batch.batch_seq == 10:
            msg = "batch 10 is bad"
            raise ValueError(msg)
        return batch.batch_seq

    part = ReadAheadSource(
        ReplaySource([_recording(tmp_path, 23)], name="r", batch_rows=5, speed=0.0), prepare
    ).build_part("in", "r", None)
    assert part.next_batch() + part.next_batch() == [0, 5]
    with pytest.raises(ValueError, match="batch 10 is bad"):
        part.next_batch()
    assert part.snapshot() == 10  # the failed batch was never handed on
