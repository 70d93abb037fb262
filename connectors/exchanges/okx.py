"""OKX v5 public WebSocket: native payloads -> normalized quotes and books.

Quotes come from ``bbo-tbt`` (tick-by-tick best bid/offer; ``seqId`` when the venue sends it) or ``tickers``
(``bidPx/bidSz/askPx/askSz``, throttled to ~100 ms). Books from ``books5`` (a full 5-level snapshot per push, so no
diff chaining is needed). OKX closes a connection idle for 30 s: the client sends the text ``ping`` and the server
answers ``pong``. Levels are ``[price, size, deprecated, order count]``; sizes of spot instruments are base units.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.exchanges.base import BadFrame, Decoded, Venue, book_row, ms_to_us, parse_json, quote_row

EXCHANGE = "okx"
QUOTE_CHANNELS = ("bbo-tbt", "tickers")


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


class Okx(Venue):
    """``/ws/v5/public``: one subscribe op listing every channel and instrument."""

    exchange = EXCHANGE
    ws_url = "wss://ws.okx.com:8443"
    client_ping = "ping"
    client_ping_interval_s = 20.0  # the venue drops connections idle for 30 s

    def __init__(self, symbols: list[str], depth: bool = False, source: str | None = None,
                 quote_channel: str = "bbo-tbt", ping_interval_s: float = 20.0) -> None:  # fmt: skip
        super().__init__(symbols, depth, source)
        if quote_channel not in QUOTE_CHANNELS:
            msg = f"okx quote_channel must be one of {QUOTE_CHANNELS}, not {quote_channel!r}"
            raise ValueError(msg)
        if not 0 < ping_interval_s < 30:
            msg = f"okx ping_interval_s must be in (0, 30): the venue drops connections idle for 30 s, got {ping_interval_s}"
            raise ValueError(msg)
        self.quote_channel = quote_channel
        self.client_ping_interval_s = ping_interval_s  # type: ignore[misc]

    def connect_url(self, base: str) -> str:
        return f"{base.rstrip('/')}/ws/v5/public"

    def subscribe_messages(self) -> list[str]:
        channels = [self.quote_channel] + (["books5"] if self.depth else [])
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
        return out
