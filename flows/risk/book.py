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


def books_to_quotes(books: pl.DataFrame) -> pl.DataFrame:
    """Depth snapshots (the ``books`` table: level lists, best first) as quotes whose depth lists the fills walk."""
    levels = {f"{side}_levels_{k}": pl.col(f"{side}_{k}") for side in ("bid", "ask") for k in ("px", "qty")}
    top = {f"{side}_{k}": pl.col(f"{side}_{k}").list.first() for side in ("bid", "ask") for k in ("px", "qty")}
    return books.filter(pl.col("symbol").is_not_null()).select("exchange", "symbol", "ts_recv", **levels, **top)


def prune(history: pl.DataFrame, cutoff_us: int) -> pl.DataFrame:
    """Drop quotes older than ``cutoff_us`` except the latest one of each (exchange, symbol)."""
    old = history.filter(pl.col("ts_us") < cutoff_us)
    if old.height == 0:
        return history
    latest_old = old.group_by(KEYS, maintain_order=True).last()
    return pl.concat([latest_old, history.filter(pl.col("ts_us") >= cutoff_us)]).sort("ts_us", maintain_order=True)


def _depth_last(history: pl.DataFrame) -> pl.DataFrame:
    """Time order where, at one receive time, a depth snapshot comes after the top-of-book quote of the same update
    (replay of a book format delivers both): the latest quote is then the one whose levels fills can walk."""
    has_depth = pl.col("bid_levels_px").is_not_null() | pl.col("ask_levels_px").is_not_null()
    return history.sort(pl.col("ts_us"), has_depth, maintain_order=True)


def latest(history: pl.DataFrame, t_us: int) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest quote of every (exchange, symbol) received at or before ``t_us`` (one query per decision time)."""
    rows = _depth_last(history.filter(pl.col("ts_us") <= t_us)).group_by(KEYS).last()
    return {(r["exchange"], r["symbol"]): r for r in rows.iter_rows(named=True)}


def latest_many(history: pl.DataFrame, times_us: list[int]) -> dict[int, dict[tuple[str, str], dict[str, Any]]]:
    """:func:`latest` at many instants with one as-of join (the metrics ticks of a step)."""
    if not times_us or history.height == 0:
        return {t: {} for t in times_us}
    grid = history.select(KEYS).unique().join(pl.DataFrame({"t_us": times_us}, schema={"t_us": pl.Int64}), how="cross")
    # one row per (key, receive time), the last to arrive, as group_by().last() in latest() would pick
    right = _depth_last(history).unique([*KEYS, "ts_us"], keep="last", maintain_order=True)
    right = right.with_columns(t_us=pl.col("ts_us"))
    joined = grid.sort("t_us").join_asof(
        right,
        on="t_us",
        by=list(KEYS),
        strategy="backward",
        check_sortedness=False,  # both sorted by time above
    )
    out: dict[int, dict[tuple[str, str], dict[str, Any]]] = {t: {} for t in times_us}
    for row in joined.filter(pl.col("ts_us").is_not_null()).iter_rows(named=True):
        t = row.pop("t_us")
        out[t][(row["exchange"], row["symbol"])] = row
    return out


def last_recv_by_venue(book: dict[tuple[str, str], dict[str, Any]]) -> dict[str, int]:
    """Receive time of each venue's latest quote (for feed staleness), from :func:`latest`."""
    out: dict[str, int] = {}
    for (venue, _symbol), row in book.items():
        out[venue] = max(out.get(venue, row["ts_us"]), row["ts_us"])
    return out


def mids(book: dict[tuple[str, str], dict[str, Any]], t_us: int, max_age_us: int) -> dict[str, float]:
    """Mark price per symbol at ``t_us``: mean mid of the venues whose latest quote is at most ``max_age_us`` old.

    A symbol whose every venue is older than that falls back to the mean of its venues' latest mids (a stale mark
    beats no mark; the kill switch reports the stale venue separately).
    """
    fresh: dict[str, list[float]] = {}
    stale: dict[str, list[float]] = {}
    for (_venue, symbol), row in sorted(book.items()):
        mid = (row["bid_px"] + row["ask_px"]) / 2.0
        (fresh if t_us - row["ts_us"] <= max_age_us else stale).setdefault(symbol, []).append(mid)
    symbols = set(fresh) | set(stale)
    return {s: sum(v) / len(v) for s in symbols for v in [fresh.get(s) or stale[s]]}
