"""Live venue feeds as a Bytewax source: one partition per venue, micro-batches out.

Each partition runs a ``FeedSession`` (connectors/exchanges/session.py) on its own asyncio loop in a thread and
turns what it receives into items:

- ``RawBatch`` (connectors/batches.py): quote rows + ``quote_id`` "<partition>/<offset>", flushed every
  ``batch_rows`` rows or ``flush_ms`` after the first buffered row. Venue values stay as sent (strings);
  ``ts_recv``/``ts_exchange`` are UTC µs datetimes.
- ``TableBatch("feed_events", ...)``: connects, disconnects, stalls, gaps... (sql/schema/feeds.sql), each with
  ``event_id`` "<partition>/event/<n>". Quotes buffered before an event are flushed first, so within a partition
  the item order is the order things happened. ``input_live`` splits the stream into ``RawBatch`` items and
  ``(table, frame)`` items for the lake sink. A venue whose feed is down contributes no quote to any signal:
  ``feed_up`` says when (sql/schema/feeds.sql) and ``connectors/exchanges/feed_state.stale_leg`` applies it.
- ``TableBatch("books", ...)`` when depth is subscribed (``book_id`` "<partition>/book/<n>").
- ``Progress(partition, ts_recv_us)`` with ``LiveSource(progress=True)``: every quote of the partition with
  ``ts_recv <= ts_recv_us`` has been emitted. The time is stamped by a callback on the venue's own event loop, which
  runs between frames (a frame's ``ts_recv`` is stamped and its quotes emitted within one loop step), and is sent
  through the same inbox as the quotes, so it is exact. Emitted after each flush, and every ``flush_ms`` while the
  venue is quiet. flows/resequence.py uses it to merge the venues in receive-clock order, as replay does.

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
import dataclasses
import datetime as dt
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.batches import RawBatch
from connectors.capture import CaptureWriter
from connectors.config import LiveConfig
from connectors.exchanges import venue_class
from connectors.exchanges.base import raw_quote_frame
from connectors.exchanges.ccxtpro import CcxtProSession, supports_bids_asks
from connectors.exchanges.session import Emit, FeedSession, FeedSettings, now_us
from connectors.markets import market
from connectors.schema import PL_TS

DRAIN_QUIET_S = 0.25  # after stop(): end once nothing has arrived for this long
FEED_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "exchange": pl.String(),
    "symbol": pl.String(),
    "kind": pl.String(),
    "feed_up": pl.Boolean(),
    "ts_recv": PL_TS,
    "ts_exchange": PL_TS,
    "seq_expected": pl.Int64(),
    "seq_received": pl.Int64(),
    "attempt": pl.Int64(),
    "detail": pl.String(),
}
BOOK_SCHEMA: dict[str, pl.DataType] = {
    "book_id": pl.String(), "exchange": pl.String(), "symbol": pl.String(), "bid_px": pl.List(pl.Float64()),
    "bid_qty": pl.List(pl.Float64()), "ask_px": pl.List(pl.Float64()), "ask_qty": pl.List(pl.Float64()),
    "ts_exchange": PL_TS, "ts_recv": PL_TS, "seq": pl.Int64(), "source": pl.String(),
}  # fmt: skip


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
class Progress:
    """The partition has emitted every quote it will ever emit with ``ts_recv <= ts_recv_us`` (UTC µs, receive
    clock)."""

    partition: str
    ts_recv_us: int


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


def _quote_frame(rows: list[dict[str, Any]], partition: str, first_offset: int) -> pl.DataFrame:
    """Raw rows -> a RawBatch frame with ``quote_id`` "<partition>/<offset>"."""
    ids = [f"{partition}/{first_offset + i}" for i in range(len(rows))]
    return raw_quote_frame(rows).with_columns(quote_id=pl.Series(ids, dtype=pl.String))


def _table_frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType], id_col: str, prefix: str,
                 first_offset: int) -> pl.DataFrame:  # fmt: skip
    with_ids = [{id_col: f"{prefix}/{first_offset + i}", **r} for i, r in enumerate(rows)]
    raw_schema = {k: (pl.Int64() if v == PL_TS else v) for k, v in schema.items()}
    frame = pl.DataFrame(with_ids, schema=raw_schema, strict=False)
    return frame.with_columns([pl.col(k).cast(PL_TS) for k, v in schema.items() if v == PL_TS])


LiveItem = RawBatch | TableBatch | Progress


class _LivePartition(StatefulSourcePartition[LiveItem, dict[str, int]]):
    def __init__(self, venue: LiveVenue, settings: FeedSettings, batch_rows: int, flush_ms: float,
                 resume: dict[str, int] | None, run_for_s: float | None, capture: CaptureWriter | None,
                 stop: Callable[[], bool] | None, progress: bool = False) -> None:  # fmt: skip
        self.venue, self.partition = venue, venue.partition
        self.batch_rows, self.flush_s = batch_rows, flush_ms / 1000.0
        self.offsets = dict(
            resume or {"quote": 0, "event": 0, "book": 0, "batch": 0, "event_batch": 0, "book_batch": 0}
        )
        self.deadline = time.monotonic() + run_for_s if run_for_s is not None else None
        self.stop = stop
        self.stop_seen = 0.0  # monotonic time stop() was first seen true; 0 = not yet
        self.last_item = time.monotonic()
        self.capture = capture
        self.inbox: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self.quotes: list[dict[str, Any]] = []
        self.books: list[dict[str, Any]] = []
        self.first_buffered = 0.0
        self.progress = progress
        self.mark_pending = False  # a progress stamp is queued on the venue loop
        self.mark_us = 0  # newest progress stamp taken out of the inbox
        self.progress_sent_us = 0
        self.progress_sent_at = 0.0  # monotonic
        session = venue.session(settings, lambda kind, row: self.inbox.put((kind, row)))
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(session.run())
        self.thread = threading.Thread(target=self._run, name=f"arbflow-{self.partition}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    def _stamp(self) -> None:
        """Runs on the venue loop, between frames: every quote stamped before now is already in the inbox."""
        self.inbox.put(("progress", {"ts_recv": now_us() - 1}))  # -1: a later frame may share this µs

    def next_batch(self) -> list[LiveItem]:
        out: list[LiveItem] = []
        events: list[dict[str, Any]] = []
        if self.progress and not self.mark_pending:
            try:
                self.loop.call_soon_threadsafe(self._stamp)
                self.mark_pending = True
            except RuntimeError:
                pass  # the venue loop has ended: no more quotes, and no more progress (the hold limit applies)
        flushed = False
        while True:
            try:
                kind, row = self.inbox.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                self.mark_pending, self.mark_us = False, row["ts_recv"]
                continue
            self.last_item = time.monotonic()
            if kind == "event":
                self._flush_data(out)  # what arrived before the event goes out before it
                events.append(row)
                continue
            if events:
                out.append(self._events(events))
                events = []
            if not self.quotes and not self.books:
                self.first_buffered = time.monotonic()
            (self.quotes if kind == "quote" else self.books).append(row)
            if len(self.quotes) >= self.batch_rows:
                self._flush_data(out)
        if events:
            out.append(self._events(events))
        finished = self._finished()
        if (self.quotes or self.books) and (finished or time.monotonic() - self.first_buffered >= self.flush_s):
            self._flush_data(out)
            flushed = True
        if self.progress and not self.quotes and not finished:
            self._progress(out, flushed)
        if finished and not out:
            self.close()
            raise StopIteration
        return out

    def _progress(self, out: list[LiveItem], flushed: bool) -> None:
        """After a flush, or every ``flush_ms`` while quiet: the newest stamp, if it moved (nothing is buffered, so
        every quote stamped before it has been emitted)."""
        now = time.monotonic()
        if self.mark_us > self.progress_sent_us and (flushed or now - self.progress_sent_at >= self.flush_s):
            out.append(Progress(self.partition, self.mark_us))
            self.progress_sent_us, self.progress_sent_at = self.mark_us, now

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
            first = self.offsets["quote"]
            frame = _quote_frame(self.quotes, self.partition, first)
            out.append(RawBatch(self.offsets["batch"], self.partition, frame))
            if self.capture is not None:
                self.capture.write(frame, first)
            self.offsets["quote"] += len(self.quotes)
            self.offsets["batch"] += 1
            self.quotes = []
        if self.books:
            frame = _table_frame(self.books, BOOK_SCHEMA, "book_id", f"{self.partition}/book", self.offsets["book"])
            out.append(TableBatch("books", self.offsets["book_batch"], self.partition, frame))
            self.offsets["book"] += len(self.books)
            self.offsets["book_batch"] += 1
            self.books = []

    def _events(self, rows: list[dict[str, Any]]) -> TableBatch:
        frame = _table_frame(rows, FEED_EVENT_SCHEMA, "event_id", f"{self.partition}/event", self.offsets["event"])
        batch = TableBatch("feed_events", self.offsets["event_batch"], self.partition, frame)
        self.offsets["event"] += len(rows)
        self.offsets["event_batch"] += 1
        return batch

    def next_awake(self) -> dt.datetime | None:
        wait_s = 0.01  # poll the inbox at 100 Hz; flush_ms bounds the added latency
        if self.quotes or self.books:
            wait_s = min(wait_s, max(0.0, self.first_buffered + self.flush_s - time.monotonic()))
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait_s)

    def snapshot(self) -> dict[str, int]:
        """Offsets only: a live feed cannot be re-read, but resumed ids must continue, not collide."""
        return dict(self.offsets)

    def close(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.task.cancel)
        except RuntimeError:
            pass  # the loop already finished and closed
        self.thread.join(timeout=5.0)
        if self.capture is not None:
            self.capture.flush()


class LiveSource(FixedPartitionedSource[LiveItem, dict[str, int]]):
    """Live quotes (and feed events, books) from several venues; one partition per venue.

    Args:
        venues: the connections.
        settings: timing shared by all venues (its ``ws_url``/``rest_url`` are defaults a ``LiveVenue`` overrides;
            empty = the venue's production endpoint).
        batch_rows: flush a quote batch at this many rows...
        flush_ms: ...or this long after its first row arrived, whichever comes first.
        run_for_s: stop after this long (captures of a fixed length, tests); None = run until stopped.
        stop: polled by every partition; once it returns True the partition drains what is still arriving (until
            ``DRAIN_QUIET_S`` of silence), flushes and ends: a graceful shutdown hook (signal handler, tests).
        capture_dir: also write every quote to Parquet capture files there (connectors/capture.py).
        capture_rows_per_file: capture file size limit in rows.
        progress: also emit ``Progress`` items (for flows/resequence.py).
    """

    def __init__(self, venues: list[LiveVenue], settings: FeedSettings | None = None, batch_rows: int = 1000,
                 flush_ms: float = 50.0, run_for_s: float | None = None, capture_dir: str | None = None,
                 capture_rows_per_file: int = 100_000, stop: Callable[[], bool] | None = None,
                 progress: bool = False) -> None:  # fmt: skip
        names = [v.partition for v in venues]
        if len(set(names)) != len(names):
            msg = f"one LiveVenue per exchange: got {names}"
            raise ValueError(msg)
        for v in venues:
            v.validate()
        self.venues = {v.partition: v for v in venues}
        self.settings = settings or FeedSettings(ws_url="")
        self.batch_rows, self.flush_ms, self.run_for_s = batch_rows, flush_ms, run_for_s
        self.capture_dir, self.capture_rows_per_file = capture_dir, capture_rows_per_file
        self.stop = stop
        self.progress = progress

    def list_parts(self) -> list[str]:
        return list(self.venues)

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, int] | None) -> _LivePartition:
        venue = self.venues[for_part]
        settings = venue.endpoints(self.settings)
        capture = (
            CaptureWriter(self.capture_dir, venue.exchange, self.capture_rows_per_file) if self.capture_dir else None
        )
        return _LivePartition(venue, settings, self.batch_rows, self.flush_ms, resume_state, self.run_for_s, capture,
                              self.stop, self.progress)  # fmt: skip


@dataclass(frozen=True)
class LiveStreams:
    """What ``input_live`` returns.

    Attributes:
        quotes: ``RawBatch`` items, for the normalize step (same type as replay and simulator sources).
        tables: ``(table_name, frame)`` items (``feed_events``, ``books``), ready for the lake sink.
        feed_events: the ``feed_events`` frames alone, for the step that marks a venue stale
            (see connectors/exchanges/feed_state.py).
        quotes_and_progress: ``RawBatch`` and ``Progress`` items in each partition's emission order (for
            flows/resequence.py; ``Progress`` only with ``LiveSource(progress=True)``).
    """

    quotes: Stream[RawBatch]
    tables: Stream[tuple[str, pl.DataFrame]]
    feed_events: Stream[pl.DataFrame]
    quotes_and_progress: Stream[RawBatch | Progress]


def _table_item(item: LiveItem) -> tuple[str, pl.DataFrame]:
    if not isinstance(item, TableBatch):
        msg = f"expected a TableBatch after the RawBatch branch, got {type(item).__name__}"
        raise TypeError(msg)
    return item.table, item.frame


def input_live(step_id: str, flow: Dataflow, source: LiveSource) -> LiveStreams:
    """``op.input`` for a LiveSource, split into its quote batches (and progress) and its table rows."""
    items = op.input(step_id, flow, source)
    split = op.branch(f"{step_id}_split", items, lambda item: not isinstance(item, TableBatch))
    quotes = op.filter(f"{step_id}_quotes", split.trues, lambda item: isinstance(item, RawBatch))
    tables = op.map(f"{step_id}_tables", split.falses, _table_item)
    events = op.filter_map(f"{step_id}_feed_events", tables, lambda kv: kv[1] if kv[0] == "feed_events" else None)
    return LiveStreams(quotes, tables, events, split.trues)  # type: ignore[arg-type]


def live_source(cfg: LiveConfig) -> LiveSource:
    """The ``[live]`` configuration section -> a LiveSource (what ``source.kind = "live"`` runs)."""
    settings = FeedSettings(
        ws_url="", stall_timeout_s=cfg.stall_timeout_s, backoff_initial_s=cfg.backoff_initial_s,
        backoff_max_s=cfg.backoff_max_s, backoff_jitter=cfg.backoff_jitter, max_clock_skew_ms=cfg.max_clock_skew_ms,
    )  # fmt: skip
    venues = [
        LiveVenue(
            name,
            list(cfg.symbols),
            depth=cfg.depth,
            ws_url=cfg.ws_urls.get(name),
            rest_url=cfg.rest_urls.get(name),
            options={"quote_channel": cfg.okx_quote_channel}
            if name == "okx" and cfg.transports.get(name, "native") == "native"
            else {},
            transport=cfg.transports.get(name, "native"),
        )
        for name in cfg.venues
    ]
    return LiveSource(venues, settings, batch_rows=cfg.batch_rows, flush_ms=cfg.flush_ms,
                      run_for_s=cfg.run_for_s or None, capture_dir=cfg.capture_dir or None,
                      capture_rows_per_file=cfg.capture_rows_per_file, progress=cfg.reorder_ms > 0)  # fmt: skip
