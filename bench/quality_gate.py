"""Quality gate micro-benchmark: per-batch cost of the compiled gate (Polars expressions, the hot path) against the
Great Expectations gate (what the hot path ran before; now the asynchronous audit), on the same batches.

Batches are simulated quotes (3 venues x 10 symbols) with a few planted crossed books, so the critical suite fails
and both engines also pay for finding *which* rows failed. Each size is timed over ``--repeats`` batches after one
warm-up call; prints median wall and CPU ms per batch and µs per row.

    .venv/bin/python bench/quality_gate.py                      # 1k, 5k, 20k rows
    .venv/bin/python bench/quality_gate.py --sizes 1000,100000 --repeats 5
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import polars as pl
from harness import FEES_BPS, SYMBOLS, VENUES

from arbflow.settings import load_settings
from connectors.normalize import normalize
from connectors.simulator import simulate
from quality.compiled import CompiledGate
from quality.gate import QualityGate


def batch(rows: int) -> pl.DataFrame:
    """``rows`` normalized simulated quotes, every 500th with its ask below its bid."""
    cfg = load_settings(environ={}).simulator.model_copy(
        update={"venues": VENUES, "symbols": SYMBOLS, "duration_s": 60.0, "seed": 1, "rate_hz": rows / 1800 + 1}
    )
    raw = simulate(cfg, FEES_BPS, 30.0).quotes.head(rows)
    raw = raw.with_columns(pl.format("sim/{}", pl.int_range(pl.len())).alias("quote_id"))
    quotes = normalize(raw)[0]
    crossed = pl.int_range(pl.len()) % 500 == 0
    return quotes.with_columns(pl.when(crossed).then(pl.col("bid_px") * 0.999).otherwise("ask_px").alias("ask_px"))


def per_batch_ms(gate: CompiledGate | QualityGate, quotes: pl.DataFrame, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) ms of one ``validate`` call."""
    gate.validate("bench/warm-up", 0, quotes)
    walls, cpus = [], []
    for i in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        gate.validate(f"bench/{i}", i, quotes)
        walls.append((time.perf_counter() - wall) * 1e3)
        cpus.append((time.process_time() - cpu) * 1e3)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,20000", help="batch sizes in rows, comma separated")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    compiled, gx = CompiledGate(), QualityGate()
    print(f"{'rows':>7}  {'engine':>8}  {'wall ms':>8}  {'cpu ms':>8}  {'µs/row':>7}  quarantined")
    for rows in (int(s) for s in args.sizes.split(",")):
        quotes = batch(rows)
        for name, gate in (("compiled", compiled), ("gx", gx)):
            wall, cpu = per_batch_ms(gate, quotes, args.repeats)
            failed = gate.validate("bench/check", 0, quotes).failed.height
            print(
                f"{quotes.height:>7}  {name:>8}  {wall:>8.2f}  {cpu:>8.2f}  {wall / quotes.height * 1e3:>7.2f}  {failed}"
            )


if __name__ == "__main__":
    main()
