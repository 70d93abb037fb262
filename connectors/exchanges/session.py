"""One venue's live WebSocket session: connect, subscribe, answer pings, watch for stalls, reconnect.

Venue quirks live in the ``Venue`` object; this module only does I/O and turns every change of the feed's health into
a feed event row (table ``feed_events``, sql/schema/feeds.sql). It knows nothing about Bytewax: ``connectors/live.py``
runs it in a thread and batches what it emits.

Feed state contract: every event carries ``feed_up``, whether the venue's quotes are fit for signals from that event
on. ``connect``, ``connect_failed``, ``disconnect``, ``stall`` and ``resubscribe`` set it False; ``live`` (the first
market-data frame after a (re)connect or resubscribe) sets it True; ``bad_frame``, ``gap``, ``resync``,
``clock_skew`` and ``clock_ok`` keep the current state.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import connect

from arbflow.errors import BadFrame
from connectors.exchanges.base import Decoded, Venue

FEED_EVENT_KINDS = (
    "connect", "connect_failed", "live", "disconnect", "stall", "resubscribe", "gap", "resync", "bad_frame",
    "clock_skew", "clock_ok",
)  # fmt: skip
Emit = Callable[[str, dict[str, Any]], None]  # ("quote" | "book" | "event", row)


@dataclass(frozen=True)
class FeedSettings:
    """Timing and endpoints of one venue session (seconds and milliseconds as named).

    The timing comes from the validated ``[live]`` section (connectors/live_wiring.py ``feed_settings``), never from a default
    here; ``rest_url`` None means the venue module's own endpoint.
    """

    ws_url: str
    stall_timeout_s: float  # no market data for this long = a silent stall
    backoff_initial_s: float
    backoff_max_s: float
    backoff_jitter: float  # e.g. 0.25 = +-25 % so many clients do not reconnect in lockstep
    max_clock_skew_ms: float  # |receive clock - venue clock| beyond this is a clock_skew event
    rest_url: str | None = None
    open_timeout_s: float = 5.0  # WebSocket handshake bound (not a setting)


def backoff_delay_s(attempt: int, initial_s: float, max_s: float, jitter: float, u: float) -> float:
    """Exponential backoff with jitter: ``min(max, initial * 2**attempt) * (1 + jitter * u)``, ``u`` in [-1, 1]."""
    return min(max_s, initial_s * 2.0 ** min(attempt, 30)) * (1.0 + jitter * u)


def now_us() -> int:
    """The receive clock: local wall clock, UTC microseconds."""
    return time.time_ns() // 1000


class _Stalled(Exception):
    """Still silent after a resubscribe: drop the connection and reconnect."""


class FeedHealth:
    """Feed state shared by every session kind: event rows, the feed_up flag, clock-skew watch, backoff."""

    def __init__(self, exchange: str, settings: FeedSettings, emit: Emit, clock_us: Callable[[], int] = now_us,
                 rng: random.Random | None = None) -> None:  # fmt: skip
        self.exchange = exchange
        self.settings = settings
        self.emit = emit
        self.clock_us = clock_us
        self.rng = rng or random.Random()
        self.up = False
        self.skewed = False
        self.attempt = 0

    def event(self, kind: str, detail: str = "", symbol: str | None = None, ts_exchange_us: int | None = None,
              seq_expected: int | None = None, seq_received: int | None = None) -> None:  # fmt: skip
        """Emit a feed event row (its id is assigned by the consumer from the stream position)."""
        if kind in ("connect", "connect_failed", "disconnect", "stall", "resubscribe"):
            self.up = False
        elif kind == "live":
            self.up = True
        self.emit("event", {
            "exchange": self.exchange, "symbol": symbol, "kind": kind, "feed_up": self.up,
            "ts_recv": self.clock_us(), "ts_exchange": ts_exchange_us, "seq_expected": seq_expected,
            "seq_received": seq_received, "attempt": self.attempt, "detail": detail,
        })  # fmt: skip

    def check_skew(self, row: dict[str, Any]) -> None:
        """One event when |receive - venue clock| crosses the limit, one when it is back under half of it."""
        ts_exchange = row.get("ts_exchange")
        if not isinstance(ts_exchange, int):
            return
        offset_ms = (row["ts_recv"] - ts_exchange) / 1000.0
        limit_ms = self.settings.max_clock_skew_ms
        if not self.skewed and abs(offset_ms) > limit_ms:
            self.skewed = True
            self.event("clock_skew", f"receive clock - venue clock = {offset_ms:.0f} ms (limit {limit_ms:g} ms)",
                       row.get("symbol"), ts_exchange_us=ts_exchange)  # fmt: skip
        elif self.skewed and abs(offset_ms) <= limit_ms / 2:
            self.skewed = False
            self.event("clock_ok", f"receive clock - venue clock = {offset_ms:.0f} ms", row.get("symbol"),
                       ts_exchange_us=ts_exchange)  # fmt: skip

    async def backoff(self) -> None:
        """Sleep the exponential-with-jitter delay of the current attempt, then count the attempt."""
        s = self.settings
        u = self.rng.uniform(-1.0, 1.0)
        await asyncio.sleep(backoff_delay_s(self.attempt, s.backoff_initial_s, s.backoff_max_s, s.backoff_jitter, u))
        self.attempt += 1


class FeedSession(FeedHealth):
    """A native WebSocket session; runs until cancelled; never raises on venue or network trouble."""

    def __init__(self, venue_factory: Callable[[], Venue], settings: FeedSettings, emit: Emit,
                 clock_us: Callable[[], int] = now_us, rng: random.Random | None = None) -> None:  # fmt: skip
        super().__init__(venue_factory().exchange, settings, emit, clock_us, rng)
        self.venue_factory = venue_factory

    async def run(self) -> None:
        """Connect, consume, and on any failure back off and reconnect, forever."""
        while True:
            venue = self.venue_factory()
            url = venue.connect_url(self.settings.ws_url)
            connected = False
            try:
                async with connect(url, open_timeout=self.settings.open_timeout_s, max_size=2**24) as ws:
                    connected = True
                    self.event("connect", f"url={url}")
                    await self._consume(ws, venue)
            except asyncio.CancelledError:
                raise
            except _Stalled as exc:
                self.event("disconnect", str(exc))
            except websockets.ConnectionClosed as exc:
                self.event("disconnect", f"closed: code={exc.rcvd.code if exc.rcvd else None}")
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
                self.event("disconnect" if connected else "connect_failed", f"{type(exc).__name__}: {exc}")
            await self.backoff()

    async def _consume(self, ws: Any, venue: Venue) -> None:
        loop = asyncio.get_running_loop()
        for message in venue.subscribe_messages():
            await ws.send(message)
        last_data = last_sent = loop.time()
        resubscribed = False
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                now = loop.time()
                timeout = self.settings.stall_timeout_s - (now - last_data)
                if venue.client_ping:
                    timeout = min(timeout, venue.client_ping_interval_s - (now - last_sent))
                try:
                    frame = await asyncio.wait_for(ws.recv(), timeout=max(timeout, 0.0))
                except TimeoutError:
                    now = loop.time()
                    if venue.client_ping and now - last_sent >= venue.client_ping_interval_s:
                        await ws.send(venue.client_ping)
                        last_sent = now
                    if now - last_data < self.settings.stall_timeout_s:
                        continue
                    if resubscribed:
                        msg = f"no market data {self.settings.stall_timeout_s:g} s after resubscribing"
                        raise _Stalled(msg) from None
                    self.event("stall", f"no market data for {now - last_data:.1f} s")
                    for message in venue.subscribe_messages():
                        await ws.send(message)
                    self.event("resubscribe", f"{len(venue.subscribe_messages())} subscribe message(s) sent")
                    resubscribed, last_data = True, now
                    continue
                ts_recv = self.clock_us()
                try:
                    decoded = venue.decode(frame, ts_recv)
                except BadFrame as exc:
                    self.event("bad_frame", str(exc)[:300])
                    continue
                for reply in decoded.replies:
                    await ws.send(reply)
                if decoded.data:
                    last_data, resubscribed, self.attempt = loop.time(), False, 0
                    if not self.up:
                        self.event("live")
                self._publish(decoded, venue, tasks)
        finally:
            for task in tasks:
                task.cancel()

    def _publish(self, decoded: Decoded, venue: Venue, tasks: set[asyncio.Task[None]]) -> None:
        for row in decoded.quotes:
            self.check_skew(row)
            self.emit("quote", row)
        for row in decoded.books:
            self.emit("book", row)
        for gap in decoded.gaps:
            why = gap.get("why", "sequence break")
            self.event("gap", f"{why}: book dropped, resyncing from a snapshot", gap["symbol"],
                       seq_expected=gap["seq_expected"], seq_received=gap["seq_received"])  # fmt: skip
        for symbol in decoded.resynced:
            self.event("resync", "book rebuilt from a fresh snapshot", symbol)
        for symbol in decoded.snapshots:
            task = asyncio.create_task(self._snapshot(venue, symbol, tasks))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _snapshot(self, venue: Venue, symbol: str, tasks: set[asyncio.Task[None]]) -> None:
        """GET the venue's REST depth snapshot (retrying with backoff) and hand it to the venue's book."""
        url = f"{(self.settings.rest_url or venue.rest_url or '').rstrip('/')}{venue.snapshot_path(symbol)}"
        attempt = 0
        while True:  # until it succeeds or the connection (and this task with it) goes away
            try:
                payload = await asyncio.to_thread(_get_json, url, self.settings.open_timeout_s)
                decoded = venue.apply_snapshot(symbol, payload, self.clock_us())
                break
            except (OSError, ValueError) as exc:  # BadFrame is a ValueError
                self.event("bad_frame", f"depth snapshot {url}: {exc}"[:300], symbol)
                s = self.settings
                u = self.rng.uniform(-1.0, 1.0)
                await asyncio.sleep(backoff_delay_s(attempt, s.backoff_initial_s, s.backoff_max_s, s.backoff_jitter, u))
                attempt += 1
        self._publish(decoded, venue, tasks)


def _get_json(url: str, timeout_s: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.loads(resp.read())
