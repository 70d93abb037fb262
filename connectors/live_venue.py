"""What the live source hands out besides quote batches, and how one venue connection is described.

``TableBatch`` carries ``feed_events`` and ``books`` rows (schemas from sql/schema/feeds.sql); ``LiveVenue``
is one venue connection of connectors/live.py's ``LiveSource`` (its transport, URLs and venue-module options).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from connectors.exchanges import venue_class
from connectors.exchanges.ccxtpro import CcxtProSession, supports_bids_asks
from connectors.exchanges.session import Emit, FeedSession, FeedSettings
from connectors.markets import market
from connectors.schema import PL_TS, polars_schema

FEED_EVENT_SCHEMA = polars_schema("feed_events")
BOOK_SCHEMA = polars_schema("books")


@dataclass(frozen=True)
class TableBatch:
    """Rows for an output table other than quotes, from one source partition.

    Attributes:
        table: ``feed_events`` or ``books``.
        batch_seq: consecutive per partition and table, from 0.
        partition: the source partition.
        frame: rows in the table's schema (FEED_EVENT_SCHEMA, BOOK_SCHEMA).
    """

    table: str
    batch_seq: int
    partition: str
    frame: pl.DataFrame


@dataclass(frozen=True)
class LiveVenue:
    """One venue connection (one partition).

    Attributes:
        exchange: ccxt id (binance, okx, htx).
        symbols: ccxt unified symbols.
        depth: also subscribe the venue's depth channel and emit ``books``.
        ws_url: override of the venue's WebSocket base URL (tests point it at 127.0.0.1).
        rest_url: override of the REST base URL (Binance depth snapshots).
        options: venue-module keyword arguments (e.g. OKX ``quote_channel``).
    """

    exchange: str
    symbols: list[str]
    depth: bool = False
    ws_url: str | None = None
    rest_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    transport: Literal["native", "ccxtpro"] = "native"

    @property
    def partition(self) -> str:
        """Partition name, also the prefix of every row id from this venue."""
        return f"live-{self.exchange}"

    def validate(self) -> None:
        """Fail at build time, naming the venue, on an unknown symbol, option or transport choice."""
        if self.transport == "ccxtpro":
            if self.depth or self.options:
                msg = f"{self.exchange}: transport 'ccxtpro' gives top of book only (no depth, no options)"
                raise ValueError(msg)
            for symbol in self.symbols:
                market(self.exchange, symbol)
            if not supports_bids_asks(self.exchange):
                msg = f"ccxt.pro has no watchBidsAsks for {self.exchange}: use transport='native' for it"
                raise ValueError(msg)
        else:
            venue_class(self.exchange)(self.symbols, depth=self.depth, **self.options)

    def session(self, settings: FeedSettings, emit: Emit) -> FeedSession | CcxtProSession:
        """The session that feeds this partition."""
        if self.transport == "ccxtpro":
            return CcxtProSession(self.exchange, self.symbols, settings, emit)
        cls = venue_class(self.exchange)
        return FeedSession(lambda: cls(self.symbols, depth=self.depth, **self.options), settings, emit)

    def endpoints(self, defaults: FeedSettings) -> FeedSettings:
        """Settings with this venue's URLs: its overrides, else the shared ones, else production (ccxt's own URLs
        for the ccxtpro transport)."""
        cls = venue_class(self.exchange) if self.transport == "native" else None
        ws = self.ws_url or defaults.ws_url or (cls.ws_url if cls else "")
        rest = self.rest_url or defaults.rest_url or (cls.rest_url if cls else None)
        return dataclasses.replace(defaults, ws_url=ws, rest_url=rest)


def table_frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType], id_col: str, prefix: str,
                 first_offset: int) -> pl.DataFrame:  # fmt: skip
    with_ids = [{id_col: f"{prefix}/{first_offset + i}", **r} for i, r in enumerate(rows)]
    raw_schema = {k: (pl.Int64() if v == PL_TS else v) for k, v in schema.items()}
    frame = pl.DataFrame(with_ids, schema=raw_schema, strict=False)
    return frame.with_columns([pl.col(k).cast(PL_TS) for k, v in schema.items() if v == PL_TS])
