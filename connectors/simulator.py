"""A deterministic synthetic market with known answers.

``simulate`` builds V venues x S symbols of top-of-book quotes around a reference mid path per symbol (a random walk,
or a real recorded venue's mids), with per-venue lag, bias, noise, spread, size, latency and sequence ids. Into it go:

* cross-exchange opportunities: for a few seconds venue B's book is lifted so that its bid sits a chosen gross edge
  above venue A's ask; some clear the net threshold after fees, some are *fee-eaten* (gross > 0, net below);
* triangular opportunities: a venue's X/Y cross rate is lifted above X/USDT / Y/USDT;
* anomalies: crossed book, zero and negative size, NaN, stale, outlier, duplicate and out-of-order updates.

Everything injected is listed in ``truth`` (opportunities, receive-clock start/end and edges) and ``anomalies`` (which
row, which reason the cleaner must give), so tests can assert recall and precision exactly. The same seed gives the
same rows, byte for byte. All of it is vectorized NumPy: 10M quotes take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from arbflow.settings import SimulatorConfig
from connectors.schema import POLARS_QUOTE_SCHEMA

DEFAULT_START = datetime(2024, 8, 9, tzinfo=UTC)
START_PRICES = {"BTC": 60_000.0, "ETH": 2_600.0, "SOL": 150.0, "BNB": 520.0, "XRP": 0.55}
VOL_PER_SQRT_S = 1e-4  # ~1 bps per sqrt(second), close to BTC's realized volatility
GRID_US = 10_000  # reference path resolution
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


@dataclass(frozen=True)
class SimResult:
    """Quotes in receive order, plus the ground truth of what was injected."""

    quotes: pl.DataFrame
    truth: pl.DataFrame
    anomalies: pl.DataFrame

    def write(self, directory: str | Path) -> Path:
        """Write quotes.parquet, truth.parquet and anomalies.parquet; return the quotes file."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.quotes.write_parquet(out / "quotes.parquet", compression="zstd", statistics=True)
        self.truth.write_parquet(out / "truth.parquet")
        self.anomalies.write_parquet(out / "anomalies.parquet")
        return out / "quotes.parquet"


@dataclass(frozen=True)
class _Venue:
    lag_us: int
    bias_bps: float
    half_spread_bps: float
    latency_us: int
    clock_offset_us: int
    has_exchange_ts: bool


def _venue_params(rng: np.random.Generator, venue: str, index: int) -> _Venue:
    return _Venue(
        lag_us=int(20_000 + 30_000 * index),
        bias_bps=float(rng.uniform(-1.0, 1.0)),
        half_spread_bps=float(rng.uniform(0.3, 1.0)),
        latency_us=int(rng.uniform(5_000, 30_000)),
        clock_offset_us=int(rng.uniform(-20_000, 20_000)),
        has_exchange_ts=venue != "binance",  # Binance spot bookTicker carries no exchange time
    )


def _tick(ref: _Reference, symbol: str) -> float:
    """Price tick as venues set it: about 1e-4 to 1e-5 of the price (a power of ten), at most 0.01.

    BTC, ETH, SOL get 0.01; a 0.55 XRP gets 1e-5 and a 0.04 ETH/BTC 1e-6. A flat 0.01 would give cheap coins
    tick-bound spreads of tens of bps that no real book shows.
    """
    return min(0.01, 10.0 ** (np.floor(np.log10(ref.start(symbol))) - 4))


class _Reference:
    """Reference mid of each symbol as a step function on a 10 ms grid (µs offsets from start)."""

    def __init__(self, grid_us: np.ndarray, mids: dict[str, np.ndarray]) -> None:
        self.grid_us, self.mids = grid_us, mids

    def at(self, symbol: str, t_us: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(self.grid_us, t_us, side="right") - 1, 0, len(self.grid_us) - 1)
        return self.mids[symbol][idx]

    def start(self, symbol: str) -> float:
        """The reference mid at the start."""
        return float(self.mids[symbol][0])


