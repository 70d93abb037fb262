"""Live feed benchmark (run by hand): what reaches the flow when a venue bursts, ours vs ccxt.pro.

    .venv/bin/python bench/live_feed.py [frames]

A fake Binance (tests/fakes, a real WebSocket server on 127.0.0.1) sends ``frames`` real bookTicker payloads
(the hftbacktest recording, update ids renumbered so every frame is distinct), once as a burst and once paced at
~1 kHz. Measured for each consumer: frames delivered, distinct update ids, wall time.
- ``FeedSession`` (connectors/exchanges/session.py), our native session, on its own.
- ``LiveSource`` in a real Bytewax dataflow (run_main, one partition), i.e. what the arbitrage flow receives.
- ccxt.pro ``watch_bids_asks`` (the reference most users would reach for), same server, markets set offline.
The reference figure is "frames sent": a consumer that delivers fewer has conflated (lost) updates.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from arbflow.settings import load_settings
from connectors.exchanges import Binance
from connectors.exchanges.session import FeedSession
from connectors.live import LiveSource, LiveVenue
from connectors.live_wiring import feed_settings
from connectors.markets import ccxt_exchange
from tests.connectors.conftest import binance_recording
from tests.fakes.exchanges import FakeBinance

LIVE = load_settings(environ={}).live  # the shipped [live] timing


def frames(n: int) -> list[dict]:
    _, after, _ = binance_recording()
    tickers = [m for m in after if m["stream"].endswith("@bookTicker")]
    out = []
    for i in range(n):
        m = tickers[i % len(tickers)]
        out.append({"stream": m["stream"], "data": dict(m["data"], u=10_000_000 + i)})
    return out


def script(msgs: list[dict], paced: bool) -> list[tuple]:
    steps: list[tuple] = []
    for i, m in enumerate(msgs):
        if paced and i % 10 == 0:
            steps.append(("sleep", 0.01))  # ~1 kHz on average, in 10-frame clumps (asyncio timer granularity)
        steps.append(("send", m))
    return steps


async def native(url: str, n: int) -> tuple[int, int, float]:
    got: list[int] = []
    done = asyncio.Event()

    def emit(kind: str, row: dict) -> None:
        if kind == "quote":
            got.append(int(row["seq"]))
            if len(got) >= n:
                done.set()

    session = FeedSession(lambda: Binance(["BTC/USDT"]), feed_settings(LIVE, ws_url=url, stall_timeout_s=30), emit)
    t0 = time.perf_counter()
    task = asyncio.create_task(session.run())
    try:
        await asyncio.wait_for(done.wait(), 60)
    except TimeoutError:
        pass
    elapsed = time.perf_counter() - t0
    task.cancel()
    return len(got), len(set(got)), elapsed


async def ccxtpro(url: str, n: int, idle_s: float = 1.0) -> tuple[int, int, float]:
    ex = ccxt_exchange("binance", pro=True)
    for key, value in list(ex.urls["api"]["ws"].items()):
        if isinstance(value, str):
            ex.urls["api"]["ws"][key] = url + "/ws"
    got: list[int] = []
    t0 = time.perf_counter()
    last = t0
    try:
        while len(got) < n:
            try:
                tickers = await asyncio.wait_for(ex.watch_bids_asks(["BTC/USDT"]), idle_s)
            except TimeoutError:
                break
            got.append(int(tickers["BTC/USDT"]["info"]["u"]))
            last = time.perf_counter()
    finally:
        await ex.close()
    return len(got), len(set(got)), last - t0


def receive_to_flow_latency_ms(url: str, n: int) -> list[float]:
    """p50 / p99 / max of (time the batch reaches the first flow step - the row's ts_recv), in ms."""
    import numpy as np
    import polars as pl

    lat: list[np.ndarray] = []

    def measure(item: object) -> object:
        frame = getattr(item, "frame", None)
        if frame is not None and "quote_id" in frame.columns:
            now_us = time.time_ns() // 1000
            lat.append((now_us - frame["ts_recv"].cast(pl.Int64).to_numpy()) / 1000.0)
        return item

    flow = Dataflow("bench_latency")
    src = LiveSource([LiveVenue("binance", ["BTC/USDT"], ws_url=url)], feed_settings(LIVE, stall_timeout_s=30),
                     batch_rows=1000, capture_rows_per_file=LIVE.capture_rows_per_file, run_for_s=n / 800 + 1.0)  # fmt: skip
    op.output("out", op.map("measure", op.input("live", flow, src), measure), TestingSink([]))
    run_main(flow)
    all_ms = np.concatenate(lat)
    return [float(np.percentile(all_ms, 50)), float(np.percentile(all_ms, 99)), float(all_ms.max()), len(all_ms)]


def bytewax_live(url: str, n: int) -> tuple[int, float]:
    out: list = []
    flow = Dataflow("bench_live")
    src = LiveSource([LiveVenue("binance", ["BTC/USDT"], ws_url=url)], feed_settings(LIVE, stall_timeout_s=30),
                     batch_rows=1000, capture_rows_per_file=LIVE.capture_rows_per_file, run_for_s=max(3.0, n / 5000))  # fmt: skip
    op.output("out", op.input("live", flow, src), TestingSink(out))
    t0 = time.perf_counter()
    run_main(flow)
    rows = sum(b.frame.height for b in out if hasattr(b, "frame") and "quote_id" in b.frame.columns)
    return rows, time.perf_counter() - t0


def parse_only(msgs: list[dict]) -> tuple[float, float]:
    """Venue decode (JSON -> raw row) and row -> frame conversion rates, no I/O."""
    import json

    from connectors.exchanges.base import raw_quote_frame

    texts = [json.dumps(m) for m in msgs]
    venue = Binance(["BTC/USDT"])
    t0 = time.perf_counter()
    rows = [q for t in texts for q in venue.decode(t, 0).quotes]
    t1 = time.perf_counter()
    raw_quote_frame(rows)
    t2 = time.perf_counter()
    return len(rows) / (t1 - t0), len(rows) / (t2 - t1)


def main(n: int) -> None:
    msgs = frames(n)
    decode_rate, frame_rate = parse_only(msgs)
    print(f"parse only: Binance.decode {decode_rate:,.0f} frames/s; raw_quote_frame {frame_rate:,.0f} rows/s")
    snapshot, _, _ = binance_recording()
    print(f"frames sent per run: {n} (real Binance bookTicker payloads, distinct update ids)")
    for paced in (False, True):
        mode = "paced ~1 kHz" if paced else "burst"
        with FakeBinance([script(msgs, paced)], snapshot) as fake:
            got, distinct, s = asyncio.run(native(fake.url, n))
        print(f"{mode:13s} FeedSession (ours)        delivered {got:6d} distinct {distinct:6d} in {s:6.2f} s"
              f" = {got / s:9.0f} quotes/s")  # fmt: skip
        with FakeBinance([script(msgs, paced)], snapshot) as fake:
            got, distinct, s = asyncio.run(ccxtpro(fake.url, n))
        print(f"{mode:13s} ccxt.pro watch_bids_asks  delivered {got:6d} distinct {distinct:6d} in {s:6.2f} s"
              f" ({100 * got / n:5.1f} % of sent)")  # fmt: skip
    with FakeBinance([script(msgs, False)], snapshot) as fake:
        rows, s = bytewax_live(fake.url, n)
    print(f"burst         LiveSource in Bytewax      delivered {rows:6d} rows (run_for_s bounded run: {s:.2f} s)")
    with FakeBinance([script(msgs[:5000], True)], snapshot) as fake:
        p50, p99, worst, rows = receive_to_flow_latency_ms(fake.url, 5000)
    print(f"paced ~1 kHz  receive -> first flow step: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {worst:6.1f} ms"
          f"  ({rows} rows)")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
