"""Peak memory of the replay source against input length (issue 10.5): run under `/usr/bin/time -v`.

    python bench/replay_memory.py write /tmp/q 5000000     # a sorted 3-venue capture: q.parquet and q.csv
    /usr/bin/time -v python bench/replay_memory.py read /tmp/q.parquet   # "Maximum resident set size"

``read`` drains ``ReplaySource`` (the same partition the flow uses) and prints rows, batches and seconds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

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


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(Path(sys.argv[2]), int(float(sys.argv[3])))
    else:
        read([Path(p) for p in sys.argv[2:]])