def _reference(
    rng: np.random.Generator, symbols: list[str], duration_us: int, base: pl.DataFrame | None, t0_us: int
) -> _Reference:
    grid = np.arange(0, duration_us + GRID_US, GRID_US, dtype=np.int64)
    mids: dict[str, np.ndarray] = {}
    for symbol in symbols:
        if base is not None and symbol in set(base["symbol"].unique()):
            rows = base.filter(pl.col("symbol") == symbol).sort("ts_recv")
            t = rows["ts_recv"].dt.epoch("us").to_numpy() - t0_us
            mid = ((rows["bid_px"] + rows["ask_px"]) / 2).to_numpy()
            idx = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(t) - 1)
            mids[symbol] = mid[idx]
        else:
            steps = rng.normal(0.0, VOL_PER_SQRT_S * np.sqrt(GRID_US / 1e6), size=len(grid))
            start = START_PRICES.get(symbol.split("/")[0], 10.0)
            mids[symbol] = start * np.exp(np.cumsum(steps))
    for symbol in symbols:  # cross rates follow their USDT legs, so triangles close without injected edges
        base_ccy, quote_ccy = symbol.split("/")
        legs = (f"{base_ccy}/USDT", f"{quote_ccy}/USDT")
        derivable = quote_ccy != "USDT" and all(leg in mids and leg != symbol for leg in legs)
        if derivable and (base is None or symbol not in set(base["symbol"].unique())):
            mids[symbol] = mids[legs[0]] / mids[legs[1]]
    return _Reference(grid, mids)


def _stream(
    rng: np.random.Generator,
    ref: _Reference,
    venue: str,
    v: _Venue,
    symbol: str,
    rate_hz: float,
    duration_us: int,
    extra_t_us: np.ndarray,
) -> dict[str, np.ndarray]:
    """One venue's quotes for one symbol, as column arrays (times in µs from start, exchange clock)."""
    n = rng.poisson(rate_hz * duration_us / 1e6)
    t = np.sort(np.concatenate([rng.uniform(0, duration_us, size=n).astype(np.int64), extra_t_us]))
    mid = ref.at(symbol, t - v.lag_us) * (1 + (v.bias_bps + rng.normal(0, 0.3, size=len(t))) / 1e4)
    half = v.half_spread_bps * (1 + rng.uniform(0, 1, size=len(t))) / 1e4
    tick = _tick(ref, symbol)
    bid = np.floor(mid * (1 - half) / tick) * tick
    ask = np.maximum(np.ceil(mid * (1 + half) / tick) * tick, bid + tick)
    median_qty = 20_000.0 / ref.start(symbol) if symbol.endswith("/USDT") else 5.0
    qty = lambda: np.maximum(np.round(median_qty * rng.lognormal(0, 1.0, size=len(t)), 4), 1e-4)
    recv = np.maximum.accumulate(t + v.latency_us + rng.integers(0, 5_000, size=len(t)))  # one TCP stream: no reorder
    recv = recv + np.arange(len(t))  # strictly increasing within the stream
    return {
        "t": t,
        "bid_px": bid,
        "bid_qty": qty(),
        "ask_px": ask,
        "ask_qty": qty(),
        "ts_exchange": t + v.clock_offset_us,
        "ts_recv": recv,
        "seq": np.arange(len(t), dtype=np.int64) + int(rng.integers(1_000, 1_000_000)),
        "_forced": np.zeros(len(t), dtype=bool),
    }


def _net_from_gross(gross_bps: float, fee_buy_bps: float, fee_sell_bps: float) -> float:
    return ((1 + gross_bps / 1e4) * (1 - fee_sell_bps / 1e4) / (1 + fee_buy_bps / 1e4) - 1) * 1e4


def _gross_from_net(net_bps: float, fee_buy_bps: float, fee_sell_bps: float) -> float:
    return ((1 + net_bps / 1e4) * (1 + fee_buy_bps / 1e4) / (1 - fee_sell_bps / 1e4) - 1) * 1e4


