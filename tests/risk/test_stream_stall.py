"""The stream-stall check runs on the receive clock: in real bytewax runs, an expected symbol that falls silent raises
one ``stream_stall:<symbol>`` warning at the receive-clock instant the data fixes, and every output row is the same
whether the replay runs flat out or pauses for longer than stream_stall_ms of wall time, on 1 or 2 workers."""

from __future__ import annotations

import time
from pathlib import Path

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from risk_builders import collect, quotes, ts

from arbflow.settings import Settings, load_settings
from flows.risk.wiring import risk_tables

REPO = Path(__file__).resolve().parents[2]
STALL_MS, INTERVAL_MS, ETH_SILENT_MS = 2000.0, 1000.0, (3000, 9000)  # ETH quotes stop after 3000, resume at 9000
PAUSE_AT_MS, PAUSE_S = 4000, 2.5  # the slow run: a wall-clock pause longer than stream_stall_ms


def settings() -> Settings:
    data = load_settings(REPO / "config" / "default.toml", environ={}).model_dump()
    data["risk"].update(
        balances={v: {"USDT": 100_000.0, "BTC": 1.0, "ETH": 10.0} for v in ("binance", "okx")},
        stream_stall_ms=STALL_MS,
        metrics_interval_ms=INTERVAL_MS,
        reorder_grace_ms=500.0,
    )
    data["cross"]["symbols"] = ["BTC/USDT", "ETH/USDT"]
    return Settings.model_validate(data)


def bundles() -> list[list[tuple[str, pl.DataFrame]]]:
    """One bundle per symbol slice, as the pipeline sends them: both venues' quotes of one symbol every 500 ms."""
    px = {"BTC/USDT": 60_000.0, "ETH/USDT": 2_600.0}
    out = []
    for ms in range(0, 12_001, 500):
        for symbol in ("BTC/USDT", "ETH/USDT"):
            if symbol == "ETH/USDT" and ETH_SILENT_MS[0] < ms < ETH_SILENT_MS[1]:
                continue
            p = px[symbol]
            out.append([quotes(("binance", symbol, p - 1, 1, p, 1, ms), ("okx", symbol, p - 1, 1, p, 1, ms))])
    return out


def paced(bundle: list[tuple[str, pl.DataFrame]]) -> list[tuple[str, pl.DataFrame]]:
    """The slow machine: the replay stalls in wall time (not in receive time) before the PAUSE_AT_MS slice."""
    if bundle[0][1]["ts_recv"].min() == ts(PAUSE_AT_MS) and bundle[0][1]["symbol"][0] == "BTC/USDT":
        time.sleep(PAUSE_S)
    return bundle


def flow(sink: list, slow: bool) -> Dataflow:
    df = Dataflow("stream_stall")
    up = op.input("bundles", df, TestingSource(bundles()))
    if slow:
        up = op.map("pace", up, paced)
    op.output("out", risk_tables("risk", up, settings()), TestingSink(sink))
    return df


def test_stall_alert_is_on_the_receive_clock_and_rows_do_not_depend_on_replay_speed():
    fast: list = []
    run_main(flow(fast, slow=False))
    started = time.monotonic()
    slow: list = []
    cluster_main(flow(slow, slow=True), [], 0, worker_count_per_proc=2)
    assert time.monotonic() - started >= PAUSE_S  # the slow run really paused longer than stream_stall_ms
    fast_rows, slow_rows = collect(fast), collect(slow)

    stalls = fast_rows["alerts"].filter(pl.col("name").str.starts_with("stream_stall:"))
    # ETH's last quote before the gap is at 3000 ms; the first metrics tick where it is more than 2000 ms old is
    # 6000 ms (at 5000 it is exactly 2000); one alert for the whole episode, none for BTC, none after ETH resumes
    first_tick_ms = (ETH_SILENT_MS[0] + STALL_MS) // INTERVAL_MS * INTERVAL_MS + INTERVAL_MS
    assert stalls.select("name", "ts_alert", "severity", "value", "limit_value").rows() == [
        ("stream_stall:ETH/USDT", ts(first_tick_ms), "warning", first_tick_ms - ETH_SILENT_MS[0], STALL_MS)
    ]
    assert set(slow_rows) == set(fast_rows) and "risk_metrics" in fast_rows
    for table, frame in fast_rows.items():
        assert slow_rows[table].equals(frame), table
