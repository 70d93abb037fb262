"""QingXi micro-benchmark: ``check_rows`` and ``clean_stream`` on the slices the flow hands them.

Simulates a market (3 venues x 10 symbols), cuts it into ``--batch-rows`` micro-batches in receive order like the
replay source, runs ``check_rows`` on each batch, then ``clean_stream`` on each symbol's slice with the stream state
carried per symbol (at 500k-row batches that is ~50k rows a call). Prints µs per row of each (rows handed to the
function), wall and CPU; on a shared machine CPU time is the steadier figure (``POLARS_MAX_THREADS=1`` steadier still).

    .venv/bin/python bench/cleaning.py                          # ~2M quotes, flows/common/cleaning.py
    .venv/bin/python bench/cleaning.py --module /tmp/old.py     # another version of the module, for before/after
"""

from __future__ import annotations

import argparse
import time
from types import ModuleType

import polars as pl
from harness import FEES_BPS, SYMBOLS, VENUES, Spent, load_version, timed

from arbflow.settings import load_settings
from connectors.simulator import simulate
from flows.common import cleaning as current


def market(n_quotes: int, anomaly_rate: float) -> pl.DataFrame:
    """Typed simulated quotes in receive order, with the replay source's ``quote_id``."""
    duration_s = 3600.0
    cfg = load_settings(environ={}).simulator.model_copy(
        update={
            "venues": VENUES,
            "symbols": SYMBOLS,
            "duration_s": duration_s,
            "rate_hz": n_quotes / (len(VENUES) * len(SYMBOLS) * duration_s),
            "anomaly_rate": anomaly_rate,
            "seed": 1,
        }
    )
    quotes = simulate(cfg, FEES_BPS, 30.0).quotes
    return quotes.with_columns(pl.format("sim/{}", pl.int_range(pl.len())).alias("quote_id"))


def run(cleaning: ModuleType, quotes: pl.DataFrame, batch_rows: int) -> dict[str, Spent]:
    """One pass over the market, the way the flow calls QingXi."""
    cfg = load_settings(environ={}).cleaning.model_copy(update={"symbols": SYMBOLS})
    spent = {"check_rows": Spent(), "clean_stream": Spent()}
    states: dict[str, object] = {}
    for start in range(0, quotes.height, batch_rows):
        batch = quotes.slice(start, batch_rows)
        ok, _ = timed(spent["check_rows"], batch.height, cleaning.check_rows, batch, cfg, set(VENUES))
        for (symbol,), rows in ok.partition_by("symbol", maintain_order=True, as_dict=True).items():
            states[symbol], _, _ = timed(
                spent["clean_stream"], rows.height, cleaning.clean_stream, states.get(symbol), rows, cfg
            )
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quotes", type=float, default=2e6)
    parser.add_argument("--batch-rows", type=int, default=500_000)
    parser.add_argument("--anomaly-rate", type=float, default=0.0002)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the market; the fastest is reported")
    parser.add_argument("--module", help="path of a cleaning module to time instead of flows/common/cleaning.py")
    args = parser.parse_args()
    cleaning = load_version(args.module, current)
    t = time.perf_counter()
    quotes = market(int(args.quotes), args.anomaly_rate)
    print(f"simulator: {quotes.height:,} quotes in {time.perf_counter() - t:.1f} s; timing {cleaning.__file__}")
    passes = [run(cleaning, quotes, args.batch_rows) for _ in range(args.repeat)]
    for name in ("check_rows", "clean_stream"):
        best = min((p[name] for p in passes), key=lambda s: s.wall_s)
        wall_us, cpu_us = best.per_row_us()
        print(
            f"{name:13s} {wall_us:6.3f} µs/row wall, {cpu_us:6.3f} µs/row "
            f"CPU  ({best.wall_s:.2f} s for {best.rows:,} rows in {best.calls} calls of ~{best.rows // best.calls:,}; "
            f"best of {args.repeat})"
        )


if __name__ == "__main__":
    main()