def simulate(
    cfg: SimulatorConfig,
    fee_bps: dict[str, float],
    min_net_edge_bps: float,
    *,
    start: datetime = DEFAULT_START,
    base: pl.DataFrame | None = None,
    cross_symbols: list[str] | None = None,
) -> SimResult:
    """Generate the market. With ``base`` (real quotes of one venue), that venue's rows stay untouched and the other
    venues and cross rates are derived from its mids (``source = "sim-derived"``)."""
    rng = np.random.default_rng(cfg.seed)
    t0_us = int(start.timestamp() * 1e6)
    base_venue = None
    duration_us = int(cfg.duration_s * 1e6)
    if base is not None:
        base_venue = base["exchange"][0]
        first = int(base["ts_recv"].dt.epoch("us").min())
        duration_us = int(base["ts_recv"].dt.epoch("us").max()) - first
        t0_us = first
    ref = _reference(rng, cfg.symbols, duration_us, base, t0_us)
    venues = {v: _venue_params(rng, v, i) for i, v in enumerate(cfg.venues)}
    real = set(base["symbol"].unique()) if base is not None else set()
    cross_symbols = [s for s in (cross_symbols or cfg.symbols) if s.endswith("/USDT")]

    # Opportunity plan: evenly spaced, non-overlapping slots; the selling venue's book is lifted.
    n_opps = cfg.cross_opportunities + cfg.fee_eaten_opportunities
    triangles = [s for s in cfg.symbols if not s.endswith("/USDT") and s in ref.mids]
    n_tri = len(triangles) and max(1, cfg.cross_opportunities // 2)
    slots = np.linspace(0.1, 0.9, n_opps + n_tri + 1)[:-1] * duration_us
    opp_len_us = int(cfg.opportunity_duration_s * 1e6)
    plan = []
    derived = [v for v in cfg.venues if v != base_venue]
    for i in range(n_opps):
        symbol = cross_symbols[i % len(cross_symbols)]
        sell = derived[i % len(derived)]
        buy = [v for v in cfg.venues if v != sell][(i // len(derived)) % (len(cfg.venues) - 1)]
        above = i < cfg.cross_opportunities
        if above:
            net = min_net_edge_bps + rng.uniform(15, 40)
            gross = _gross_from_net(net, fee_bps[buy], fee_bps[sell])
        else:  # fee-eaten: below the threshold even for the cheapest venue buying into the lifted book
            cheapest = min(fee_bps[v] for v in cfg.venues if v != sell)
            gross = max(_gross_from_net(min_net_edge_bps - rng.uniform(15, 25), cheapest, fee_bps[sell]), 2.0)
            net = _net_from_gross(gross, fee_bps[buy], fee_bps[sell])
        plan.append(("cross", symbol, buy, sell, int(slots[i]), gross, net, above))
    for j in range(n_tri):
        symbol, venue = triangles[j % len(triangles)], derived[j % len(derived)]
        gross = 3 * fee_bps[venue] + 20 + rng.uniform(20, 40)
        net = ((1 + gross / 1e4) * (1 - fee_bps[venue] / 1e4) ** 3 - 1) * 1e4
        plan.append(("triangular", symbol, venue, venue, int(slots[n_opps + j]), gross, net, True))

    streams: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for venue, params in venues.items():
        for symbol in cfg.symbols:
            if venue == base_venue and symbol in real:
                rows = base.filter(pl.col("symbol") == symbol)  # type: ignore[union-attr]
                recv = rows["ts_recv"].dt.epoch("us").to_numpy() - t0_us
                streams[(venue, symbol)] = {"ts_recv": recv, "t": recv, "ask_px": rows["ask_px"].to_numpy()}
                continue
            forced = [np.array([p[4], p[4] + opp_len_us]) for p in plan if p[3] == venue and p[1] == symbol]
            extra = np.concatenate(forced) if forced else np.empty(0, dtype=np.int64)
            rate = cfg.rate_hz * (1.0 if venue != base_venue else 2.0)
            streams[(venue, symbol)] = _stream(
                rng, ref, venue, params, symbol, rate, duration_us, extra.astype(np.int64)
            )
    truth = _inject_opportunities(streams, ref, plan, opp_len_us, t0_us)
    marks = [
        _corrupt(rng, venue, symbol, st, cfg.anomaly_rate, venues[venue].has_exchange_ts, t0_us)
        for (venue, symbol), st in streams.items()
        if "seq" in st
    ]
    synthetic = [
        pl.DataFrame(st).with_columns(pl.lit(venue).alias("venue"), pl.lit(symbol).alias("symbol"))
        for (venue, symbol), st in streams.items()
        if "seq" in st  # generated streams; real ones stay in `base`
    ]
    quotes = _finish(pl.concat(synthetic) if synthetic else None, t0_us, "sim-derived" if base is not None else "sim")
    if base is not None:
        real_rows = base.with_columns(pl.lit(None, dtype=pl.Int64).alias("t"), pl.lit(False).alias("_forced"))
        quotes = pl.concat([real_rows, quotes], how="diagonal_relaxed")
    quotes = quotes.sort("ts_recv", "exchange", "symbol", maintain_order=True)
    anomalies = pl.concat(marks) if marks else pl.DataFrame(schema=ANOMALY_SCHEMA)
    return SimResult(quotes.select(list(POLARS_QUOTE_SCHEMA)), truth, anomalies.sort("ts_recv", "exchange", "symbol"))


def _finish(frame: pl.DataFrame | None, t0_us: int, source: str) -> pl.DataFrame:
    if frame is None:
        return pl.DataFrame(schema={**POLARS_QUOTE_SCHEMA, "t": pl.Int64, "_forced": pl.Boolean})
    ts = POLARS_QUOTE_SCHEMA["ts_recv"]
    return frame.select(
        pl.col("venue").alias("exchange"),
        "symbol",
        "bid_px",
        "bid_qty",
        "ask_px",
        "ask_qty",
        pl.when(pl.col("venue") != "binance").then(pl.col("ts_exchange") + t0_us).cast(ts).alias("ts_exchange"),
        (pl.col("ts_recv") + t0_us).cast(ts).alias("ts_recv"),
        "seq",
        pl.lit(source).alias("source"),
        "t",
        "_forced",
    )


def _asof(stream: dict[str, np.ndarray], column: str, recv: np.ndarray) -> np.ndarray:
    """``column`` of the stream's latest row received at or before each ``recv`` (NaN before its first row)."""
    idx = np.searchsorted(stream["ts_recv"], recv, side="right") - 1
    return np.where(idx >= 0, stream[column][np.maximum(idx, 0)], np.nan)


def _inject_opportunities(
    streams: dict[tuple[str, str], dict[str, np.ndarray]],
    reference: _Reference,
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
            ref = _asof(streams[(buy, symbol)], "ask_px", recv)
        else:
            base_ccy, quote_ccy = symbol.split("/")
            ref = _asof(streams[(sell, f"{base_ccy}/USDT")], "ask_px", recv) / _asof(
                streams[(sell, f"{quote_ccy}/USDT")], "bid_px", recv
            )
        bid, ask = lifted["bid_px"][inside], lifted["ask_px"][inside]
        target = np.where(np.isnan(ref), bid, ref * (1 + gross / 1e4))
        tick = _tick(reference, symbol)
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


def _corrupt(
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


def sample_market(
    sample_dir: str | Path,
    cfg: SimulatorConfig,
    fee_bps: dict[str, float],
    min_net_edge_bps: float,
    cross_symbols: list[str],
) -> SimResult:
    """The bundled default: real Binance quotes plus OKX/HTX and the ETH/BTC markets derived from them."""
    base = pl.read_parquet(Path(sample_dir) / "binance_quotes.parquet")
    symbols = sorted(set(base["symbol"].unique()) | {"ETH/BTC"})
    derived_cfg = cfg.model_copy(update={"symbols": symbols})
    return simulate(derived_cfg, fee_bps, min_net_edge_bps, base=base, cross_symbols=cross_symbols)
