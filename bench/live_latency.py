"""Live flow benchmark (run by hand): how many messages/s from three venues the whole flow keeps up with, the
latency from receiving a quote to its signal, stage by stage, and the idle CPU cost of the live source.

    .venv/bin/python bench/live_latency.py [--rates 5000,20000] [--seconds 10] [--epoch-ms 1000] [--idle-s 5]
        [--disable triangular,risk]

Three fake venues (tests/fakes: real WebSocket servers on 127.0.0.1, Binance bookTicker, OKX bbo-tbt, HTX gzip bbo;
run in a child process so their Python does not share the flow's GIL) stream BTC/USDT at an aggregate rate split
evenly, paced against their start time (no drift). Prices are the real Binance bookTicker extract
(tests/fixtures/binance), with OKX's whole top of book lifted 80 bps on every 50th push, so the flow emits two signals
(binance->okx, htx->okx rising edges) about every 50 OKX pushes. The flow is the real one: ``build_flow`` on
config/live.toml (``source.kind = "live"``: the venues merged at one point in arrival order, quality gate, lake
sink) pointed at the fakes. Each venue first sends a few warm-up frames; the stream starts once their rows are in the
lake (Great Expectations builds its context in the audit process, quality/audit.py, off the flow's GIL), and only
stream rows are measured.

Measured per rate:
- delivered: quotes_clean rows / messages the fakes sent (the flow stops at ``run_for_s``; the fakes finish first).
- lag: Parquet part file mtime (rename time) of a quotes_clean row - its ``ts_recv``, p50/p99, in the first and the
  last fifth of the stream, and its growth (least-squares slope over the stream, ms per s). The flow keeps up when
  it delivered >= 99 % and the lag grows by less than 100 ms per s.
- signal path, stage by stage (bench/live_stages.py: stamps taken in the flow's process around its own step functions;
  bench/live_subscriber.py: the real API, uvicorn on 127.0.0.1, bound to the flow's signal bus, and an SSE client of
  ``GET /api/signals/stream`` with the API key, each in its own process), per signal, from the receive clock
  (``ts_signal`` = the ``ts_recv`` of the quote that made the route qualify): source emit -> checked (normalize, row
  checks, quality gate) -> cleaned (stream checks) -> signal computed (cross evaluation) -> published (datagram sent,
  flows/common/publish.py) -> API hub (the bus hop: Unix datagram to the API process) -> SSE delivered (the client read it:
  the issue's "delivered to a stream subscriber") -> durable in the lake (signals part file mtime); p50/p99 of each
  hop and cumulative. Targets (issue 10): SSE delivered p50 <= 2 ms and p99 <= 10 ms at 5,000 msg/s, durable p99
  <= 250 ms. The same hops for every quote batch are in the JSON (``quotes ...``).
- idle: CPU seconds per wall second of a live source whose venue is connected and silent (the poll cost).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bytewax.operators as op
import numpy as np
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from arbflow.settings import Settings, load_settings
from bench.live_stages import Stages, report
from bench.live_subscriber import Subscriber
from connectors.live import LiveSource, LiveVenue
from connectors.live_wiring import feed_settings
from flows.arbitrage import build_flow
from tests.fakes.exchanges import Action, FakeBinance, FakeHtx, FakeOkx
from tests.fixtures.live_flow.derive import binance_tickers

REPO = Path(__file__).resolve().parent.parent
LIVE = load_settings(environ={}).live  # the shipped [live] timing and sizes
LIFT_EVERY, LIFT_BPS = 50, 80.0
TAIL_S = 2.0  # run_for_s beyond the streaming time: drain
WARMUP_FRAMES = 5  # sent first; the stream starts once their rows are in the lake (the flow's GX context is built)
WARMUP_MAX_S = 30.0  # run_for_s allowance for that warm-up
MAX_LAG_GROWTH_MS_PER_S = 100.0  # keeps up: lag grows less than 0.1 s per s of stream (and >= 99 % delivered)
GO = threading.Event()  # child process: the parent says the flow is warm


class Gated:
    """The frame marked ``_go`` waits for GO, and pacing restarts from it (a fake's loop has its own thread)."""

    _t0: Any

    def rebase(self, msg: Any) -> Any:
        if isinstance(msg, dict) and msg.get("_go"):
            msg = {k: v for k, v in msg.items() if k != "_go"}
            GO.wait()
            self._t0 = None
            if isinstance(self, PacedBinance):
                self.first_last.clear()
        return super().rebase(msg)  # type: ignore[misc]


class PacedBinance(Gated, FakeBinance):
    """Binance bookTicker has no venue clock: the bench's ``_t`` (ms) paces the frames instead (then removed)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.first_last: list[float] = []  # monotonic time of the first and the latest frame

    def rebase(self, msg: Any) -> Any:
        msg = dict(super().rebase(msg))
        self.shift(msg.pop("_t"))
        self.sent_ts_ms.append(0)  # counts frames, as the other fakes do
        self.first_last[1:] = [time.monotonic()]
        if len(self.first_last) == 1:
            self.first_last.append(self.first_last[0])
        return msg


class GatedOkx(Gated, FakeOkx):
    pass


class GatedHtx(Gated, FakeHtx):
    pass


def _px(value: str, bps: float) -> str:
    return f"{float(value) * (1 + bps / 1e4):.2f}"


def scripts(per_venue: int) -> dict[str, list[Action]]:
    """``WARMUP_FRAMES`` frames, then (on GO) ``per_venue`` frames per venue, 1 ms apart on the recorded clock (the
    fakes' ``speed`` sets the rate)."""
    tickers = [data for _, data in binance_tickers()]
    base = 1_700_000_000_000
    out: dict[str, list[Action]] = {"binance": [], "okx": [], "htx": []}
    for i in range(WARMUP_FRAMES + per_venue):
        t = tickers[i % len(tickers)]
        ms = base + i
        out["binance"].append(("send", {"_t": ms, "stream": "btcusdt@bookTicker", "data": dict(t, u=10**9 + i)}))
        lift = LIFT_BPS if i % LIFT_EVERY == LIFT_EVERY - 1 else 0.0
        bid, ask = _px(t["b"], lift), _px(t["a"], lift)
        out["okx"].append(("send", {"arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"},
                                    "data": [{"asks": [[ask, t["A"], "0", "1"]], "bids": [[bid, t["B"], "0", "1"]],
                                              "ts": str(ms)}]}))  # fmt: skip
        tick = {"seqId": 10**9 + i, "ask": float(t["a"]), "askSize": float(t["A"]), "bid": float(t["b"]),
                "bidSize": float(t["B"]), "quoteTime": ms, "symbol": "btcusdt"}  # fmt: skip
        out["htx"].append(("send", {"ch": "market.btcusdt.bbo", "ts": ms, "tick": tick}))
    for venue in out.values():
        venue[WARMUP_FRAMES] = ("send", {**venue[WARMUP_FRAMES][1], "_go": True})
    return out


def serve(rate: float, seconds: float, conn: Connection) -> None:
    """Child process: the three fakes; sends their URLs, then (once the parent's flow has ended) what was sent."""
    per_venue = int(rate / 3 * seconds)
    speed = rate / 3 / 1000.0  # recorded frames are 1 ms apart
    s = scripts(per_venue)
    with PacedBinance([s["binance"]], {"lastUpdateId": 0, "bids": [], "asks": []}, speed=speed) as fb, \
            GatedOkx([s["okx"]], speed=speed) as fo, GatedHtx([s["htx"]], speed=speed) as fh:  # fmt: skip
        conn.send({"binance": fb.url, "okx": fo.url, "htx": fh.url})
        conn.recv()  # go: the flow is warm
        GO.set()
        conn.recv()  # the parent's flow has ended
        sent = sum(len(f.sent_ts_ms) for f in (fb, fo, fh))
        stream_s = fb.first_last[1] - fb.first_last[0] if fb.first_last else float("nan")
        conn.send({"sent": sent, "scripted": 3 * (WARMUP_FRAMES + per_venue), "stream_s": stream_s})


def settings_for(data_dir: Path, urls: dict[str, str], run_for_s: float, disable: tuple[str, ...] = ()) -> Settings:
    base = load_settings(REPO / "config" / "live.toml", environ={}).model_dump()
    base["sinks"]["data_dir"] = str(data_dir)
    base["live"].update(
        symbols=["BTC/USDT"],
        ws_urls=urls,
        stall_timeout_s=30.0,
        run_for_s=run_for_s,
        capture_dir="",
    )
    base["cross"]["symbols"] = ["BTC/USDT"]
    for section in disable:  # diagnostics: what a branch costs the signal path
        base[section]["enabled"] = False
    return Settings.model_validate(base)


def rows_with_mtime(data_dir: Path, table: str, ts_col: str, id_col: str | None = None) -> pl.DataFrame:
    """(ts_us, written_us, latency_ms[, id]) per row: the part file's mtime minus the row's receive-clock time."""
    frames = []
    for path in sorted((data_dir / "lake" / table).glob("date=*/part-*.parquet")):
        written_us = os.stat(path).st_mtime_ns // 1000
        part = pl.read_parquet(path, columns=[ts_col, *([id_col] if id_col else [])])
        ts = part[ts_col].dt.epoch("us")
        cols = {
            "ts_us": ts,
            "written_us": pl.repeat(written_us, len(ts), eager=True),
            "latency_ms": (written_us - ts) / 1000.0,
        }
        frames.append(pl.DataFrame(cols | ({"id": part[id_col]} if id_col else {})))
    empty = {"ts_us": pl.Int64, "written_us": pl.Int64, "latency_ms": pl.Float64} | (
        {"id": pl.String} if id_col else {}
    )
    return pl.concat(frames) if frames else pl.DataFrame(schema=empty)


def go_when_warm(data_dir: Path, conn: Connection, go_us: list[int]) -> None:
    """Tell the fakes to stream once the warm-up quotes are in the lake."""
    while not list((data_dir / "lake" / "quotes_clean").glob("date=*/part-*.parquet")):
        time.sleep(0.05)
    time.sleep(0.5)
    go_us.append(time.time_ns() // 1000)
    conn.send("go")


def pct(values: Any, q: float) -> float:
    values = np.asarray(values)
    return float(np.percentile(values, q)) if len(values) else float("nan")


def run(rate: float, seconds: float, epoch_ms: float, disable: tuple[str, ...] = ()) -> dict[str, Any]:
    parent, child = mp.Pipe()
    server = mp.Process(target=serve, args=(rate, seconds, child), daemon=True)
    server.start()
    urls = parent.recv()
    with tempfile.TemporaryDirectory(prefix="arbflow-live-bench-") as tmp:
        data_dir = Path(tmp)
        subscriber = Subscriber.start(data_dir)  # the API binds the bus socket before the flow publishes
        t0 = time.monotonic()
        flow = build_flow(settings=settings_for(data_dir, urls, WARMUP_MAX_S + seconds + TAIL_S, disable))
        go_us: list[int] = []
        watcher = threading.Thread(target=go_when_warm, args=(data_dir, parent, go_us), daemon=True)
        watcher.start()
        stages = Stages().install()
        try:
            run_main(flow, epoch_interval=timedelta(milliseconds=epoch_ms))
        finally:
            stages.uninstall()
        wall_s = time.monotonic() - t0
        bus, delivered = subscriber.stop()
        parent.send("stop")
        fakes = parent.recv()
        server.join(10)
        stream_from_us = go_us[0] if go_us else 2**62
        clean = rows_with_mtime(data_dir, "quotes_clean", "ts_recv").sort("ts_us")
        clean = clean.filter(pl.col("ts_us") >= stream_from_us)
        signals = rows_with_mtime(data_dir, "signals", "ts_signal", "signal_id").filter(
            pl.col("ts_us") >= stream_from_us
        )
    fifth = max(clean.height // 5, 1)
    first, last = clean.head(fifth)["latency_ms"], clean.tail(fifth)["latency_ms"]
    result = {
        "rate": rate, "scripted": fakes["scripted"], "sent": fakes["sent"], "stream_s": fakes["stream_s"],
        "clean_rows": clean.height, "wall_s": wall_s, "lag_first_p50": pct(first, 50), "lag_first_p99": pct(first, 99),
        "lag_last_p50": pct(last, 50), "lag_last_p99": pct(last, 99), "signals_in_lake": signals.height,
        "signals_computed": sum(ts >= stream_from_us for ts, _, _ in stages.signals.values()),
        "signals_at_hub": sum(sid in bus for sid in signals["id"]),
        "signals_delivered": sum(sid in delivered for sid in signals["id"]),
    }  # fmt: skip
    # Lag growth: least-squares slope of lag (ms) over receive time (s); a flow that keeps up stays near 0.
    result["lag_growth_ms_per_s"] = (
        float(np.polyfit((clean["ts_us"] - clean["ts_us"][0]).to_numpy() / 1e6, clean["latency_ms"].to_numpy(), 1)[0])
        if clean.height > 1
        else float("nan")
    )
    durable = dict(zip(signals["id"], signals["written_us"], strict=True))
    cumulative = stages.signal_stages_ms(stream_from_us, bus, delivered, durable)
    result["signals_timed"] = len(cumulative["durable in lake"])
    previous = None
    for stage, ms in cumulative.items():
        hop = ms if previous is None else ms - previous
        result[f"{stage} hop p50"], result[f"{stage} hop p99"] = pct(hop, 50), pct(hop, 99)
        result[f"{stage} p50"], result[f"{stage} p99"] = pct(ms, 50), pct(ms, 99)
        previous = ms
    for hop, ms in stages.quote_stages_ms(stream_from_us).items():  # every quote, not only the signals' ones
        result[f"quotes {hop} p50"], result[f"quotes {hop} p99"] = pct(ms, 50), pct(ms, 99)
    result["keeps_up"] = bool(
        result["sent"] == result["scripted"]
        and clean.height >= 0.99 * (result["sent"] - 3 * WARMUP_FRAMES)
        and result["lag_growth_ms_per_s"] < MAX_LAG_GROWTH_MS_PER_S
    )
    return result


def idle_cpu(seconds: float) -> float:
    """CPU seconds per wall second of a Bytewax flow whose only input is a connected, silent live venue."""
    with FakeBinance([[("sleep", seconds + 5.0)]], {"lastUpdateId": 0, "bids": [], "asks": []}) as fake:
        flow = Dataflow("idle")
        source = LiveSource([LiveVenue("binance", ["BTC/USDT"], ws_url=fake.url)],
                            feed_settings(LIVE, stall_timeout_s=60.0), run_for_s=seconds,
                            batch_rows=LIVE.batch_rows, capture_rows_per_file=LIVE.capture_rows_per_file)  # fmt: skip
        op.output("out", op.input("live", flow, source), TestingSink([]))
        cpu0, wall0 = time.process_time(), time.monotonic()
        run_main(flow)
        return (time.process_time() - cpu0) / (time.monotonic() - wall0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="5000,20000", help="aggregate messages/s, comma separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="streaming time per rate")
    parser.add_argument("--epoch-ms", type=float, default=1000.0,
                        help="Bytewax epoch interval (what bytewax.run -s sets)")  # fmt: skip
    parser.add_argument("--idle-s", type=float, default=5.0, help="idle CPU measurement length (0 = skip)")
    parser.add_argument(
        "--disable", default="", help="config sections to switch off, e.g. triangular,risk (diagnostics)"
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.seconds:g} s per rate; three venues, "
          "BTC/USDT; lake on local disk")  # fmt: skip
    if args.idle_s > 0:
        print(f"idle live source: {100 * idle_cpu(args.idle_s):.1f} % of one core (CPU s per wall s)", flush=True)
    results = []
    for rate in [float(r) for r in args.rates.split(",")]:
        results.append(run(rate, args.seconds, args.epoch_ms, tuple(filter(None, args.disable.split(",")))))
        print(report(results[-1]), flush=True)
    kept = [r["rate"] for r in results if r["keeps_up"]]
    print(json.dumps({"highest_rate_kept_up": max(kept) if kept else None, "results": results}, default=str))


if __name__ == "__main__":
    main()
