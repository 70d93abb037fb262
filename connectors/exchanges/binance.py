"""Binance spot: native payloads -> normalized quotes and books.

Spot ``<sym>@bookTicker`` carries no exchange timestamp, only the book update id ``u`` (our ``seq``), so
``ts_exchange`` is null and event time falls back to the receive clock. ``u`` is the id of the whole book's last
update, so consecutive bookTickers skip ids by design: gaps are only detectable on the depth diff stream
``<sym>@depth@100ms``, whose ``U``..``u`` ranges must chain (``U == previous u + 1``). A diff stream needs a REST
snapshot (``/api/v3/depth``) to start from and again after every gap (Binance's documented procedure).
"""

from __future__ import annotations

import heapq
import json
from typing import Any

from arbflow.errors import BadFrame
from connectors.exchanges.base import Decoded, Venue, book_row, parse_json
from connectors.markets import id_to_symbol

EXCHANGE = "binance"
_QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def venue_symbol_to_unified(venue_symbol: str, markets: dict[str, str] | None = None) -> str:
    """``BTCUSDT`` -> ``BTC/USDT`` through ccxt market metadata (``markets``: id -> symbol; default: the offline
    snapshot); a symbol listed after the snapshot falls back to splitting off a common quote asset."""
    s = venue_symbol.upper()
    known = (markets if markets is not None else id_to_symbol(EXCHANGE)).get(s)
    if known is not None:
        return known
    for quote in _QUOTE_ASSETS:
        if s.endswith(quote) and len(s) > len(quote):
            return f"{s[: -len(quote)]}/{quote}"
    msg = f"cannot map Binance symbol {venue_symbol!r}: not in the market metadata and no known quote asset"
    raise ValueError(msg)


def book_ticker_row(data: dict[str, Any], ts_recv_us: int, source: str) -> dict[str, Any]:
    """One ``bookTicker`` payload (the ``data`` object of a combined stream) -> a raw quote row.

    Values stay as the venue sent them (strings); normalization casts and quarantines, so a malformed payload becomes
    a rejected row with a reason instead of an exception here.
    """
    symbol = data.get("s")
    unified = None
    if isinstance(symbol, str):
        try:
            unified = venue_symbol_to_unified(symbol)
        except ValueError:
            unified = None  # quarantined downstream as an unknown symbol
    return {
        "exchange": EXCHANGE,
        "symbol": unified,
        "bid_px": data.get("b"),
        "bid_qty": data.get("B"),
        "ask_px": data.get("a"),
        "ask_qty": data.get("A"),
        "ts_exchange": None,
        "ts_recv": ts_recv_us,
        "seq": data.get("u"),
        "source": source,
    }


class LocalBook:
    """A Binance order book kept from a REST snapshot plus chained depth diffs."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.last_update_id = int(snapshot["lastUpdateId"])
        self.bids = {float(p): float(q) for p, q in snapshot["bids"]}
        self.asks = {float(p): float(q) for p, q in snapshot["asks"]}
        self.synced = False  # True once a diff bridging the snapshot id has been applied

    def apply(self, diff: dict[str, Any]) -> bool:
        """Apply a diff; False when it does not chain (a gap: the book must be rebuilt from a new snapshot)."""
        first, last = int(diff["U"]), int(diff["u"])
        if last <= self.last_update_id:
            return True  # older than the snapshot: already in it
        if self.synced and first != self.last_update_id + 1:
            return False
        if not self.synced and not first <= self.last_update_id + 1 <= last:
            return False
        for side, levels in ((self.bids, diff["b"]), (self.asks, diff["a"])):
            for p, q in levels:
                px, qty = float(p), float(q)
                if qty == 0.0:
                    side.pop(px, None)
                else:
                    side[px] = qty
        self.last_update_id = last
        self.synced = True
        return True

    def top(self, levels: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Best ``levels`` bids (highest first) and asks (lowest first)."""
        bids = heapq.nlargest(levels, self.bids.items())
        asks = heapq.nsmallest(levels, self.asks.items())
        return bids, asks


