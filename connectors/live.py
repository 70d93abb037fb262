"""Live venue feeds as a Bytewax source: every venue socket merged at one point, in arrival order.

One source partition (``live``) runs one asyncio loop in a thread, with a session per venue on it
(``FeedSession``, connectors/exchanges/session.py, or ``CcxtProSession``). Every row any session emits goes through
one callback on that loop (``_Merge.emit``), which is the merge point:

- Arrival order is the order of those calls: the loop runs one frame's handler at a time, so nothing can overtake.
- ``ts_recv`` is made strictly increasing there (UTC µs, local wall clock, ``max(frame stamp, previous + 1 µs)``):
  the receive clock of the frame, nudged by at most a few µs when frames or rows share a microsecond or the wall
  clock steps back. Replay merges capture files by ``ts_recv`` (connectors/replay.py), so the replay of a capture
  rebuilds exactly this sequence, with no reorder hold and no progress marks: the order is deterministic by
  construction, not by waiting.

Items out of ``next_batch``, on every poll, whatever has arrived (no wait for a batch to fill):

- ``RawBatch`` (connectors/batches.py), partition ``live``: quote rows in arrival order, at most ``batch_rows``
  rows, ``quote_id`` "live-<venue>/<offset>" (offset per venue). Venue values stay as sent (strings);
  ``ts_recv``/``ts_exchange`` are UTC µs datetimes.
- ``TableBatch("feed_events", ...)``: connects, disconnects, stalls, gaps, clock skew (sql/schema/feeds.sql), each
  with ``event_id`` "live-<venue>/event/<n>". Quotes that arrived before an event go out before it. ``input_live``
  (connectors/live_wiring.py) splits the stream into ``RawBatch`` items and ``(table, frame)`` items for the lake
  sink. A venue whose feed is down contributes no quote to any signal: ``feed_up`` says when and
  ``connectors/exchanges/feed_state.stale_leg`` applies it.
- ``TableBatch("books", ...)`` when depth is subscribed (``book_id`` "live-<venue>/book/<n>").

Transports (``LiveVenue.transport``). ``native`` (default): our WebSocket session and venue modules. ``ccxtpro``:
ccxt.pro ``watch_bids_asks`` (connectors/exchanges/ccxtpro.py), for Binance and OKX. Native is the default because
ccxt.pro resolves a watch future only for the update that arrives while someone awaits it (``Client.resolve`` drops
results with no pending future): updates arriving while the flow is busy are conflated and their sequence ids lost
(bench/live_feed.py: 0.8-7.8 % of a 20k-frame burst delivered, 11-13 % at ~1 kHz; native 100 %). It also hides
frame-level faults (no ``bad_frame`` rows), gives no sequence ids for gap detection, and has no HTX top of book:
ccxt.pro lacks ``watchBidsAsks`` for htx and its ``watch_ticker`` uses ``market.<sym>.detail``, which carries no
bid/ask, so HTX needs the native ``market.<sym>.bbo`` channel. ccxt provides the market metadata either way
(connectors/markets).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import polars as pl
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.batches import RawBatch
from connectors.capture import CaptureWriter
from connectors.exchanges.base import raw_quote_frame
from connectors.exchanges.ccxtpro import CcxtProSession
from connectors.exchanges.session import Emit, FeedSession, FeedSettings, now_us
from connectors.live_venue import BOOK_SCHEMA, FEED_EVENT_SCHEMA, LiveVenue, TableBatch, table_frame

__all__ = ["BOOK_SCHEMA", "FEED_EVENT_SCHEMA", "LiveSource", "LiveVenue", "TableBatch"]

DRAIN_QUIET_S = 0.25  # after stop(): end once nothing has arrived for this long
LiveItem = RawBatch | TableBatch
PARTITION = "live"  # the one source partition, and the partition of every quote batch
_COUNTERS = ("quote", "event", "book", "event_batch", "book_batch")
IDLE_WAKE_S = 0.001  # poll period while nothing is queued: bounds the added latency (idle cost: bench/live_latency.py)
# GIL switch interval of a live process. Bytewax enters Python for every step it runs; while another thread runs
# Python (this source's venue loop decoding a burst, the GX audit, the lake writer), each entry waits up to the
# interval, 5 ms by default. bench/gil_switch.py (a busy thread beside a 6-step flow, loaded machine): p99 0.1-34 ms
# over runs at 5 ms, 0.1-0.7 ms here.
GIL_SWITCH_S = 0.0005


class _Merge:
    """The merge point of every venue's rows; ``emit`` runs on the one venue loop, so call order = arrival order."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[tuple[str, str, dict[str, Any]]] = queue.SimpleQueue()
        self.last_us = 0

    def emit_for(self, partition: str) -> Emit:
        """The ``emit`` callback of one venue's session."""

        def emit(kind: str, row: dict[str, Any]) -> None:
            stamped = row.get("ts_recv")
            self.last_us = max(stamped if isinstance(stamped, int) else now_us(), self.last_us + 1)
            row["ts_recv"] = self.last_us
            self.inbox.put((partition, kind, row))

        return emit


