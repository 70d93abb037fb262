"""``GET /api/signals/stream``: signals as Server-Sent Events the moment the flow computes them (before the lake).

The flow publishes datagrams to ``<data_dir>/signals.sock`` (connectors/signal_bus.py). ``SignalReceiver`` binds that
socket and reads it on its own thread, so a busy event loop never lets the kernel queue fill; it hands each batch to
the ``SignalHub`` on the loop. The hub keeps a ring of the last ``RING_SIZE`` signals (ids deduplicated, so a
resumed flow republishing a signal sends it once) and fans out to subscribers, each with a bounded queue: when a
subscriber's queue is full its signals are dropped for it alone, and it receives an ``event: dropped`` notice.

Contract (the dashboard codes against it)::

    id: <signal_id>\\nevent: signal\\ndata: <signal row as JSON>\\n\\n
    : ping\\n\\n                                 every ping_s (15 s)
    event: dropped\\ndata: {"dropped": n}\\n\\n    n signals this subscriber missed because it read too slowly

A reconnect with ``Last-Event-ID`` first replays the ring after that id (the whole ring when the id is unknown or
has left the ring).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from connectors.logs import with_fields
from connectors.signal_bus import socket_path

log = logging.getLogger(__name__)
RING_SIZE = 1000
QUEUE_SIZE = 1000
PING_S = 15.0


@dataclass
class StreamStats:
    """Counters for /metrics: datagrams and signals received, seq gaps, duplicates, per-subscriber drops."""

    datagrams: int = 0
    signals: int = 0
    gaps: int = 0  # datagrams a publisher sent (seq) that never arrived
    duplicates: int = 0
    bad_datagrams: int = 0
    subscriber_drops: int = 0
    last_seq: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Dropped:
    """Marker in a subscriber queue: ``n`` signals were dropped for it at this point."""

    n: int


class Subscriber:
    """One stream client: a bounded queue filled by the hub (never blocking it) and drained by the response."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.queue: deque[tuple[str, str] | Dropped] = deque()
        self.dropped = 0  # signals dropped since the last marker
        self.wake = asyncio.Event()

    def offer(self, item: tuple[str, str]) -> bool:
        """Queue ``item`` unless full; returns False (and counts) when it was dropped for this subscriber."""
        if len(self.queue) >= self.capacity:
            self.dropped += 1
            self.wake.set()
            return False
        if self.dropped:
            self.queue.append(Dropped(self.dropped))
            self.dropped = 0
        self.queue.append(item)
        self.wake.set()
        return True

    def take(self) -> list[tuple[str, str] | Dropped]:
        """Everything queued, then the pending drop notice (drops after the last queued item)."""
        items = list(self.queue)
        self.queue.clear()
        if self.dropped:
            items.append(Dropped(self.dropped))
            self.dropped = 0
        self.wake.clear()
        return items


class SignalHub:
    """Ring + fan-out; every method runs on the event loop thread, so subscribe-and-replay is atomic with publish."""

    def __init__(self, ring_size: int = RING_SIZE, queue_size: int = QUEUE_SIZE) -> None:
        self.ring: OrderedDict[str, str] = OrderedDict()  # signal_id -> JSON, arrival order
        self.ring_size, self.queue_size = ring_size, queue_size
        self.subscribers: set[Subscriber] = set()
        self.stats = StreamStats()

    def publish(self, signals: list[tuple[str, str]]) -> None:
        for signal_id, data in signals:
            if signal_id in self.ring:
                self.stats.duplicates += 1
                continue
            self.ring[signal_id] = data
            if len(self.ring) > self.ring_size:
                self.ring.popitem(last=False)
            self.stats.signals += 1
            for sub in self.subscribers:
                if not sub.offer((signal_id, data)):
                    self.stats.subscriber_drops += 1

    def subscribe(self, last_event_id: str | None) -> Subscriber:
        """A new subscriber, its queue pre-filled with the ring after ``last_event_id`` (all of it if unknown)."""
        sub = Subscriber(self.queue_size)
        if last_event_id is not None:
            items = list(self.ring.items())
            ids = [signal_id for signal_id, _ in items]
            start = ids.index(last_event_id) + 1 if last_event_id in self.ring else 0
            for item in items[start:]:
                sub.offer(item)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def on_datagram(self, datagram: bytes) -> None:
        """Parse one publisher datagram, record seq gaps, publish its signals."""
        try:
            doc = json.loads(datagram)
            publisher, seq = str(doc["publisher"]), int(doc["seq"])
            rows = [(str(row["signal_id"]), json.dumps(row, separators=(",", ":"))) for row in doc["signals"]]
        except (ValueError, KeyError, TypeError):
            self.stats.bad_datagrams += 1
            log.warning("bad signal datagram dropped", **with_fields(bytes=len(datagram)))
            return
        self.stats.datagrams += 1
        last = self.stats.last_seq.get(publisher)
        if last is not None and seq > last + 1:
            self.stats.gaps += seq - last - 1
        self.stats.last_seq[publisher] = max(seq, last or 0)
        self.publish(rows)


