"""What the simulator injects into its streams, with the ground truth of each: opportunities and anomalies.

Every opportunity becomes a ``truth`` row (receive-clock start and end, gross and net edge) and every anomaly an
``anomalies`` row naming the reason the cleaner must give, so tests can assert recall and precision exactly.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from connectors.schema import POLARS_QUOTE_SCHEMA
from connectors.sim_market import Reference, price_tick

ANOMALY_REASONS = {
    "crossed": "crossed_book",
    "zero_size": "non_positive_size",
    "negative_size": "non_positive_size",
    "nan_price": "nan_price",
    "stale": "stale",
    "outlier": "price_outlier",
    "duplicate": "duplicate",
    "out_of_order": "out_of_order",
}
ANOMALY_SCHEMA = {
    "exchange": pl.String,
    "symbol": pl.String,
    "ts_recv": POLARS_QUOTE_SCHEMA["ts_recv"],
    "seq": pl.Int64,
    "kind": pl.String,
    "expected_reason": pl.String,
}
TRUTH_SCHEMA = {
    "opp_id": pl.String,
    "kind": pl.String,  # cross | triangular
    "symbol": pl.String,  # cross: the symbol; triangular: the lifted cross-rate market
    "buy_exchange": pl.String,
    "sell_exchange": pl.String,
    "ts_start": POLARS_QUOTE_SCHEMA["ts_recv"],  # receive clock of the first quote showing it
    "ts_end": POLARS_QUOTE_SCHEMA["ts_recv"],  # receive clock of the quote that removes it
    "gross_edge_bps": pl.Float64,
    "net_edge_bps": pl.Float64,
    "above_threshold": pl.Boolean,
}


def asof(stream: dict[str, np.ndarray], column: str, recv: np.ndarray) -> np.ndarray:
    """``column`` of the stream's latest row received at or before each ``recv`` (NaN before its first row)."""
    idx = np.searchsorted(stream["ts_recv"], recv, side="right") - 1
    return np.where(idx >= 0, stream[column][np.maximum(idx, 0)], np.nan)


def inject_opportunities(
    streams: dict[tuple[str, str], dict[str, np.ndarray]],
    reference: Reference,
    plan: list[tuple],
    opp_len_us: int,
    t0_us: int,
) -> pl.DataFrame:
    """Lift the selling venue's book inside each planned window (in place); return the truth table with the receive
    clock of the quotes that open and close each window."""
    truth = []
    for k, (kind, symbol, buy, sell, start_us, gross, net, above) in enumerate(plan):
        lifted = streams[(sell, symbol)]
        inside = (lifted["t"] >= start_us) & (lifted["t"] < start_us + opp_len_us)
        recv = lifted["ts_recv"][inside]
        if kind == "cross":
            ref = asof(streams[(buy, symbol)], "ask_px", recv)
        else:
            base_ccy, quote_ccy = symbol.split("/")
            ref = asof(streams[(sell, f"{base_ccy}/USDT")], "ask_px", recv) / asof(
                streams[(sell, f"{quote_ccy}/USDT")], "bid_px", recv
            )
        bid, ask = lifted["bid_px"][inside], lifted["ask_px"][inside]
        target = np.where(np.isnan(ref), bid, ref * (1 + gross / 1e4))
        tick = price_tick(reference, symbol)
        lifted["bid_px"][inside] = np.ceil(target / tick) * tick
        lifted["ask_px"][inside] = np.ceil(target * (ask / bid) / tick) * tick
        edges = np.isin(lifted["t"], [start_us, start_us + opp_len_us])
        lifted["_forced"] |= edges
        start = lifted["ts_recv"][lifted["t"] == start_us][0] + t0_us
        end = lifted["ts_recv"][lifted["t"] == start_us + opp_len_us][0] + t0_us
        truth.append(
            {
                "opp_id": f"{kind}-{k}",
                "kind": kind,
                "symbol": symbol,
                "buy_exchange": buy,
                "sell_exchange": sell,
                "ts_start": int(start),
                "ts_end": int(end),
                "gross_edge_bps": gross,
                "net_edge_bps": net,
                "above_threshold": above,
            }
        )
    schema = {**TRUTH_SCHEMA, "ts_start": pl.Int64, "ts_end": pl.Int64}
    return pl.DataFrame(truth, schema=schema).with_columns(pl.col("ts_start", "ts_end").cast(TRUTH_SCHEMA["ts_start"]))


def corrupt(
    rng: np.random.Generator,
    venue: str,
    symbol: str,
    stream: dict[str, np.ndarray],
    rate: float,
    has_exchange_ts: bool,
    t0_us: int,
) -> pl.DataFrame:
    """Corrupt a few rows of one generated stream in place (never the rows that open or close an opportunity, never
    the first 30, at least 25 rows apart so each has one clean cause); return what was done and the reason due."""
    n = len(stream["t"])
    eligible = np.flatnonzero(~stream["_forced"] & (np.arange(n) >= 30))
    count = int(rng.binomial(len(eligible), rate)) if len(eligible) else 0
    chosen = np.sort(rng.choice(eligible, size=count, replace=False)) if count else np.empty(0, dtype=np.int64)
    keep, last = [], -1_000
    for i in chosen:
        if i - last >= 25:
            keep.append(int(i))
            last = i
    kinds = [k for k in ANOMALY_REASONS if has_exchange_ts or k != "stale"]
    picks = [(i, kinds[int(rng.integers(0, len(kinds)))]) for i in keep]
    marks = np.full(n, "", dtype=object)
    inserts: list[tuple[int, int, str]] = []  # (insert after row, copy of row, kind)
    for i, kind in picks:
        marks[i] = kind
        if kind == "crossed":
            stream["bid_px"][i] = stream["ask_px"][i] * 1.001
        elif kind == "nan_price":
            stream["bid_px"][i] = np.nan
        elif kind == "outlier":
            stream["bid_px"][i] *= 1.3
            stream["ask_px"][i] *= 1.3
        elif kind == "zero_size":
            stream["bid_qty"][i] = 0.0
        elif kind == "negative_size":
            stream["bid_qty"][i] = -stream["bid_qty"][i]
        elif kind == "stale":
            stream["ts_exchange"][i] = stream["ts_recv"][i] - 10_000_000
        else:  # duplicate: the same update delivered twice; out_of_order: a late retransmit from 3 rows earlier
            marks[i] = ""
            inserts.append((i, i if kind == "duplicate" else i - 3, kind))
    if inserts:
        after = np.array([a for a, _, _ in inserts]) + 1
        copies = np.array([c for _, c, _ in inserts])
        for name, values in stream.items():
            extra = stream["ts_recv"][after - 1] + 1 if name == "ts_recv" else values[copies]
            stream[name] = np.insert(values, after, extra)
        marks = np.insert(marks, after, np.array([k for _, _, k in inserts], dtype=object))
    positions = np.flatnonzero(marks != "")
    return pl.DataFrame(
        {
            "exchange": [venue] * len(positions),
            "symbol": [symbol] * len(positions),
            "ts_recv": stream["ts_recv"][positions] + t0_us,
            "seq": stream["seq"][positions],
            "kind": marks[positions].astype(str).tolist(),
        },
        schema={"exchange": pl.String, "symbol": pl.String, "ts_recv": pl.Int64, "seq": pl.Int64, "kind": pl.String},
    ).with_columns(
        pl.col("ts_recv").cast(POLARS_QUOTE_SCHEMA["ts_recv"]),
        pl.col("kind").replace_strict(ANOMALY_REASONS, return_dtype=pl.String).alias("expected_reason"),
    )
