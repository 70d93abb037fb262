"""OKX v5 public WebSocket: native payloads -> normalized quotes and books.

Quotes come from ``bbo-tbt`` (tick-by-tick best bid/offer; ``seqId`` when the venue sends it) or ``tickers``
(``bidPx/bidSz/askPx/askSz``, throttled to ~100 ms). Books from ``books5`` (a full 5-level snapshot per push, so no
diff chaining is needed) or ``books`` (a 400-level snapshot, then incremental updates). ``books`` is verified the
way OKX documents: every push carries a CRC32 ``checksum`` of the best 25 levels of the book after applying it, and
newer pushes chain ``prevSeqId`` to the previous ``seqId``; a mismatch is a gap, the book is dropped and the channel
resubscribed, which makes the venue send a fresh snapshot. OKX closes a connection idle for 30 s: the client sends
the text ``ping`` and the server answers ``pong``. Levels are ``[price, size, deprecated, order count]``; sizes of
spot instruments are base units.
"""

from __future__ import annotations

import heapq
import json
import zlib
from typing import Any

from arbflow.errors import BadFrame
from connectors.exchanges.base import Decoded, Venue, book_row, ms_to_us, parse_json, quote_row

EXCHANGE = "okx"
QUOTE_CHANNELS = ("bbo-tbt", "tickers")
DEPTH_CHANNELS = ("books5", "books")


def ticker_row(data: dict[str, Any], symbol: str | None, ts_recv_us: int, source: str) -> dict[str, Any]:
    """One ``tickers`` data item -> a raw quote row (no sequence id in this channel)."""
    return quote_row(EXCHANGE, symbol, (data.get("bidPx"), data.get("bidSz")), (data.get("askPx"), data.get("askSz")),
                     ms_to_us(data.get("ts")), ts_recv_us, None, source)  # fmt: skip


def _level(levels: Any) -> tuple[Any, Any]:
    """Best level of a side as (price, size) strings; (None, None) when the side is empty or malformed."""
    if isinstance(levels, list) and levels and isinstance(levels[0], list) and len(levels[0]) >= 2:
        return levels[0][0], levels[0][1]
    return None, None


def bbo_row(data: dict[str, Any], symbol: str | None, ts_recv_us: int, source: str) -> dict[str, Any]:
    """One ``bbo-tbt`` data item -> a raw quote row."""
    return quote_row(EXCHANGE, symbol, _level(data.get("bids")), _level(data.get("asks")), ms_to_us(data.get("ts")),
                     ts_recv_us, data.get("seqId"), source)  # fmt: skip


def books5_row(data: dict[str, Any], symbol: str | None, ts_recv_us: int, source: str) -> dict[str, Any]:
    """One ``books5`` data item -> a book row."""
    bids = [(float(lv[0]), float(lv[1])) for lv in data.get("bids", [])]
    asks = [(float(lv[0]), float(lv[1])) for lv in data.get("asks", [])]
    seq = data.get("seqId")
    return book_row(EXCHANGE, symbol, bids, asks, ms_to_us(data.get("ts")), ts_recv_us,
                    int(seq) if seq is not None else None, source)  # fmt: skip


def book_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """OKX's checksum: CRC32 (as a signed 32-bit int) of ``bid px:bid sz:ask px:ask sz:...`` over the best 25 levels
    of each side, interleaved, using the price and size strings exactly as the venue sent them."""
    parts: list[str] = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    value = zlib.crc32(":".join(parts).encode())
    return value - 2**32 if value >= 2**31 else value


class OkxBook:
    """An OKX ``books`` order book: price string -> size string per side (strings, for the checksum)."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.seq_id: int | None = None

    def apply(self, data: dict[str, Any]) -> None:
        """Set or delete (size "0") every level of a snapshot or update push."""
        for side, levels in ((self.bids, data.get("bids", [])), (self.asks, data.get("asks", []))):
            for level in levels:
                price, size = str(level[0]), str(level[1])
                if float(size) == 0.0:
                    side.pop(price, None)
                else:
                    side[price] = size

    def top(self, levels: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Best ``levels`` bids (highest first) and asks (lowest first), as the venue's strings."""
        bids = heapq.nlargest(levels, self.bids.items(), key=lambda kv: float(kv[0]))
        asks = heapq.nsmallest(levels, self.asks.items(), key=lambda kv: float(kv[0]))
        return bids, asks


