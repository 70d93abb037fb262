"""The synthetic market's raw material: a reference mid path per symbol, each venue's traits, its quote streams.

Venues differ in lag, bias, spread, latency and clock offset (drawn from the seed) and in whether their quotes carry
an exchange time: that fact comes from the venue's module (connectors/exchanges), so a simulated Binance has no
``ts_exchange`` like the real bookTicker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from connectors.exchanges import sends_exchange_time

START_PRICES = {"BTC": 60_000.0, "ETH": 2_600.0, "SOL": 150.0, "BNB": 520.0, "XRP": 0.55}
VOL_PER_SQRT_S = 1e-4  # ~1 bps per sqrt(second), close to BTC's realized volatility
GRID_US = 10_000  # reference path resolution


@dataclass(frozen=True)
class SimVenue:
    lag_us: int
    bias_bps: float
    half_spread_bps: float
    latency_us: int
    clock_offset_us: int
    has_exchange_ts: bool


def venue_params(rng: np.random.Generator, venue: str, index: int) -> SimVenue:
    return SimVenue(
        lag_us=int(20_000 + 30_000 * index),
        bias_bps=float(rng.uniform(-1.0, 1.0)),
        half_spread_bps=float(rng.uniform(0.3, 1.0)),
        latency_us=int(rng.uniform(5_000, 30_000)),
        clock_offset_us=int(rng.uniform(-20_000, 20_000)),
        has_exchange_ts=sends_exchange_time(venue),
    )


def price_tick(ref: Reference, symbol: str) -> float:
    """Price tick as venues set it: about 1e-4 to 1e-5 of the price (a power of ten), at most 0.01.

    BTC, ETH, SOL get 0.01; a 0.55 XRP gets 1e-5 and a 0.04 ETH/BTC 1e-6. A flat 0.01 would give cheap coins
    tick-bound spreads of tens of bps that no real book shows.
    """
    return min(0.01, 10.0 ** (np.floor(np.log10(ref.start(symbol))) - 4))


class Reference:
    """Reference mid of each symbol as a step function on a 10 ms grid (µs offsets from start)."""

    def __init__(self, grid_us: np.ndarray, mids: dict[str, np.ndarray]) -> None:
        self.grid_us, self.mids = grid_us, mids

    def at(self, symbol: str, t_us: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(self.grid_us, t_us, side="right") - 1, 0, len(self.grid_us) - 1)
        return self.mids[symbol][idx]

    def start(self, symbol: str) -> float:
        """The reference mid at the start."""
        return float(self.mids[symbol][0])


def reference_path(
    rng: np.random.Generator, symbols: list[str], duration_us: int, base: pl.DataFrame | None, t0_us: int
) -> Reference:
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
    return Reference(grid, mids)


def quote_stream(
    rng: np.random.Generator,
    ref: Reference,
    venue: str,
    v: SimVenue,
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
    tick = price_tick(ref, symbol)
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
