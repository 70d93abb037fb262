"""GIL switch interval benchmark (run by hand): the latency of a small Bytewax flow while another thread runs Python.

    .venv/bin/python bench/gil_switch.py [--items 300]

Why connectors/live.py sets ``GIL_SWITCH_S``: a live process has Python threads beside the Bytewax worker (the venue
loop decoding bursts, the GX audit, the lake writer). Bytewax enters Python for every step; when another thread holds
the GIL, each entry waits up to the switch interval. Here a source emits a timestamp every 5 ms into six map steps and
a sink, with one thread spinning on Python bytecode; measured: source -> sink latency p50/p99, at CPython's default
5 ms interval and at 0.5 ms, alternated twice in one process (the reference is the default interval).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

PERIOD_S = 0.005


class _Ticks(StatefulSourcePartition[float, None]):
    def __init__(self, n: int) -> None:
        self.n, self.i, self.next_s = n, 0, time.monotonic()

    def next_batch(self) -> list[float]:
        if self.i >= self.n:
            raise StopIteration
        if time.monotonic() < self.next_s:
            return []
        self.next_s += PERIOD_S
        self.i += 1
        return [time.perf_counter()]

    def next_awake(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.0002)

    def snapshot(self) -> None:
        return None


class Ticks(FixedPartitionedSource[float, None]):
    def __init__(self, n: int) -> None:
        self.n = n

    def list_parts(self) -> list[str]:
        return ["ticks"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Ticks:
        return _Ticks(self.n)


class Latency(DynamicSink[float]):
    def __init__(self) -> None:
        self.ms: list[float] = []

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition[float]:
        out = self.ms

        class _Part(StatelessSinkPartition[float]):
            def write_batch(self, items: list[float]) -> None:
                now = time.perf_counter()
                out.extend((now - t) * 1000.0 for t in items)

        return _Part()


def run(items: int) -> np.ndarray:
    sink = Latency()
    flow = Dataflow("gil_switch")
    stream = op.input("ticks", flow, Ticks(items))
    for k in range(6):
        stream = op.map(f"step{k}", stream, lambda t: t)
    op.output("latency", stream, sink)
    run_main(flow)
    return np.array(sink.ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=300)
    args = parser.parse_args()
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    threading.Thread(target=spin, daemon=True).start()
    print("switch interval | source -> sink p50 ms | p99 ms  (one thread spinning on Python beside the flow)")
    for interval_s in (0.005, 0.0005, 0.005, 0.0005):
        sys.setswitchinterval(interval_s)
        ms = run(args.items)
        print(f"{interval_s * 1000:.1f} ms | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 99):.2f}", flush=True)
    stop.set()


if __name__ == "__main__":
    main()
