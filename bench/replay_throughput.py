"""Replay throughput: the whole arbitrage flow over >= 10M simulated quotes (3 venues x 10 symbols), one worker.

Prints quotes/s end to end (source read to lake files written, Great Expectations on every micro-batch), the flow
process's peak RSS, and two references measured in this same invocation on the same file:

* a vectorized Polars computation of the same cross-exchange spreads (per-venue forward fill, all ordered pairs, age
  and skew gates) with no cleaning, validation, windows or sinks: the speed of the bare math;
* the per-tick Bytewax flow most users would write (one dict per quote, ``stateful_map`` per symbol), on a 1M-quote
  slice: the speed of the obvious streaming design.

    .venv/bin/python bench/replay_throughput.py              # 10M quotes
    .venv/bin/python bench/replay_throughput.py --quotes 2e6 # quicker

``--against DIR`` also runs the flow of another checkout (``git worktree add /tmp/base main``) on the same file,
alternating with this one ``--rounds`` times, and prints both runs' wall and CPU seconds (user + system of the flow
process): on a shared machine the CPU seconds of alternating runs compare two versions better than wall time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import timedelta
from itertools import permutations
from pathlib import Path

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main
from harness import FEES_BPS, REPO, SYMBOLS, VENUES

from arbflow.settings import load_settings
from connectors.simulator import DEFAULT_START, simulate

MIN_NET, MAX_AGE_MS, MAX_SKEW_MS = 30.0, 1000.0, 500.0
SEQ_PER_HOUR = 10**12  # venue sequence ids of hour h start at h * this (a simulated hour stays far below)


def generate(n_quotes: int, out: Path, duration_s: float = 3600.0, hour: int = 0) -> Path:
    """The benchmark market: ``n_quotes`` over ``duration_s``, starting ``hour`` hours after the simulator's start
    (its own seed and sequence ids above the earlier hours', so consecutive hours replay as one longer market)."""
    rate = n_quotes / (len(VENUES) * len(SYMBOLS) * duration_s)
    cfg = load_settings(environ={}).simulator.model_copy(
        update={
            "venues": VENUES,
            "symbols": SYMBOLS,
            "duration_s": duration_s,
            "rate_hz": rate,
            "cross_opportunities": 40,
            "fee_eaten_opportunities": 20,
            "anomaly_rate": 0.0002,
            "seed": 1 + hour,
        }
    )
    t = time.perf_counter()
    result = simulate(cfg, FEES_BPS, MIN_NET, start=DEFAULT_START + timedelta(hours=hour))
    if hour:
        result = replace(result, quotes=result.quotes.with_columns(pl.col("seq") + hour * SEQ_PER_HOUR))
    path = result.write(out)
    print(f"simulator: {result.quotes.height:,} quotes in {time.perf_counter() - t:.1f} s (written to {path})")
    return path


def generate_apart(n_quotes: int, out: Path, duration_s: float = 3600.0, hour: int = 0) -> Path:
    """``generate`` in a fresh process. Simulating 10M quotes takes ~2.7 GiB, and a child's ``ru_maxrss`` starts at
    its parent's peak RSS (Linux records the parent's high-water mark at fork/exec): generated here, the market
    would inflate every flow process's peak that follows."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(generate, n_quotes, out, duration_s, hour).result()


def polars_reference(path: Path) -> tuple[float, int]:
    """Bare vectorized spreads: returns (seconds, qualifying evaluations)."""
    t = time.perf_counter()
    q = pl.read_parquet(path).with_columns(pl.coalesce("ts_exchange", "ts_recv").alias("ts_event"))
    qualifying = 0
    for (symbol,), s in q.group_by("symbol"):
        wide = s.with_columns(
            [
                pl.when(pl.col("exchange") == v).then(pl.col(f)).forward_fill().alias(f"{f}@{v}")
                for v in VENUES
                for f in ("bid_px", "bid_qty", "ask_px", "ask_qty", "ts_recv", "ts_event")
            ]
        )
        for a, b in permutations(VENUES, 2):
            ask, bid = pl.col(f"ask_px@{a}"), pl.col(f"bid_px@{b}")
            net = (bid * (1 - FEES_BPS[b] / 1e4) / (ask * (1 + FEES_BPS[a] / 1e4)) - 1) * 1e4
            age = (pl.col("ts_recv") - pl.min_horizontal(f"ts_recv@{a}", f"ts_recv@{b}")).dt.total_milliseconds()
            skew = (pl.col(f"ts_event@{a}") - pl.col(f"ts_event@{b}")).dt.total_milliseconds().abs()
            qualifying += (
                wide.filter(pl.col("exchange").is_in([a, b]))
                .select(((net >= MIN_NET) & (age <= MAX_AGE_MS) & (skew <= MAX_SKEW_MS)).sum())
                .item()
            )
    return time.perf_counter() - t, qualifying


def per_tick_bytewax(path: Path, n: int) -> float:
    """The obvious streaming design: one dict per quote through stateful_map per symbol. Returns quotes/s."""
    rows = pl.read_parquet(path).head(n).to_dicts()

    def step(state: dict | None, quote: dict) -> tuple[dict, list]:
        book = state or {}
        book[quote["exchange"]] = quote
        out = []
        for other, q in book.items():
            if other == quote["exchange"]:
                continue
            for buy, sell in ((quote, q), (q, quote)):
                net = (
                    sell["bid_px"]
                    * (1 - FEES_BPS[sell["exchange"]] / 1e4)
                    / (buy["ask_px"] * (1 + FEES_BPS[buy["exchange"]] / 1e4))
                    - 1
                ) * 1e4
                if net >= MIN_NET:
                    out.append(net)
        return book, out

    flow = Dataflow("per_tick")
    s = op.input("in", flow, TestingSource(rows, batch_size=1000))
    keyed = op.key_on("key", s, lambda q: q["symbol"])
    op.output("out", op.stateful_map("spreads", keyed, step), TestingSink([]))
    t = time.perf_counter()
    run_main(flow)
    return n / (time.perf_counter() - t)


MODES = {
    # issue 2's pipeline: QingXi + Great Expectations + cross-exchange signals + windows + lake
    "core": {
        "ARBFLOW__TRIANGULAR__ENABLED": "false",
        "ARBFLOW__RISK__ENABLED": "false",
        "ARBFLOW__EPISODES__ENABLED": "false",
    },
    # everything the default config runs: + triangular and N-leg scans, episodes, rejections, z-scores, risk
    "full": {},
}


def pipeline_env(paths: list[Path], data_dir: Path, batch_rows: int, mode: str, repo: Path = REPO) -> dict[str, str]:
    """The environment that points the default config at the files ``paths`` with ``mode``'s switches."""
    return {
        **MODES[mode],
        **os.environ,
        "PYTHONPATH": str(repo),
        "ARBFLOW__SOURCE__KIND": '"replay"',
        "ARBFLOW__SOURCE__PATHS": json.dumps([str(p) for p in paths]),
        "ARBFLOW__SOURCE__BATCH_ROWS": str(batch_rows),
        "ARBFLOW__SINKS__DATA_DIR": f'"{data_dir}"',
        "ARBFLOW__CLEANING__SYMBOLS": str(SYMBOLS).replace("'", '"'),
        "ARBFLOW__CROSS__SYMBOLS": str(SYMBOLS).replace("'", '"'),
    }


def flow_command(workers: int) -> list[str]:
    return [sys.executable, "-m", "bytewax.run", "flows.arbitrage:flow", "-w", str(workers)]


def run_pipeline(
    path: Path, data_dir: Path, batch_rows: int, mode: str, workers: int = 1, repo: Path = REPO
) -> tuple[float, float, float]:
    """The real flow of checkout ``repo`` in a child process: returns (seconds, that child's peak RSS in MiB, its CPU
    seconds)."""
    t = time.perf_counter()
    env = pipeline_env([path], data_dir, batch_rows, mode, repo)
    child = subprocess.Popen(flow_command(workers), cwd=repo, env=env)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the max over every child so far
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, child.args)
    return time.perf_counter() - t, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def compare(path: Path, tmp: Path, args: argparse.Namespace) -> None:
    """This checkout's flow and ``args.against``'s on the same file, alternating; wall and CPU seconds of each run."""
    n = pl.scan_parquet(path).select(pl.len()).collect().item()
    trees = {"this": REPO, "against": Path(args.against).resolve()}
    for r in range(args.rounds):
        for mode in args.modes.split(","):
            for name, repo in trees.items():
                out = tmp / f"ab-{name}-{mode}-{r}"
                seconds, _, cpu_s = run_pipeline(path, out, args.batch_rows, mode, args.workers, repo)
                print(f"round {r} {mode} {name:8s} ({repo}): {n / seconds:10,.0f} quotes/s, wall {seconds:.1f} s, "
                      f"cpu {cpu_s:.1f} s", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quotes", type=float, default=10e6)
    default_rows = load_settings(environ={}).source.batch_rows
    parser.add_argument("--batch-rows", type=int, default=default_rows, help="default: the config's source.batch_rows")
    parser.add_argument("--modes", default="core,full", help="comma-separated: core (issue 2 pipeline), full (default)")
    parser.add_argument("--workers", type=int, default=1, help="Bytewax workers in the flow process")
    parser.add_argument("--against", help="another checkout whose flow runs on the same file, alternating")
    parser.add_argument("--rounds", type=int, default=2, help="with --against: runs of each checkout per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = generate_apart(int(args.quotes), Path(tmp) / "market")
        if args.against:
            compare(path, Path(tmp), args)
            return
        n = pl.scan_parquet(path).select(pl.len()).collect().item()
        results = {}
        for mode in args.modes.split(","):
            out = Path(tmp) / f"out-{mode}"
            seconds, rss, _ = run_pipeline(path, out, args.batch_rows, mode, args.workers)
            signals = pl.read_parquet(out / "lake" / "signals" / "**" / "*.parquet").height
            results[mode] = (seconds, rss, signals)
        ref_s, qualifying = polars_reference(path)
        tick_rate = per_tick_bytewax(path, min(n, 1_000_000))
        print(f"quotes: {n:,}  (3 venues x 10 symbols), batch_rows {args.batch_rows:,}, {args.workers} worker(s)")
        for mode, (seconds, rss, signals) in results.items():
            print(
                f"arbflow flow ({mode}):     {n / seconds:12,.0f} quotes/s  ({seconds:.1f} s incl. start-up, "
                f"peak RSS {rss:,.0f} MiB, {signals:,} signals)  ratio to polars {ref_s / seconds:.2f}, "
                f"to per-tick bytewax {n / seconds / tick_rate:.2f}"
            )
        print(f"polars spreads only:     {n / ref_s:12,.0f} quotes/s  ({ref_s:.1f} s, {qualifying:,} qualifying evals)")
        print(f"per-tick bytewax (1M):   {tick_rate:12,.0f} quotes/s")


if __name__ == "__main__":
    main()