def sse_signal(signal_id: str, data: str) -> bytes:
    return f"id: {signal_id}\nevent: signal\ndata: {data}\n\n".encode()


async def sse_events(hub: SignalHub, last_event_id: str | None, ping_s: float) -> AsyncIterator[bytes]:
    """The response body of one subscriber: the replay, then its signals, drop notices and pings, until it
    disconnects (subscribing here, not in the route, so a client gone before the first byte leaves nothing behind)."""
    sub = hub.subscribe(last_event_id)
    try:
        yield b": connected\n\n"
        while True:
            if not sub.queue and not sub.dropped:
                try:
                    await asyncio.wait_for(sub.wake.wait(), ping_s)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
            chunk = b"".join(
                f'event: dropped\ndata: {{"dropped": {item.n}}}\n\n'.encode()
                if isinstance(item, Dropped)
                else sse_signal(*item)
                for item in sub.take()
            )
            if chunk:
                yield chunk
    finally:
        hub.unsubscribe(sub)


class SignalReceiver:
    """Binds ``<data_dir>/signals.sock`` (mode 0600) and feeds the hub from a reader thread."""

    def __init__(self, data_dir: str | Path, hub: SignalHub) -> None:
        self.path = socket_path(data_dir)
        self.hub = hub
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._inode: int | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind atomically: a private temporary name, chmod 0600, then rename over any stale socket file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(tmp))
        os.chmod(tmp, 0o600)
        with contextlib.suppress(OSError):  # best effort: the kernel caps it at net.core.rmem_max
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        tmp.replace(self.path)
        self._inode = self.path.stat().st_ino
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._read, args=(loop,), name="signal-receiver", daemon=True)
        self._thread.start()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        sock = self._sock
        while sock is not None and sock.fileno() >= 0:
            try:
                datagram = sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            try:
                loop.call_soon_threadsafe(self.hub.on_datagram, datagram)
            except RuntimeError:  # the loop has closed
                return

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        sock.close()
        if self._thread is not None:
            self._thread.join(2.0)
        with contextlib.suppress(OSError):  # leave a newer API's socket in place
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()


def stream_metrics(stats: StreamStats, subscribers: int) -> dict[str, tuple[float, str]]:
    """Gauge name -> (value, help) for the Prometheus collector."""
    return {
        "arbflow_signal_stream_datagrams": (stats.datagrams, "Signal datagrams received from the flow"),
        "arbflow_signal_stream_signals": (stats.signals, "Distinct signals received and fanned out"),
        "arbflow_signal_stream_seq_gaps": (stats.gaps, "Datagrams missing by publisher seq (dropped before the API)"),
        "arbflow_signal_stream_duplicates": (stats.duplicates, "Signals received again (already in the ring)"),
        "arbflow_signal_stream_bad_datagrams": (stats.bad_datagrams, "Datagrams that were not valid signal JSON"),
        "arbflow_signal_stream_subscriber_drops": (stats.subscriber_drops, "Signals dropped for slow subscribers"),
        "arbflow_signal_stream_subscribers": (subscribers, "Connected stream subscribers"),
    }
