"""Benchmark: N-leg negative-cycle scan over the full recorded Binance market list (run by hand).

    .venv/bin/python bench/ncycles.py [--repeat 5]

Graph: all 1,695 markets of Binance's recorded exchangeInfo (tests/fixtures/binance_markets, cryptofeed recording),
arbitrage-free synthetic quotes (fair price per asset, 5 bps half spread, 10 bps taker fee), plus planted profitable
3-, 4- and 5-leg cycles (tests/strategy/planting.py). A *full scan* finds every cycle and then proves there is no
other one. Compared in the same process with the textbook reference (flows/triangular/cycles.py
``find_negative_cycles_reference``: |V| - 1 Python passes over all edges per search), which must find the same cycles.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl

from connectors.markets.spot import markets_from_ccxt
from flows.triangular.cycles import Graph, build_graph, find_negative_cycles, find_negative_cycles_reference
from tests.strategy.conftest import binance_ccxt_markets
from tests.strategy.planting import fair_prices, plant_cycle, quotes_for

PLANTS = (("USDT", 3, "PA", 30.0), ("USDT", 4, "PB", 25.0), ("BTC", 5, "PC", 40.0))


def graphs() -> tuple[Graph, Graph, int]:
    """(planted cycles, one real market mispriced: ETH/BTC 1% rich), and the number of recorded markets."""
    markets = markets_from_ccxt(binance_ccxt_markets(), taker_fee_bps=10.0, include_inactive=True)
    real = len(markets)
    prices = fair_prices(markets)
    fair = quotes_for(markets, prices)
    rich = fair.with_columns(
        pl.when(pl.col("symbol") == "ETH/BTC").then(pl.col(c) * 1.01).otherwise(pl.col(c)).alias(c)
        for c in ("bid_px", "ask_px")
    )
    mispriced = build_graph(rich, {"binance": markets})
    frames = [fair]
    for hub, legs, tag, edge in PLANTS:
        planted, quotes, _ = plant_cycle(markets, prices, hub, legs, tag, edge)
        markets = markets | planted
        frames.append(quotes)
    return build_graph(pl.concat(frames), {"binance": markets}), mispriced, real


def timed(fn, graph: Graph, repeat: int) -> tuple[float, list]:
    times, found = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        found = fn(graph, start_assets=("USDT", "BTC"))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    planted, mispriced, real = graphs()
    print(
        f"graph: {real} recorded Binance markets + {len(planted.labels) // 2 - real} planted, "
        f"{len(planted.nodes)} assets, {len(planted.labels)} directed edges"
    )
    for name, graph in (("planted 3/4/5-leg cycles", planted), ("real ETH/BTC quoted 1% rich", mispriced)):
        fast_s, fast = timed(find_negative_cycles, graph, args.repeat)
        ref_s, ref = timed(find_negative_cycles_reference, graph, max(1, args.repeat // 2))
        if graph is planted:  # disjoint planted cycles: both must report exactly them
            assert sorted(f.route for f in fast) == sorted(f.route for f in ref), "implementations disagree"
        else:  # every cycle runs through the rich market; each search may pick a different one
            assert len(fast) == len(ref) and all("binance:ETH/BTC:sell" in f.labels for f in fast + ref)
        print(f"{name}:")
        for label, found in (("", fast), ("reference ", ref) if graph is not planted else ("", [])):
            for f in sorted(found, key=lambda f: len(f.edges)):
                print(
                    f"  {label}found {len(f.edges)}-leg {f.route}  net {f.net_edge_bps:.2f} bps  size {f.max_start:,.4f}"
                )
        print(
            f"  full scan, vectorized Bellman-Ford + predecessor-cycle check: {fast_s * 1e3:8.1f} ms (median of {args.repeat})"
        )
        print(f"  reference, textbook Bellman-Ford in Python loops:             {ref_s * 1e3:8.1f} ms")
        print(f"  speed-up: {ref_s / fast_s:.0f}x")


if __name__ == "__main__":
    main()