class Okx(Venue):
    """``/ws/v5/public``: one subscribe op listing every channel and instrument."""

    exchange = EXCHANGE
    ws_url = "wss://ws.okx.com:8443"
    client_ping = "ping"
    client_ping_interval_s = 20.0  # the venue drops connections idle for 30 s
    config_options = (("okx_quote_channel", "quote_channel"),)
    cryptofeed_ids = ("OKX", "OKEX")
    tardis_ids = ("okex", "okx")

    def __init__(self, symbols: list[str], depth: bool = False, source: str | None = None,
                 quote_channel: str = "bbo-tbt", ping_interval_s: float = 20.0,
                 depth_channel: str = "books5") -> None:  # fmt: skip
        super().__init__(symbols, depth, source)
        if quote_channel not in QUOTE_CHANNELS:
            msg = f"okx quote_channel must be one of {QUOTE_CHANNELS}, not {quote_channel!r}"
            raise ValueError(msg)
        if depth_channel not in DEPTH_CHANNELS:
            msg = f"okx depth_channel must be one of {DEPTH_CHANNELS}, not {depth_channel!r}"
            raise ValueError(msg)
        self.depth_channel = depth_channel
        self._books: dict[str, OkxBook] = {}
        self._gapped: set[str] = set()
        if not 0 < ping_interval_s < 30:
            msg = f"okx ping_interval_s must be in (0, 30): the venue drops connections idle for 30 s, got {ping_interval_s}"
            raise ValueError(msg)
        self.quote_channel = quote_channel
        self.client_ping_interval_s = ping_interval_s  # type: ignore[misc]

    def connect_url(self, base: str) -> str:
        return f"{base.rstrip('/')}/ws/v5/public"

    def subscribe_messages(self) -> list[str]:
        channels = [self.quote_channel] + ([self.depth_channel] if self.depth else [])
        args = [{"channel": ch, "instId": inst} for inst in self.market_ids.values() for ch in channels]
        return [json.dumps({"op": "subscribe", "args": args})]

    def decode(self, frame: str | bytes, ts_recv_us: int) -> Decoded:
        if frame == "pong":
            return Decoded()
        msg = parse_json(frame)
        if not isinstance(msg, dict):
            raise BadFrame(f"expected a JSON object, got {type(msg).__name__}")
        if "event" in msg:
            if msg["event"] == "error":
                raise BadFrame(f"venue error {msg.get('code')}: {msg.get('msg')}")
            return Decoded()  # subscribe / unsubscribe ack
        arg, data = msg.get("arg"), msg.get("data")
        if not isinstance(arg, dict) or not isinstance(data, list):
            raise BadFrame(f"not a channel push: {str(msg)[:80]}")
        symbol = self.symbol_of(str(arg.get("instId")))
        channel = arg.get("channel")
        out = Decoded(data=True)
        for item in data:
            if not isinstance(item, dict):
                raise BadFrame(f"{channel} data item is not an object")
            if channel == "tickers":
                out.quotes.append(ticker_row(item, symbol, ts_recv_us, self.source))
            elif channel == "bbo-tbt":
                out.quotes.append(bbo_row(item, symbol, ts_recv_us, self.source))
            elif channel == "books5":
                try:
                    out.books.append(books5_row(item, symbol, ts_recv_us, self.source))
                except (TypeError, ValueError, IndexError) as exc:
                    raise BadFrame(f"books5 levels: {exc}") from None
            elif channel == "books":
                self._books_push(str(arg.get("instId")), symbol, msg.get("action"), item, ts_recv_us, out)
        return out

    def _books_push(self, inst_id: str, symbol: str | None, action: Any, data: dict[str, Any], ts_recv_us: int,
                    out: Decoded) -> None:  # fmt: skip
        """Apply a ``books`` snapshot/update; verify seqId chaining and the checksum; on a break, resubscribe."""
        key = symbol or inst_id
        book = self._books.get(key)
        if action == "snapshot":
            book = self._books[key] = OkxBook()
        elif book is None:
            return  # updates before the (re)subscribe snapshot: nothing to apply them to
        prev, seq = data.get("prevSeqId"), data.get("seqId")
        broken: dict[str, Any] | None = None
        if action != "snapshot" and prev is not None and book.seq_id is not None and int(prev) != book.seq_id:
            broken = {"seq_expected": book.seq_id, "seq_received": int(prev), "why": "prevSeqId does not chain"}
        else:
            try:
                book.apply(data)
            except (TypeError, ValueError, IndexError) as exc:
                raise BadFrame(f"books levels: {exc}") from None
            bids, asks = book.top(25)
            if "checksum" in data and book_checksum(bids, asks) != int(data["checksum"]):
                broken = {"seq_expected": None, "seq_received": None, "why": "checksum mismatch"}
        if broken is not None:
            del self._books[key]
            self._gapped.add(key)
            out.gaps.append({"symbol": symbol, **broken})
            arg = {"channel": "books", "instId": inst_id}
            out.replies += [
                json.dumps({"op": "unsubscribe", "args": [arg]}),
                json.dumps({"op": "subscribe", "args": [arg]}),
            ]
            return
        book.seq_id = int(seq) if seq is not None else None
        if action == "snapshot" and key in self._gapped:
            self._gapped.discard(key)
            out.resynced.append(symbol or inst_id)
        bids, asks = book.top(self.book_levels)
        out.books.append(book_row(EXCHANGE, symbol, [(float(p), float(q)) for p, q in bids],
                                  [(float(p), float(q)) for p, q in asks], ms_to_us(data.get("ts")), ts_recv_us,
                                  book.seq_id, self.source))  # fmt: skip
