"""What every venue module declares, and the small records venue code hands to the live session.

A venue module turns native frames into rows and says how to talk to the venue (URL, subscribe messages, who pings
whom); the session in ``connectors/exchanges/session.py`` does the I/O and never knows a venue's quirks.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from arbflow.errors import BadFrame
from connectors.markets import id_to_symbol, market
from connectors.schema import PL_TS, POLARS_QUOTE_SCHEMA


@dataclass
class Decoded:
    """What one frame meant.

    Attributes:
        quotes: raw quote rows (values as the venue sent them; normalization casts).
        books: book rows (``bid_px``/``bid_qty``/``ask_px``/``ask_qty`` as float lists, best level first).
        replies: protocol messages to send at once (HTX ``{"pong": ..}``; OKX resubscribe after a broken book).
        gaps: ``{"symbol", "seq_expected", "seq_received"[, "why"]}`` for each break the venue's ids or checksums
            reveal.
        resynced: symbols whose book is consistent again after a gap (a ``resync`` event each).
        snapshots: symbols that need a REST depth snapshot before their book can be built.
        data: the frame carried market data (feeds the no-message watchdog; acks and pongs do not).
    """

    quotes: list[dict[str, Any]] = field(default_factory=list)
    books: list[dict[str, Any]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    resynced: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    data: bool = False


class Venue:
    """One venue's wire contract; one instance per connection (sequence state resets on reconnect).

    Subclasses set the class attributes and implement ``subscribe_messages`` and ``decode``.
    """

    exchange: ClassVar[str]
    ws_url: ClassVar[str]  # production endpoint; tests pass a 127.0.0.1 URL instead
    rest_url: ClassVar[str | None] = None  # for REST depth snapshots, where the protocol needs one
    client_ping: ClassVar[str | None] = None  # text the client must send when idle (OKX "ping")
    client_ping_interval_s: ClassVar[float] = 20.0
    book_levels: ClassVar[int] = 5
    sends_exchange_time: ClassVar[bool] = True  # its quote channel stamps each update with the venue's clock
    # what third-party recordings call this venue: cryptofeed capture file prefixes, tardis.dev exchange ids
    cryptofeed_ids: ClassVar[tuple[str, ...]] = ()
    tardis_ids: ClassVar[tuple[str, ...]] = ()
    # ``[live]`` keys (arbflow/settings/sources.py LiveConfig) that are this venue's own options: (key, keyword argument)
    config_options: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self, symbols: list[str], depth: bool = False, source: str | None = None) -> None:
        self.symbols = list(symbols)
        self.depth = depth
        self.source = source or f"{self.exchange}-ws"
        self.market_ids = {s: market(self.exchange, s)["id"] for s in self.symbols}  # fails early on a bad symbol
        self.to_symbol = id_to_symbol(self.exchange)

    @classmethod
    def options_from(cls, live_config: Any) -> dict[str, Any]:
        """This venue's keyword arguments from the ``[live]`` settings, so callers need no venue special case."""
        return {kwarg: getattr(live_config, key) for key, kwarg in cls.config_options}

    def connect_url(self, base: str) -> str:
        """The URL to open (Binance puts its streams in the URL; others subscribe after connecting)."""
        return base

    def subscribe_messages(self) -> list[str]:
        """Messages to send after connecting (and again on a resubscribe)."""
        raise NotImplementedError

    def decode(self, frame: str | bytes, ts_recv_us: int) -> Decoded:
        """One frame -> rows; raise ``BadFrame`` for a frame that is not a venue message."""
        raise NotImplementedError

    def snapshot_path(self, symbol: str) -> str:
        """REST path (appended to the HTTP base URL) of a depth snapshot for ``symbol``."""
        raise NotImplementedError

    def apply_snapshot(self, symbol: str, payload: dict[str, Any], ts_recv_us: int) -> Decoded:
        """A REST depth snapshot arrived for ``symbol``."""
        raise NotImplementedError

    def symbol_of(self, venue_id: str) -> str | None:
        """Venue market id -> ccxt symbol (None when unknown: the row is quarantined downstream)."""
        return self.to_symbol.get(venue_id)


