"""Micro-benchmark: the per-symbol cross-exchange step (``spreads.evaluate`` + ``windows.partials``), run by hand.

    .venv/bin/python bench/evaluate.py                       # ~2M quotes, 3 venues x 10 symbols
    .venv/bin/python bench/evaluate.py --quotes 5e5 --repeat 1
    git show <commit>:flows/cross/spreads.py > /tmp/spreads_before.py
    .venv/bin/python bench/evaluate.py --spreads /tmp/spreads_before.py   # time another version, same input

Input: a simulated market as dense in time as bench/replay_throughput.py's 10M quotes (no anomalies: every quote is
clean), cut like the replay flow cuts it: source batches of ``--batch-rows`` quotes, each split by symbol (~40-50k
rows per slice at the defaults), each slice evaluated against the book its symbol carried out of the previous slice;
windows of the default config's [windows] stats_window_s. The first slice of each symbol starts with an empty book
(a little dearer): 1 slice in 5 at 2M quotes, 1 in 20 at 10M.

Prints microseconds per input quote for ``evaluate``, for ``partials`` and for both, wall clock and process CPU time
(polars may use several threads: CPU can exceed wall), of the fastest of ``--repeat`` passes (on a shared machine the
minimum is the least noisy).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import ModuleType

import polars as pl
from harness import FEES_BPS, SYMBOLS, VENUES, Spent, load_version, timed

from arbflow.settings import load_settings
from connectors.simulator import simulate
from flows.cross import spreads, windows

PARAMS = spreads.SpreadParams(FEES_BPS, min_net_edge_bps=30.0, max_quote_age_ms=1000.0, max_skew_ms=500.0,
                              max_position_usdt=50_000.0)  # fmt: skip
SETTINGS = load_settings(environ={})
WINDOW = timedelta(seconds=SETTINGS.windows.stats_window_s)
RATE_HZ = 10e6 / (len(VENUES) * len(SYMBOLS) * 3600.0)  # per venue and symbol: bench/replay_throughput.py's market


def market(n_quotes: float) -> pl.DataFrame:
    """Clean quotes in receive order, with ``ts_event`` and ``quote_id`` as the cleaning step hands them over; as
    dense in time as the 10M-quote replay benchmark's market (so as many windows per slice), only shorter."""
    cfg = SETTINGS.simulator.model_copy(
        update={
            "venues": VENUES,
            "symbols": SYMBOLS,
            "duration_s": n_quotes / (len(VENUES) * len(SYMBOLS) * RATE_HZ),
            "rate_hz": RATE_HZ,
            "cross_opportunities": 40,
            "fee_eaten_opportunities": 20,
            "anomaly_rate": 0.0,
            "seed": 1,
        }
    )
    quotes = simulate(cfg, FEES_BPS, PARAMS.min_net_edge_bps).quotes
    return quotes.with_row_index("_o").select(
        pl.exclude("_o"),
        pl.coalesce("ts_exchange", "ts_recv").alias("ts_event"),
        pl.format("sim/{}", "_o").alias("quote_id"),
    )


def slices(quotes: pl.DataFrame, batch_rows: int) -> list[pl.DataFrame]:
    """Per-symbol slices of each source batch, in processing order."""
    out = []
    for start in range(0, quotes.height, batch_rows):
        batch = quotes.slice(start, batch_rows)
        out += [part for _, part in batch.group_by("symbol", maintain_order=True)]
    return out


@dataclass
class Pass:
    """One pass over all slices: time in each step, and what came out."""

    evaluate: Spent = field(default_factory=Spent)
    partials: Spent = field(default_factory=Spent)
    evaluations: int = 0
    signals: int = 0


def one_pass(module: ModuleType, parts: list[pl.DataFrame]) -> Pass:
    books: dict[str, object] = {}
    out = Pass()
    for part in parts:
        symbol = part["symbol"][0]
        books[symbol], ev = timed(out.evaluate, part.height, module.evaluate, books.get(symbol, module.BookState()),
                                  part, PARAMS)  # fmt: skip
        if "is_edge" not in ev.lean.columns:  # since issue 11 the episode state machine marks signals, not evaluate
            ev = replace(ev, lean=ev.lean.with_columns(pl.col("is_signal").alias("is_edge")))
        timed(out.partials, part.height, windows.partials, ev, WINDOW)
        out.evaluations += ev.lean.height
        out.signals += int(ev.lean["is_edge"].sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quotes", type=float, default=2e6)
    parser.add_argument("--batch-rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spreads", help="a file holding another version of flows/cross/spreads.py to time instead")
    args = parser.parse_args()
    module = load_version(args.spreads, spreads)
    quotes = market(args.quotes)
    parts = slices(quotes, args.batch_rows)
    print(f"{quotes.height:,} quotes in {len(parts)} per-symbol slices (~{quotes.height // len(parts):,} rows each)")
    runs = [one_pass(module, parts) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r.evaluate.wall_s + r.partials.wall_s)
    both = Spent(best.evaluate.wall_s + best.partials.wall_s, best.evaluate.cpu_s + best.partials.cpu_s, quotes.height)
    print(f"{best.evaluations:,} evaluations, {best.signals:,} signals ({module.__name__})")
    print("us per quote   wall    cpu")
    for name, spent in (("evaluate", best.evaluate), ("partials", best.partials), ("both", both)):
        wall_us, cpu_us = spent.per_row_us()
        print(f"{name:12s} {wall_us:6.3f} {cpu_us:6.3f}")


if __name__ == "__main__":
    main()
