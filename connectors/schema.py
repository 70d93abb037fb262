"""Normalized record schemas shared by every source and sink.

A *quote* is one top-of-book update. Every source (replay, live, simulator, importers) produces frames with exactly
these columns, so nothing downstream knows a venue's quirks.

Clocks: ``ts_exchange`` is the venue's own timestamp (null when the venue sends none, e.g. Binance spot bookTicker);
``ts_recv`` is our local receive clock. Both are UTC, microsecond precision. Never assume ``ts_recv >= ts_exchange``:
clocks drift (the bundled Binance recording's clock runs ~1.27 s behind the venue).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
PL_TS = pl.Datetime("us", "UTC")

QUOTE_SCHEMA = pa.schema(
    [
        pa.field("exchange", pa.string(), nullable=False),  # ccxt id: binance, okx, htx
        pa.field("symbol", pa.string(), nullable=False),  # ccxt unified: BTC/USDT
        pa.field("bid_px", pa.float64()),
        pa.field("bid_qty", pa.float64()),  # base-currency units
        pa.field("ask_px", pa.float64()),
        pa.field("ask_qty", pa.float64()),
        pa.field("ts_exchange", TS),  # venue clock, nullable
        pa.field("ts_recv", TS, nullable=False),  # local receive clock
        pa.field("seq", pa.int64()),  # venue update id, nullable
        pa.field("source", pa.string(), nullable=False),  # e.g. "binance-ws", "sim", "tardis"
    ]
)

QUOTE_COLUMNS: tuple[str, ...] = tuple(QUOTE_SCHEMA.names)
PRICE_COLUMNS: tuple[str, ...] = ("bid_px", "bid_qty", "ask_px", "ask_qty")

POLARS_QUOTE_SCHEMA: dict[str, pl.DataType] = {
    "exchange": pl.String(),
    "symbol": pl.String(),
    "bid_px": pl.Float64(),
    "bid_qty": pl.Float64(),
    "ask_px": pl.Float64(),
    "ask_qty": pl.Float64(),
    "ts_exchange": PL_TS,
    "ts_recv": PL_TS,
    "seq": pl.Int64(),
    "source": pl.String(),
}


def empty_quotes() -> pl.DataFrame:
    """A zero-row frame with the quote schema (for sources with nothing to say yet)."""
    return pl.DataFrame(schema=POLARS_QUOTE_SCHEMA)


def event_time() -> pl.Expr:
    """Event time: the venue clock when the venue gives one, else the receive clock."""
    return pl.coalesce(pl.col("ts_exchange"), pl.col("ts_recv")).alias("ts_event")
