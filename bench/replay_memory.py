"""Peak memory against input length (issue 10.5): the whole flow, or the replay source alone.

    python bench/replay_memory.py flow --quotes 2e6,5e6,1e7     # the default pipeline, one child process per size
    python bench/replay_memory.py write /tmp/q 5000000          # a sorted 3-venue capture: q.parquet and q.csv
    /usr/bin/time -v python bench/replay_memory.py read /tmp/q.parquet   # "Maximum resident set size"

``flow`` generates each size with the simulator (the market of bench/replay_throughput.py: 3 venues x 10 symbols over
one hour), runs ``flows.arbitrage:flow`` on it in its own child process (default config, ``--batch-rows``, one
worker) and samples the child's RSS (``/proc/<pid>/status``) every ``--interval-s`` together with the quotes the
flow has passed (its heartbeat file), into ``<work-dir>/out-<size>-<mode>.rss.csv``. It prints the child's peak RSS (its own ``wait4`` rusage, so sizes are never
conflated) and the slope of RSS against quotes passed over the last three quarters of the run, in MiB per million
quotes: flat memory is a slope near zero and the same peak at every size.

``read`` drains ``ReplaySource`` (the same partition the flow uses) and prints rows, batches and seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl
from harness import REPO
from replay_throughput import MODES, flow_command, generate_apart, pipeline_env

from connectors.replay import ReplaySource


def write(prefix: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    ts = 1_723_161_600_000_000 + np.cumsum(rng.integers(0, 400, rows))  # µs, sorted, with ties
    mid = 60_000 + np.cumsum(rng.normal(0, 0.5, rows))
    frame = pl.DataFrame(
        {"exchange": rng.choice(["binance", "okx", "htx"], rows), "symbol": "BTC/USDT",
         "bid_px": mid - 0.05, "bid_qty": rng.uniform(0.01, 2, rows), "ask_px": mid + 0.05,
         "ask_qty": rng.uniform(0.01, 2, rows), "ts_exchange": ts - 1_000, "ts_recv": ts,
         "seq": np.arange(rows), "source": "bench"}
    ).with_columns(pl.col("ts_exchange", "ts_recv").cast(pl.Datetime("us", "UTC")))  # fmt: skip
    frame.write_parquet(prefix.with_suffix(".parquet"), row_group_size=100_000)
    frame.write_csv(prefix.with_suffix(".csv"))


def read(paths: list[Path]) -> None:
    t0, rows, batches = time.perf_counter(), 0, 0
    part = ReplaySource(paths, batch_rows=20_000, speed=0.0).build_part("bench", "replay", None)
    while True:
        try:
            for batch in part.next_batch():
                rows, batches = rows + batch.frame.height, batches + 1
        except StopIteration:
            break
    print(f"{rows:,} rows in {batches:,} batches, {time.perf_counter() - t0:.1f} s")


def rss_mib(pid: int) -> tuple[float, float] | None:
    """The process's (resident set size now, its peak so far: VmHWM) in MiB, or None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = {k: v.split()[0] for k, v in (line.split(":", 1) for line in status.splitlines() if line.startswith("Vm"))}
    return (int(kib["VmRSS"]) / 1024, int(kib["VmHWM"]) / 1024) if "VmHWM" in kib else None


def quotes_passed(data_dir: Path) -> int:
    """Quotes the flow has passed so far (clean + rejected), from its heartbeat file (0 before the first beat)."""
    try:
        return int(json.loads((data_dir / "heartbeats" / "dataflow.json").read_text())["counters"]["quotes_in"])
    except (OSError, ValueError, KeyError):
        return 0


Sample = tuple[float, int, float]  # seconds since start, quotes passed, RSS MiB


def slope_mib_per_m(samples: list[Sample], total: int) -> float:
    """Least-squares slope of RSS against quotes passed, over the samples past the first quarter of the input."""
    late = [(q, r) for _, q, r in samples if q >= total / 4]
    if len(late) < 3:
        return float("nan")
    quotes, rss = np.array(late, dtype=float).T
    return float(np.polyfit(quotes / 1e6, rss, 1)[0])