class Binance(Venue):
    """Combined-stream connection: ``bookTicker`` for quotes, ``depth@100ms`` + REST snapshot for books."""

    exchange = EXCHANGE
    ws_url = "wss://stream.binance.com:9443"
    rest_url = "https://api.binance.com"
    sends_exchange_time = False  # spot bookTicker carries no event time
    cryptofeed_ids = ("BINANCE",)
    tardis_ids = ("binance",)

    def __init__(self, symbols: list[str], depth: bool = False, source: str | None = None) -> None:
        super().__init__(symbols, depth, source)
        self._books: dict[str, LocalBook] = {}
        self._pending: dict[str, list[dict[str, Any]]] = {}  # diffs waiting for a snapshot
        self._gapped: set[str] = set()

    def connect_url(self, base: str) -> str:
        return f"{base.rstrip('/')}/stream"

    def streams(self) -> list[str]:
        """Stream names, e.g. ``btcusdt@bookTicker``."""
        out = []
        for venue_id in self.market_ids.values():
            out.append(f"{venue_id.lower()}@bookTicker")
            if self.depth:
                out.append(f"{venue_id.lower()}@depth@100ms")
        return out

    def subscribe_messages(self) -> list[str]:
        return [json.dumps({"method": "SUBSCRIBE", "params": self.streams(), "id": 1})]

    def decode(self, frame: str | bytes, ts_recv_us: int) -> Decoded:
        msg = parse_json(frame)
        if not isinstance(msg, dict):
            raise BadFrame(f"expected a JSON object, got {type(msg).__name__}")
        if "result" in msg and "id" in msg:
            return Decoded()  # subscribe ack
        stream, data = msg.get("stream"), msg.get("data")
        if not isinstance(stream, str) or not isinstance(data, dict):
            raise BadFrame(f"not a combined-stream message: {str(msg)[:80]}")
        if stream.endswith("@bookTicker"):
            return Decoded(quotes=[book_ticker_row(data, ts_recv_us, self.source)], data=True)
        if "@depth" in stream:
            return self._depth(data, ts_recv_us)
        return Decoded(data=True)  # a stream we did not ask for: ignore

    def _depth(self, diff: dict[str, Any], ts_recv_us: int) -> Decoded:
        try:
            symbol = venue_symbol_to_unified(diff["s"])
            int(diff["U"]), int(diff["u"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadFrame(f"depth diff without a valid s/U/u: {exc}") from None
        out = Decoded(data=True)
        book = self._books.get(symbol)
        if book is None:
            pending = self._pending.setdefault(symbol, [])
            if not pending:
                out.snapshots.append(symbol)
            pending.append(diff)
            return out
        if not book.apply(diff):
            out.gaps.append({"symbol": symbol, "seq_expected": book.last_update_id + 1, "seq_received": int(diff["U"])})
            del self._books[symbol]
            self._gapped.add(symbol)
            self._pending[symbol] = [diff]
            out.snapshots.append(symbol)
            return out
        out.books.append(self._book_row(symbol, book, diff, ts_recv_us))
        return out

    def _book_row(self, symbol: str, book: LocalBook, diff: dict[str, Any] | None, ts_recv_us: int) -> dict[str, Any]:
        """Top levels; the venue clock is the last applied diff's event time (a bare REST snapshot has none)."""
        bids, asks = book.top(self.book_levels)
        ts_exchange = int(diff["E"]) * 1000 if diff is not None else None
        return book_row(self.exchange, symbol, bids, asks, ts_exchange, ts_recv_us, book.last_update_id, self.source)

    def snapshot_path(self, symbol: str) -> str:
        return f"/api/v3/depth?symbol={self.market_ids[symbol]}&limit=1000"

    def apply_snapshot(self, symbol: str, payload: dict[str, Any], ts_recv_us: int) -> Decoded:
        """Build the book, then replay the diffs that arrived meanwhile; a snapshot older than them asks again."""
        out = Decoded()
        try:
            book = LocalBook(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadFrame(f"depth snapshot for {symbol}: {exc}") from None
        pending = self._pending.pop(symbol, [])
        for diff in pending:
            if not book.apply(diff):
                self._pending[symbol] = [d for d in pending if int(d["u"]) > book.last_update_id]
                out.snapshots.append(symbol)  # snapshot too old for the buffered diffs: fetch again
                return out
        self._books[symbol] = book
        if symbol in self._gapped:
            self._gapped.discard(symbol)
            out.resynced.append(symbol)
        # the snapshot alone is a valid book at its id: emit it even when every held diff was older
        out.books.append(self._book_row(symbol, book, pending[-1] if book.synced else None, ts_recv_us))
        return out
