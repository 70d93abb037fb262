"""Benchmark: triangular evaluation on the bundled sample (run by hand).

    .venv/bin/python bench/triangular.py [--batch-rows 20000]

Input: the default run's market (real Binance BTC/USDT + ETH/USDT bookTicker, OKX/HTX and ETH/BTC derived by the
simulator), cut into source batches and passed through the core flow's ``check_batch`` (normalize, QingXi row checks,
GX gate) and its cleaning stage (QingXi stream checks). Measured, per exchange, over all of Binance's 3,650 discovered
cycles:

* ``evaluate_batch`` alone (vectorized, every update x every touched cycle), in quotes/s;
* the whole triangular step (evaluation, episodes, 1 s N-leg scans), in quotes/s;
* the reference: the per-tick loop most users would write (dict of latest quotes, Python math per touched cycle with
  the same gates and lot checks, no output rows) over the same clean quotes; it must count the same evaluations
  and qualifying ones.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl

from arbflow.settings import load_settings
from connectors.batches import RawBatch
from connectors.simulator import sample_market
from flows.common.batches import check_batch
from flows.common.clean_stage import CleanRunner
from flows.common.fanout import exchange_pieces
from flows.triangular.evaluate import evaluate_batch
from flows.triangular.step import ExchangeState, TriangularRunner
from quality.gate import QualityGate


def reference(rows: pl.DataFrame, runner: TriangularRunner) -> tuple[int, int]:
    """Per-tick Python over the clean and quarantined rows in order: (evaluations, qualifying). Like the vectorized step it only
    considers cycles whose three markets are quoted in the data, and applies the same gates and lot checks."""
    quoted = set(rows.filter(~pl.col("quarantined"))["symbol"].unique())
    touch: dict[str, list[dict]] = {}
    for c in runner.book.cycles.to_dicts():
        if all(c[f"leg{k}_symbol"] in quoted for k in range(3)):
            for k in range(3):
                touch.setdefault(c[f"leg{k}_symbol"], []).append(c)
    p = runner.params
    latest: dict[str, tuple] = {}
    evaluations = qualifying = 0
    columns = ("symbol", "bid_px", "bid_qty", "ask_px", "ask_qty")
    times = (pl.col("ts_recv").dt.epoch("us"), pl.coalesce("ts_exchange", "ts_recv").dt.epoch("us"))
    flagged: set[str] = set()
    for sym, bid, bq, ask, aq, ts, ts_ex, bad in rows.select(*columns, *times, "quarantined").iter_rows():
        if bad:  # a quarantined update: the symbol's last clean quote is not current until the next clean one
            flagged.add(sym)
            continue
        flagged.discard(sym)
        latest[sym] = (bid, bq, ask, aq, ts, ts_ex)
        for c in touch.get(sym, ()):
            legs = [latest.get(c[f"leg{k}_symbol"]) for k in range(3)]
            if any(leg is None for leg in legs):
                continue
            evaluations += 1
            rates, caps, arrive = [], [], 1.0
            for k, (b, bq_, a, aq_, _, _) in enumerate(legs):
                buy = c[f"leg{k}_buy"]
                caps.append((aq_ * a if buy else bq_) / arrive)
                rates.append((1.0 / a if buy else b) * (1 - c[f"leg{k}_fee_bps"] / 1e4))
                arrive *= rates[-1]
            start = min(caps)
            if c["value_symbol"] is not None:
                v = latest.get(c["value_symbol"])
                if v is None:
                    continue  # cannot be valued: risk_block
                start = min(start, p.max_position_usdt / ((v[0] + v[2]) / 2))
            elif start > p.max_position_usdt:
                start = p.max_position_usdt
            amount, sizes_ok = start, True
            for k, (b, _, a, _, _, _) in enumerate(legs):
                buy, step = c[f"leg{k}_buy"], c[f"leg{k}_step"]
                qty = amount / a if buy else amount
                lot = math.floor(qty / step + 1e-9) * step if step > 0 else qty
                px = a if buy else b
                sizes_ok &= lot >= c[f"leg{k}_min_qty"] and lot > 0 and lot * px >= c[f"leg{k}_min_notional"]
                amount *= rates[k]
            net_bps = (math.prod(rates) - 1) * 1e4
            age_ms = (ts - min(leg[4] for leg in legs)) / 1000
            skew_ms = (max(leg[5] for leg in legs) - min(leg[5] for leg in legs)) / 1000
            fresh = age_ms <= p.max_quote_age_ms and skew_ms <= p.max_skew_ms
            clear = not any(c[f"leg{k}_symbol"] in flagged for k in range(3))
            if net_bps >= p.min_net_edge_bps and fresh and sizes_ok and clear:
                qualifying += 1
    return evaluations, qualifying


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-rows", type=int, default=20_000)
    args = parser.parse_args()
    settings = load_settings(environ={})
    fees = {name: v.taker_fee_bps for name, v in settings.venues.items()}
    market = sample_market(settings.source.sample_dir, settings.simulator, fees, 30.0, settings.cross.symbols)
    raw = market.quotes.with_row_index("o").select(pl.exclude("o"), pl.format("sample/{}", "o").alias("quote_id"))
    gate = QualityGate()
    t0 = time.perf_counter()
    checked = [
        check_batch(settings, gate, RawBatch(i, "sample", raw.slice(s, args.batch_rows)))
        for i, s in enumerate(range(0, raw.height, args.batch_rows))
    ]
    print(f"{raw.height:,} quotes in {len(checked)} batches; check_batch (core flow) {time.perf_counter() - t0:.2f} s")
    t0, stage, streams, clean = time.perf_counter(), CleanRunner(settings.cleaning), {}, []
    for c in checked:
        streams, [batch] = stage.step(streams, c)
        clean.append(batch)
    print(f"stream checks (core flow's cleaning stage) {time.perf_counter() - t0:.2f} s")
    for exchange in settings.triangular.exchanges:
        runner = TriangularRunner.from_settings(exchange, settings)
        pieces = [piece for batch in clean for _, piece in exchange_pieces(batch, [exchange])]
        n = sum(p.clean.height for p in pieces)
        clean_batches = [piece.rows() for piece in pieces]
        t = time.perf_counter()
        state, evals, qualifying = None, 0, 0
        for rows in clean_batches:
            out = evaluate_batch(rows, state, runner.book, runner.params)
            state, evals = out.state, evals + out.evaluations
            qualifying += out.edge_events.filter("qualifying").height
        eval_s = time.perf_counter() - t
        t = time.perf_counter()
        step_state, tables = ExchangeState(), 0
        for piece in pieces:
            step_state, items = runner.step(step_state, piece)
            tables += sum(f.height for _, f in items)
        step_s = time.perf_counter() - t
        t = time.perf_counter()
        ref_evals, ref_q = reference(pl.concat(clean_batches), runner)
        ref_s = time.perf_counter() - t
        assert (ref_evals, ref_q) == (evals, qualifying), ((ref_evals, ref_q), (evals, qualifying))
        print(
            f"{exchange}: {n:,} quotes, {runner.book.cycles.height:,} cycles, {evals:,} evaluations, "
            f"{qualifying:,} qualifying, {tables:,} output rows\n"
            f"  evaluate_batch     {n / eval_s:>12,.0f} quotes/s ({eval_s:.2f} s)\n"
            f"  whole step         {n / step_s:>12,.0f} quotes/s ({step_s:.2f} s)\n"
            f"  per-tick reference {n / ref_s:>12,.0f} quotes/s ({ref_s:.2f} s): evaluate_batch is "
            f"{ref_s / eval_s:.1f}x faster"
        )


if __name__ == "__main__":
    main()