def quote_row(
    exchange: str,
    symbol: str | None,
    bid: tuple[Any, Any],
    ask: tuple[Any, Any],
    ts_exchange_us: int | None,
    ts_recv_us: int,
    seq: Any,
    source: str,
) -> dict[str, Any]:
    """A raw quote row in the shared column order; values are not cast here (normalization does that)."""
    return {
        "exchange": exchange,
        "symbol": symbol,
        "bid_px": bid[0],
        "bid_qty": bid[1],
        "ask_px": ask[0],
        "ask_qty": ask[1],
        "ts_exchange": ts_exchange_us,
        "ts_recv": ts_recv_us,
        "seq": seq,
        "source": source,
    }


def book_row(
    exchange: str,
    symbol: str | None,
    bids: list[tuple[float, float]],
    asks: list[tuple[float, float]],
    ts_exchange_us: int | None,
    ts_recv_us: int,
    seq: int | None,
    source: str,
) -> dict[str, Any]:
    """A book row: levels best first, prices and base quantities as floats."""
    return {
        "exchange": exchange,
        "symbol": symbol,
        "bid_px": [float(p) for p, _ in bids],
        "bid_qty": [float(q) for _, q in bids],
        "ask_px": [float(p) for p, _ in asks],
        "ask_qty": [float(q) for _, q in asks],
        "ts_exchange": ts_exchange_us,
        "ts_recv": ts_recv_us,
        "seq": seq,
        "source": source,
    }


# venue values as strings (whatever type the venue used; normalization casts and quarantines), our clocks typed
RAW_QUOTE_SCHEMA = {c: (t if t == PL_TS else pl.String()) for c, t in POLARS_QUOTE_SCHEMA.items()}
_VENUE_VALUES = tuple(c for c, t in RAW_QUOTE_SCHEMA.items() if t != PL_TS)


def raw_quote_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Raw quote rows -> a frame: venue values as strings (whatever type the venue used; normalization casts and
    quarantines), our µs clocks as UTC datetimes."""
    cols: dict[str, list[Any]] = {c: [None if (v := r[c]) is None else str(v) for r in rows] for c in _VENUE_VALUES}
    for c in ("ts_exchange", "ts_recv"):
        cols[c] = [r[c] if isinstance(r[c], int) else None for r in rows]
    frame = pl.DataFrame(cols, schema={c: (pl.Int64() if t == PL_TS else t) for c, t in RAW_QUOTE_SCHEMA.items()})
    return frame.with_columns(pl.col("ts_exchange").cast(PL_TS), pl.col("ts_recv").cast(PL_TS))


def book_to_quote(book: dict[str, Any]) -> dict[str, Any]:
    """The best level of a book row as a quote row (empty side -> null price, quarantined downstream)."""

    def best(px: list[float], qty: list[float]) -> tuple[Any, Any]:
        return (px[0], qty[0]) if px else (None, None)

    return quote_row(book["exchange"], book["symbol"], best(book["bid_px"], book["bid_qty"]),
                     best(book["ask_px"], book["ask_qty"]), book["ts_exchange"], book["ts_recv"], book["seq"],
                     book["source"])  # fmt: skip


def ms_to_us(value: Any) -> int | None:
    """Venue milliseconds (int or numeric string) -> µs; None when absent or not a number."""
    try:
        return int(value) * 1000
    except (TypeError, ValueError):
        return None


def parse_json(frame: str | bytes, gzipped: bool = False) -> Any:
    """Text or (gzip-compressed) bytes -> JSON; every failure is a ``BadFrame`` naming what went wrong."""
    try:
        if gzipped:
            if not isinstance(frame, bytes):
                msg = "expected a gzip-compressed binary frame, got text"
                raise BadFrame(msg)
            frame = gzip.decompress(frame)
        return json.loads(frame)
    except (OSError, EOFError, zlib.error) as exc:
        msg = f"gzip: {exc}"
        raise BadFrame(msg) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"json: {exc}"
        raise BadFrame(msg) from None
