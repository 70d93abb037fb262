"""HTX (Huobi) spot WebSocket: native payloads -> normalized quotes and books.

Every server frame is gzip-compressed binary. The server sends ``{"ping": <ms>}`` every few seconds and drops the
connection unless the client answers ``{"pong": <same ms>}``. Quotes come from ``market.<sym>.bbo`` (``bid``,
``bidSize``, ``ask``, ``askSize``, ``quoteTime``, ``seqId``); books from ``market.<sym>.depth.step0`` (a 150-level
snapshot per push with a ``version``). bbo ``seqId`` values skip by design (the book changes below the top), so they
are recorded as ``seq`` but not checked for gaps.
"""

from __future__ import annotations

import json
from typing import Any

from arbflow.errors import BadFrame
from connectors.exchanges.base import Decoded, Venue, book_row, ms_to_us, parse_json, quote_row

EXCHANGE = "htx"


def bbo_row(tick: dict[str, Any], symbol: str | None, ts_ms: Any, ts_recv_us: int, source: str) -> dict[str, Any]:
    """One ``bbo`` tick -> a raw quote row; the venue clock is ``quoteTime`` (else the frame's ``ts``)."""
    ts_exchange = ms_to_us(tick.get("quoteTime")) or ms_to_us(ts_ms)
    return quote_row(EXCHANGE, symbol, (tick.get("bid"), tick.get("bidSize")), (tick.get("ask"), tick.get("askSize")),
                     ts_exchange, ts_recv_us, tick.get("seqId"), source)  # fmt: skip


def depth_row(tick: dict[str, Any], symbol: str | None, levels: int, ts_recv_us: int, source: str) -> dict[str, Any]:
    """One ``depth.step0`` tick (levels ``[price, amount]`` numbers) -> a book row of the best ``levels``."""
    bids = [(float(p), float(q)) for p, q in tick.get("bids", [])[:levels]]
    asks = [(float(p), float(q)) for p, q in tick.get("asks", [])[:levels]]
    version = tick.get("version")
    return book_row(EXCHANGE, symbol, bids, asks, ms_to_us(tick.get("ts")), ts_recv_us,
                    int(version) if version is not None else None, source)  # fmt: skip


def top_of_depth_row(tick: dict[str, Any], symbol: str | None, ts_recv_us: int, source: str) -> dict[str, Any]:
    """Best level of a ``depth.step0`` tick as a raw quote row (for recordings without a bbo channel)."""
    bids, asks = tick.get("bids") or [[None, None]], tick.get("asks") or [[None, None]]
    return quote_row(EXCHANGE, symbol, (bids[0][0], bids[0][1]), (asks[0][0], asks[0][1]), ms_to_us(tick.get("ts")),
                     ts_recv_us, tick.get("version"), source)  # fmt: skip


class Htx(Venue):
    """``/ws`` market feed: one ``sub`` message per channel, gzip frames, JSON ping/pong."""

    exchange = EXCHANGE
    ws_url = "wss://api.huobi.pro"
    book_levels = 5
    cryptofeed_ids = ("HUOBI",)
    tardis_ids = ("huobi", "htx")

    def connect_url(self, base: str) -> str:
        return f"{base.rstrip('/')}/ws"

    def subscribe_messages(self) -> list[str]:
        topics = [f"market.{i}.bbo" for i in self.market_ids.values()]
        if self.depth:
            topics += [f"market.{i}.depth.step0" for i in self.market_ids.values()]
        return [json.dumps({"sub": t, "id": str(n)}) for n, t in enumerate(topics, 1)]

    def decode(self, frame: str | bytes, ts_recv_us: int) -> Decoded:
        msg = parse_json(frame, gzipped=True)
        if not isinstance(msg, dict):
            raise BadFrame(f"expected a JSON object, got {type(msg).__name__}")
        if "ping" in msg:
            return Decoded(replies=[json.dumps({"pong": msg["ping"]})])
        if msg.get("status") == "error":
            raise BadFrame(f"venue error {msg.get('err-code')}: {msg.get('err-msg')}")
        if "subbed" in msg or "unsubbed" in msg:
            return Decoded()
        ch, tick = msg.get("ch"), msg.get("tick")
        if not isinstance(ch, str) or not isinstance(tick, dict):
            raise BadFrame(f"not a channel push: {str(msg)[:80]}")
        parts = ch.split(".")
        symbol = self.symbol_of(parts[1]) if len(parts) > 2 else None
        if parts[-1] == "bbo":
            return Decoded(quotes=[bbo_row(tick, symbol, msg.get("ts"), ts_recv_us, self.source)], data=True)
        if ch.endswith(".depth.step0"):
            try:
                return Decoded(books=[depth_row(tick, symbol, self.book_levels, ts_recv_us, self.source)], data=True)
            except (TypeError, ValueError) as exc:
                raise BadFrame(f"depth levels: {exc}") from None
        return Decoded(data=True)