def run_sampled(
    paths: list[Path], data_dir: Path, batch_rows: int, mode: str, interval_s: float
) -> tuple[float, float, list[Sample]]:
    """The flow on ``paths`` in a child process: (seconds, peak RSS MiB, samples).

    The peak is the child's own high-water mark (VmHWM, last read ``interval_s`` before it exits), not its
    ``ru_maxrss``, which starts at this parent's peak."""
    shutil.rmtree(data_dir, ignore_errors=True)
    t = time.perf_counter()
    child = subprocess.Popen(flow_command(1), cwd=REPO, env=pipeline_env(paths, data_dir, batch_rows, mode))
    samples: list[Sample] = []
    peak = 0.0
    while child.poll() is None:
        mem = rss_mib(child.pid)
        if mem is not None:
            samples.append((time.perf_counter() - t, quotes_passed(data_dir), mem[0]))
            peak = max(peak, mem[1])
        time.sleep(interval_s)
    seconds = time.perf_counter() - t
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, child.args)
    return seconds, peak, samples


def market(n: int, per_hour: int, work: Path) -> list[Path]:
    """``n`` quotes at ``per_hour`` quotes an hour: consecutive one-hour files (the last one shorter), kept in
    ``work`` between invocations (a 10M-quote hour takes ~30 s to simulate)."""
    paths = []
    for hour in range(-(-n // per_hour)):
        quotes = min(per_hour, n - hour * per_hour)
        directory = work / f"market-{per_hour}-h{hour}-{quotes}"
        if not (directory / "quotes.parquet").exists():
            generate_apart(quotes, directory, 3600.0 * quotes / per_hour, hour)
        paths.append(directory / "quotes.parquet")
    return paths


def flow(sizes: list[int], per_hour: int, batch_rows: int, mode: str, interval_s: float, work: Path) -> None:
    peaks = []
    for n in sizes:
        paths = market(n, per_hour, work)
        quotes = pl.scan_parquet(paths).select(pl.len()).collect().item()
        data_dir = work / f"out-{n}-{mode}"
        seconds, peak, samples = run_sampled(paths, data_dir, batch_rows, mode, interval_s)
        pl.DataFrame(samples, schema=["t_s", "quotes", "rss_mib"], orient="row").write_csv(f"{data_dir}.rss.csv")
        at = {f: next((r for _, q, r in samples if q >= f * quotes), float("nan")) for f in (0.25, 0.5, 0.75)}
        top = max(samples, key=lambda s: s[2], default=(float("nan"), 0, float("nan")))
        print(
            f"{mode} {quotes:>12,} quotes: {seconds:7.1f} s ({quotes / seconds:,.0f} quotes/s), peak RSS "
            f"{peak:,.0f} MiB (highest sample {top[2]:,.0f} MiB at {top[0]:.0f} s, {top[1] / quotes:.0%} of the "
            f"quotes passed); RSS at 25/50/75% {at[0.25]:,.0f}/{at[0.5]:,.0f}/{at[0.75]:,.0f} MiB; "
            f"slope {slope_mib_per_m(samples, quotes):+.1f} MiB per M quotes ({len(samples)} samples)",
            flush=True,
        )
        peaks.append((quotes, peak))
    if len(peaks) > 1:
        (q0, p0), (q1, p1) = peaks[0], peaks[-1]
        print(f"peak RSS from {q0:,} to {q1:,} quotes: {(p1 - p0) / (q1 - q0) * 1e6:+.1f} MiB per M quotes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flow", help="peak RSS of the whole flow per input size")
    f.add_argument("--quotes", default="2e6,5e6,1e7", help="comma-separated sizes, one child process each")
    f.add_argument("--per-hour", type=float, default=1e7, help="market rate: quotes per hour of receive clock")
    f.add_argument("--batch-rows", type=int, default=20_000, help="source.batch_rows (the default: 20000)")
    f.add_argument("--mode", default="full", choices=sorted(MODES))
    f.add_argument("--interval-s", type=float, default=0.5, help="RSS sampling period")
    f.add_argument("--work-dir", default="/tmp/arbflow-memory", help="generated markets (kept) and outputs")
    w = sub.add_parser("write", help="a sorted one-symbol capture for the source-only run")
    w.add_argument("prefix", type=Path)
    w.add_argument("rows", type=float)
    r = sub.add_parser("read", help="drain ReplaySource over the files (run under /usr/bin/time -v)")
    r.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args()
    if args.cmd == "flow":
        sizes = [int(float(s)) for s in args.quotes.split(",")]
        flow(sizes, int(args.per_hour), args.batch_rows, args.mode, args.interval_s, Path(args.work_dir))
    elif args.cmd == "write":
        write(args.prefix, int(args.rows))
    else:
        read(args.paths)


if __name__ == "__main__":
    main()
