"""Shared helpers: recorded fixtures, and running the live source in a real Bytewax dataflow."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, cluster_main, run_main

from arbflow.settings import load_settings
from connectors.batches import RawBatch
from connectors.exchanges.session import FeedSettings
from connectors.live import LiveSource, LiveVenue, TableBatch
from connectors.live_wiring import feed_settings
from tests.fakes.exchanges import FakeExchange

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Fast timings so fault tests take seconds, not minutes.
FAST = FeedSettings(
    ws_url="",
    stall_timeout_s=0.6,
    backoff_initial_s=0.05,
    backoff_max_s=0.2,
    backoff_jitter=0.25,
    max_clock_skew_ms=1500.0,
)

# batch and capture-file sizes of the live tests (kw of run_live may override them)
SIZES = {"batch_rows": 1000, "capture_rows_per_file": 100_000}

# Happy paths: the fake goes quiet once its script ends, which must not count as a stall within the run.
CALM = feed_settings(load_settings(environ={}).live, stall_timeout_s=30.0)


def binance_recording() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(REST snapshot, bookTicker + depth messages after it in recorded order, every bookTicker message)."""
    snapshot, after, tickers = None, [], []
    for line in (FIXTURES / "binance" / "btcusdt_20240808_head400.txt").read_text().splitlines():
        msg = json.loads(line.partition(" ")[2])
        if "lastUpdateId" in msg:
            snapshot = msg
            continue
        stream = msg["stream"]
        if stream.endswith("@bookTicker"):
            tickers.append(msg)
        if snapshot is not None and (stream.endswith("@bookTicker") or "@depth" in stream):
            after.append(msg)
    assert snapshot is not None
    return snapshot, after, tickers


def jsonl(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / path).read_text().splitlines() if line.strip()]


def run_live(
    venues: list[LiveVenue],
    run_for_s: float,
    settings: FeedSettings = CALM,
    workers: int = 1,
    recovery: RecoveryConfig | None = None,
    until: list[FakeExchange] | None = None,
    **kw: Any,
) -> dict[str, pl.DataFrame]:
    """Run LiveSource in a Bytewax dataflow; return the concatenated quotes, feed_events and books.

    With ``until``, the run ends (gracefully, through ``LiveSource(stop=...)``) once every fake has played its last
    script and the feed has gone quiet; ``run_for_s`` is then only a safety cap.
    """
    out: list[Any] = []
    flow = Dataflow("live_test")
    stop = (lambda: all(f.finished.is_set() for f in until)) if until else None
    stream = op.input("live", flow, LiveSource(venues, settings, run_for_s=run_for_s, stop=stop, **(SIZES | kw)))
    op.output("out", stream, TestingSink(out))
    if workers == 1:
        run_main(flow, epoch_interval=timedelta(milliseconds=200), recovery_config=recovery)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers, recovery_config=recovery)
    tables: dict[str, list[pl.DataFrame]] = {"quotes": [], "feed_events": [], "books": []}
    for item in out:
        if isinstance(item, RawBatch):
            tables["quotes"].append(item.frame)
        else:
            assert isinstance(item, TableBatch)
            tables[item.table].append(item.frame)
    return {k: pl.concat(v) if v else pl.DataFrame() for k, v in tables.items()}
