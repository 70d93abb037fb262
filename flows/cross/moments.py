"""The sliding z-score of a cross-exchange spread: mergeable moments per (route, slide slot) for Bytewax's
``SlidingWindower`` (flows/cross/zscores.py), their ``spread_zscores`` rows, and a vectorized rolling z-score.
Times are the receive clock of the evaluation."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from flows.common.episodes import as_utc


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class Moments:
    """Count, sum and sum of squares of a spread's net edge, and its latest value (mergeable, for ``fold_window``
    with a ``SlidingWindower``: the z-score of the window's last value against the whole window).

    Attributes:
        ts_first: receive clock of the first value folded in (the EventClock timestamp of a partial).
        ts_last, last: the latest value and its time.
    """

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    ts_first: datetime | None = None
    ts_last: datetime | None = None
    last: float = math.nan

    @staticmethod
    def of(values: Iterable[float]) -> Moments:
        vals = list(values)
        return Moments(len(vals), math.fsum(vals), math.fsum(v * v for v in vals), last=vals[-1] if vals else math.nan)

    def merge(self, other: Moments) -> Moments:
        later = other if self.ts_last is None or (other.ts_last is not None and other.ts_last >= self.ts_last) else self
        firsts = [t for t in (self.ts_first, other.ts_first) if t is not None]
        return Moments(
            self.n + other.n,
            self.total + other.total,
            self.total_sq + other.total_sq,
            min(firsts) if firsts else None,
            later.ts_last,
            later.last,
        )

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1); NaN below two values."""
        if self.n < 2:
            return math.nan
        return math.sqrt(max(self.total_sq - self.total * self.total / self.n, 0.0) / (self.n - 1))

    def zscore(self, value: float) -> float:
        """How many standard deviations ``value`` lies from the window's mean (NaN when the window is flat)."""
        std = self.std
        return (value - self.mean) / std if std > 0 else math.nan


def moment_partials(spreads: pl.DataFrame, slide: timedelta) -> list[tuple[str, Moments]]:
    """Reduce a batch of fresh cross-exchange spread rows to one :class:`Moments` per (route, ``slide`` slot), keyed
    ``<symbol>/<buy>/<sell>``: each partial then falls into exactly the sliding windows its slot belongs to."""
    every = f"{int(slide / timedelta(microseconds=1))}us"
    agg = (
        spreads.filter(pl.col("fresh"))
        .with_columns(pl.col("ts_eval").dt.truncate(every).alias("_slot"))
        .group_by("symbol", "buy_exchange", "sell_exchange", "_slot", maintain_order=True)
        .agg(
            pl.len().alias("n"),
            pl.col("net_edge_bps").sum().alias("total"),
            (pl.col("net_edge_bps") ** 2).sum().alias("total_sq"),
            pl.col("ts_eval").first().alias("ts_first"),
            pl.col("ts_eval").last().alias("ts_last"),
            pl.col("net_edge_bps").last().alias("last"),
        )
    )
    return [
        (f"{sym}/{buy}/{sell}", Moments(n, total, sq, as_utc(first), as_utc(last_ts), last))
        for sym, buy, sell, _slot, n, total, sq, first, last_ts, last in agg.iter_rows()
    ]


def zscore_row(key: str, window_start: datetime, window: timedelta, m: Moments, late: bool) -> dict[str, object]:
    """One ``spread_zscores`` row (strategy.sql) for a route's sliding window."""
    symbol, buy, sell = key.rsplit("/", 2)
    return {
        "zscore_id": f"{key}/{window_start.isoformat()}"
        + (f"/late/{m.ts_first.isoformat()}" if late and m.ts_first else ""),
        "symbol": symbol,
        "buy_exchange": buy,
        "sell_exchange": sell,
        "window_start": window_start,
        "window_end": window_start + window,
        "evaluations": m.n,
        "net_edge_bps_mean": m.mean,
        "net_edge_bps_std": _none_if_nan(m.std),
        "net_edge_bps_last": m.last,
        "zscore_last": _none_if_nan(m.zscore(m.last)),
        "is_late": late,
    }


def rolling_zscore(frame: pl.DataFrame, value: str, by: Iterable[str], ts: str, window: timedelta) -> pl.Series:
    """Vectorized z-score of each row against its group's values in the trailing ``window`` (itself included).

    Rows must be sorted by ``ts`` within each group. NaN where fewer than two values or a flat window.
    """
    size = f"{int(window / timedelta(microseconds=1))}us"
    keys = list(by)
    mean = pl.col(value).rolling_mean_by(ts, size, closed="both").over(keys)
    std = pl.col(value).rolling_std_by(ts, size, closed="both").over(keys)
    z = pl.when(std > 0).then((pl.col(value) - mean) / std).otherwise(float("nan"))
    return frame.select(z.alias("zscore"))["zscore"]