class _LivePartition(StatefulSourcePartition[LiveItem, dict[str, dict[str, int]]]):
    def __init__(self, venues: list[LiveVenue], settings: FeedSettings, batch_rows: int,
                 resume: dict[str, dict[str, int]] | None, run_for_s: float | None,
                 captures: dict[str, CaptureWriter], stop: Callable[[], bool] | None) -> None:  # fmt: skip
        self.batch_rows = batch_rows
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))  # process-wide: see GIL_SWITCH_S
        fresh = {v.partition: dict.fromkeys(_COUNTERS, 0) for v in venues} | {PARTITION: {"batch": 0}}
        self.offsets = {k: dict(v) for k, v in (resume or fresh).items()}
        self.deadline = time.monotonic() + run_for_s if run_for_s is not None else None
        self.stop = stop
        self.stop_seen = 0.0  # monotonic time stop() was first seen true; 0 = not yet
        self.last_item = time.monotonic()
        self.captures = captures
        self.merge = _Merge()
        self.quotes: list[tuple[str, dict[str, Any]]] = []
        self.books: list[tuple[str, dict[str, Any]]] = []
        self.busy = False  # the last poll emitted something: poll again at once
        self.ended = False
        sessions = [v.session(v.endpoints(settings), self.merge.emit_for(v.partition)) for v in venues]
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(_run_all(sessions))
        self.thread = threading.Thread(target=self._run, name="arbflow-live", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:  # let the sockets' own tasks (keepalive) finish cancelling before the loop goes
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def next_batch(self) -> list[LiveItem]:
        if self.ended:
            raise StopIteration
        finished = self._finished()
        if finished:  # stop the sessions first: after this nothing arrives, so the drain below is the last
            self.close()
        out = self._drain()
        self.busy = bool(out)
        if out:
            self.last_item = time.monotonic()
        if finished:
            self.ended = True
            if not out:
                raise StopIteration
        return out

    def _drain(self) -> list[LiveItem]:
        """Everything queued, as items in arrival order: quote batches of at most ``batch_rows`` rows, and each
        event after the rows that arrived before it."""
        out: list[LiveItem] = []
        events: list[tuple[str, dict[str, Any]]] = []
        while True:
            try:
                partition, kind, row = self.merge.inbox.get_nowait()
            except queue.Empty:
                break
            if kind == "event":
                self._flush_data(out)
                events.append((partition, row))
                continue
            if events:
                self._events(out, events)
                events = []
            (self.quotes if kind == "quote" else self.books).append((partition, row))
            if len(self.quotes) >= self.batch_rows:
                self._flush_data(out)
        self._events(out, events)
        self._flush_data(out)
        return out

    def _finished(self) -> bool:
        """Past ``run_for_s``, or ``stop()`` said so and nothing has arrived for DRAIN_QUIET_S since."""
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            return True
        if self.stop is None:
            return False
        if not self.stop_seen:
            self.stop_seen = now if self.stop() else 0.0
            return False
        return now - max(self.stop_seen, self.last_item) >= DRAIN_QUIET_S

    def _flush_data(self, out: list[LiveItem]) -> None:
        if self.quotes:
            ids, by_venue = [], _by_venue(self.quotes)
            for partition, _row in self.quotes:
                ids.append(f"{partition}/{self.offsets[partition]['quote']}")
                self.offsets[partition]["quote"] += 1
            frame = raw_quote_frame([r for _, r in self.quotes]).with_columns(quote_id=pl.Series(ids, dtype=pl.String))
            out.append(RawBatch(self.offsets[PARTITION]["batch"], PARTITION, frame))
            self.offsets[PARTITION]["batch"] += 1
            for partition, rows in by_venue.items():
                if partition in self.captures:
                    self.captures[partition].write(raw_quote_frame(rows), self.offsets[partition]["quote"] - len(rows))
            self.quotes = []
        for partition, rows in _by_venue(self.books).items():
            n = self.offsets[partition]
            frame = table_frame(rows, BOOK_SCHEMA, "book_id", f"{partition}/book", n["book"])
            out.append(TableBatch("books", n["book_batch"], partition, frame))
            n["book"] += len(rows)
            n["book_batch"] += 1
        self.books = []

    def _events(self, out: list[LiveItem], events: list[tuple[str, dict[str, Any]]]) -> None:
        for partition, rows in _by_venue(events).items():
            n = self.offsets[partition]
            frame = table_frame(rows, FEED_EVENT_SCHEMA, "event_id", f"{partition}/event", n["event"])
            out.append(TableBatch("feed_events", n["event_batch"], partition, frame))
            n["event"] += len(rows)
            n["event_batch"] += 1

    def next_awake(self) -> dt.datetime | None:
        """At once after a poll that emitted (more may be queued), else ``IDLE_WAKE_S`` from now."""
        return None if self.busy else dt.datetime.now(dt.UTC) + dt.timedelta(seconds=IDLE_WAKE_S)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Offsets only: a live feed cannot be re-read, but resumed ids must continue, not collide."""
        return {k: dict(v) for k, v in self.offsets.items()}

    def close(self) -> None:
        """Stop every session and write what the captures buffer (idempotent)."""
        try:
            self.loop.call_soon_threadsafe(self.task.cancel)
        except RuntimeError:
            pass  # the loop already finished and closed
        self.thread.join(timeout=5.0)
        for capture in self.captures.values():
            capture.flush()


async def _run_all(sessions: list[FeedSession | CcxtProSession]) -> None:
    """Every venue session on one loop (they never return; cancelling this cancels them all)."""
    await asyncio.gather(*(s.run() for s in sessions))


def _by_venue(rows: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """(partition, row) pairs -> rows per venue partition, each in arrival order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for partition, row in rows:
        grouped.setdefault(partition, []).append(row)
    return grouped


class LiveSource(FixedPartitionedSource[LiveItem, dict[str, dict[str, int]]]):
    """Live quotes (and feed events, books) from several venues, merged in one partition in arrival order.

    Args:
        venues: the connections.
        settings: timing shared by all venues (its ``ws_url``/``rest_url`` are defaults a ``LiveVenue`` overrides;
            empty = the venue's production endpoint).
        batch_rows: at most this many quote rows per batch (a batch is whatever arrived since the last poll).
        run_for_s: stop after this long (captures of a fixed length, tests); None = run until stopped.
        stop: polled once nothing is queued; once it returns True the source drains what is still arriving (until
            ``DRAIN_QUIET_S`` of silence) and ends: a graceful shutdown hook (signal handler, tests).
        capture_dir: also write every quote to Parquet capture files there (connectors/capture.py), one stream per
            venue; their strictly increasing ``ts_recv`` makes replay rebuild the arrival order.
        capture_rows_per_file: capture file size limit in rows.
    """

    def __init__(self, venues: list[LiveVenue], settings: FeedSettings, *, batch_rows: int, capture_rows_per_file: int,
                 run_for_s: float | None = None, capture_dir: str | None = None,
                 stop: Callable[[], bool] | None = None) -> None:  # fmt: skip
        names = [v.partition for v in venues]
        if len(set(names)) != len(names):
            msg = f"one LiveVenue per exchange: got {names}"
            raise ValueError(msg)
        if batch_rows < 1:
            msg = f"batch_rows must be >= 1, got {batch_rows}"
            raise ValueError(msg)
        for v in venues:
            v.validate()
        self.venues = {v.partition: v for v in venues}
        self.settings = settings
        self.batch_rows, self.run_for_s = batch_rows, run_for_s
        self.capture_dir, self.capture_rows_per_file = capture_dir, capture_rows_per_file
        self.stop = stop

    def list_parts(self) -> list[str]:
        return [PARTITION]

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, dict[str, int]] | None
                   ) -> _LivePartition:  # fmt: skip
        captures = {
            p: CaptureWriter(self.capture_dir, v.exchange, self.capture_rows_per_file)
            for p, v in self.venues.items()
            if self.capture_dir
        }
        return _LivePartition(list(self.venues.values()), self.settings, self.batch_rows, resume_state,
                              self.run_for_s, captures, self.stop)  # fmt: skip
