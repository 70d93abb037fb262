"""Recent quotes per (exchange, symbol), queried as of a receive-clock instant.

Paper execution needs the market as it was ``latency_ms`` after a signal, which the engine decides only once the
receive clock is ``reorder_grace_ms`` past that instant (so late-arriving quotes from other partitions are in). The
history therefore keeps a short tail of every quote, plus the latest quote of each (exchange, symbol) from before the
tail so "as of" lookups and feed staleness still work for a venue that went silent. Plain polars frame: picklable
for bytewax snapshots.

Times are integers, microseconds since the epoch, receive clock (``ts_recv``).
"""

from __future__ import annotations

from typing import Any

import polars as pl

KEYS = ("exchange", "symbol")
TOP_COLUMNS = ("bid_px", "bid_qty", "ask_px", "ask_qty")
LEVEL_COLUMNS = ("bid_levels_px", "bid_levels_qty", "ask_levels_px", "ask_levels_qty")


def to_us(col: str) -> pl.Expr:
    """A timestamp column as integer microseconds since the epoch (the engine's internal time unit)."""
    return pl.col(col).dt.cast_time_unit("us").dt.replace_time_zone(None).cast(pl.Int64)


def empty_history() -> pl.DataFrame:
    """A zero-row history frame (depth lists are null for top-of-book quotes)."""
    schema: dict[str, pl.DataType] = {"exchange": pl.String(), "symbol": pl.String()}
    schema.update({c: pl.Float64() for c in TOP_COLUMNS})
    schema["ts_us"] = pl.Int64()
    schema.update({c: pl.List(pl.Float64()) for c in LEVEL_COLUMNS})
    return pl.DataFrame(schema=schema)


def quotes_to_history(quotes: pl.DataFrame) -> pl.DataFrame:
    """Project clean quotes onto the history columns (depth lists kept when present)."""
    missing = [c for c in (*KEYS, *TOP_COLUMNS, "ts_recv") if c not in quotes.columns]
    if missing:
        msg = f"risk: quote frame lacks columns {missing}; expected connectors.schema quote columns"
        raise ValueError(msg)
    cols: list[pl.Expr] = [pl.col(c).cast(pl.String) for c in KEYS]
    cols += [pl.col(c).cast(pl.Float64) for c in TOP_COLUMNS]
    cols.append(to_us("ts_recv").alias("ts_us"))
    depth = all(c in quotes.columns for c in LEVEL_COLUMNS)
    cols += [(pl.col(c) if depth else pl.lit(None)).cast(pl.List(pl.Float64)).alias(c) for c in LEVEL_COLUMNS]
    return quotes.select(cols)


def append(history: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
    """History plus new quotes, ordered by receive time (ties keep arrival order)."""
    return pl.concat([history, quotes_to_history(quotes)], how="vertical").sort("ts_us", maintain_order=True)


def prune(history: pl.DataFrame, cutoff_us: int) -> pl.DataFrame:
    """Drop quotes older than ``cutoff_us`` except the latest one of each (exchange, symbol)."""
    old = history.filter(pl.col("ts_us") < cutoff_us)
    if old.height == 0:
        return history
    latest_old = old.group_by(KEYS, maintain_order=True).last()
    return pl.concat([latest_old, history.filter(pl.col("ts_us") >= cutoff_us)]).sort("ts_us", maintain_order=True)


def asof(history: pl.DataFrame, exchange: str, symbol: str, t_us: int) -> dict[str, Any] | None:
    """The latest quote of (exchange, symbol) received at or before ``t_us``, as a dict; None if there is none."""
    rows = history.filter(
        (pl.col("exchange") == exchange) & (pl.col("symbol") == symbol) & (pl.col("ts_us") <= t_us)
    ).tail(1)
    return rows.row(0, named=True) if rows.height else None


def last_recv_by_venue(history: pl.DataFrame, t_us: int) -> dict[str, int]:
    """Receive time of each venue's latest quote at or before ``t_us`` (for feed staleness)."""
    agg = history.filter(pl.col("ts_us") <= t_us).group_by("exchange").agg(pl.col("ts_us").max())
    return dict(zip(agg["exchange"].to_list(), agg["ts_us"].to_list(), strict=True))


def mids(history: pl.DataFrame, t_us: int, max_age_us: int) -> dict[str, float]:
    """Mark price per symbol at ``t_us``: mean mid of the venues whose latest quote is at most ``max_age_us`` old.

    A symbol whose every venue is older than that falls back to the mean of its venues' latest mids (a stale mark
    beats no mark; the kill switch reports the stale venue separately).
    """
    latest = history.filter(pl.col("ts_us") <= t_us).group_by(KEYS).last()
    if latest.height == 0:
        return {}
    latest = latest.with_columns(
        mid=(pl.col("bid_px") + pl.col("ask_px")) / 2.0, fresh=(t_us - pl.col("ts_us")) <= max_age_us
    )
    marks = latest.group_by("symbol").agg(
        pl.when(pl.col("fresh").any())
        .then(pl.col("mid").filter(pl.col("fresh")).mean())
        .otherwise(pl.col("mid").mean())
    )
    return dict(zip(marks["symbol"].to_list(), marks["mid"].to_list(), strict=True))
