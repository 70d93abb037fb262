"""Top of book through ccxt.pro ``watch_bids_asks``: the alternative transport for venues ccxt.pro serves.

Same output contract as the native ``FeedSession`` (quote rows, feed events with ``feed_up``), but what ccxt.pro
can give is less, measured in bench/live_feed.py:
- conflation: ccxt resolves a watch future only for the update that arrives while it is awaited
  (``Client.resolve`` drops results with no pending future), so bursts deliver only the latest quote (0.8-7.8 % of
  a 20 000-frame burst, 11-13 % at ~1 kHz in 10-frame clumps, on this shared 2-core machine); native: 100 %;
- no frame-level faults: garbage frames surface as an exception of the watch call (a ``disconnect`` row here),
  never as ``bad_frame`` rows; no sequence ids, so no gap detection; stalls are seen as a watch timeout;
- HTX is not served (no ``watchBidsAsks``; ``watch_ticker`` uses ``market.<sym>.detail`` without bid/ask).
Choose it per venue with ``LiveVenue(transport="ccxtpro")`` when those trade-offs are acceptable.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import ccxt

from connectors.exchanges.base import quote_row
from connectors.exchanges.session import Emit, FeedHealth, FeedSettings, now_us
from connectors.markets import ccxt_exchange


def supports_bids_asks(exchange: str) -> bool:
    """Whether ccxt.pro offers ``watchBidsAsks`` for this venue."""
    import ccxt.pro

    return bool(getattr(ccxt.pro, exchange)().has.get("watchBidsAsks"))


def override_ws_urls(urls: Any, base: str) -> Any:
    """Every WebSocket URL in ccxt's nested ``urls['api']['ws']`` re-pointed at ``base``, keeping its path."""
    if isinstance(urls, dict):
        return {k: override_ws_urls(v, base) for k, v in urls.items()}
    if isinstance(urls, str):
        return base.rstrip("/") + urlparse(urls.replace("{hostname}", "host")).path
    return urls


def ticker_row(exchange: str, symbol: str, ticker: dict[str, Any], ts_recv_us: int, source: str) -> dict[str, Any]:
    """A ccxt unified ticker -> a raw quote row (ccxt's parsed floats; no venue sequence id)."""
    ts_ms = ticker.get("timestamp")
    return quote_row(
        exchange,
        symbol,
        (ticker.get("bid"), ticker.get("bidVolume")),
        (ticker.get("ask"), ticker.get("askVolume")),
        int(ts_ms) * 1000 if ts_ms is not None else None,
        ts_recv_us,
        None,
        source,
    )


class CcxtProSession(FeedHealth):
    """Runs ``watch_bids_asks`` until cancelled; reconnects (a fresh exchange object) with backoff on any error."""

    def __init__(self, exchange: str, symbols: list[str], settings: FeedSettings, emit: Emit,
                 clock_us: Callable[[], int] = now_us, rng: random.Random | None = None) -> None:  # fmt: skip
        if not supports_bids_asks(exchange):
            msg = f"ccxt.pro has no watchBidsAsks for {exchange}: use transport='native' for it"
            raise ValueError(msg)
        super().__init__(exchange, settings, emit, clock_us, rng)
        self.symbols = list(symbols)
        self.source = f"{exchange}-ccxtpro"

    def _client(self) -> Any:
        client = ccxt_exchange(self.exchange, pro=True, symbols=self.symbols)
        if self.settings.ws_url:
            client.urls["api"]["ws"] = override_ws_urls(client.urls["api"]["ws"], self.settings.ws_url)
        return client

    async def run(self) -> None:
        """Watch, emit, and on error or silence close the client, back off and start over."""
        while True:
            client = self._client()
            self.event("connect", "ccxt.pro watch_bids_asks")
            reason = "closed"
            try:
                while True:
                    try:
                        tickers = await asyncio.wait_for(
                            client.watch_bids_asks(self.symbols), timeout=self.settings.stall_timeout_s
                        )
                    except TimeoutError:
                        self.event("stall", f"no update for {self.settings.stall_timeout_s:g} s")
                        reason = "stalled: closing the client to reconnect"
                        break
                    self._publish(tickers)
            except asyncio.CancelledError:
                raise
            except (ccxt.BaseError, OSError) as exc:
                reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            finally:
                await client.close()
            self.event("disconnect", reason)
            await self.backoff()

    def _publish(self, tickers: dict[str, Any]) -> None:
        ts_recv = self.clock_us()
        if not self.up:
            self.attempt = 0
            self.event("live")
        for symbol, ticker in tickers.items():
            row = ticker_row(self.exchange, symbol, ticker, ts_recv, self.source)
            self.check_skew(row)
            self.emit("quote", row)
