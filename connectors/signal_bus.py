"""Signals out first: the flow process pushes signal rows to the API over a Unix datagram socket, before the lake.

Wire format (one datagram = one JSON object, UTF-8)::

    {"publisher": "<host>:<pid>:<random>", "seq": 7, "ts_published_us": 1764870000123456, "signals": [{...}, ...]}

``seq`` counts this publisher's datagrams from 1, so the receiver detects gaps (datagrams dropped here or by the
kernel). ``ts_published_us`` is the publisher's UTC wall clock in µs. The rows of one frame travel together, split
into datagrams of at most ``MAX_DATAGRAM_BYTES``: Linux queues only ``net.unix.max_dgram_qlen`` datagrams per
receiving socket (10 on many hosts), so a datagram per row would drop any burst of more than ten signals.

Sending never blocks: no API bound, a full receive queue or any ``OSError`` drops the datagram and counts it, so a
slow or absent subscriber never slows the flow. The socket path is ``<data_dir>/signals.sock``; the API binds it
with mode 0600, so only the owner's processes can inject signals. Framework-agnostic (no Bytewax import).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

SOCKET_NAME = "signals.sock"
MAX_DATAGRAM_BYTES = 60_000  # below the default 212,992-byte socket send buffer, so one datagram always fits


def socket_path(data_dir: str | Path) -> Path:
    """Where the API binds and the flow sends: ``<data_dir>/signals.sock``."""
    return Path(data_dir) / SOCKET_NAME


@dataclass(frozen=True)
class PublisherCounts:
    """What one publisher did: datagrams and rows sent, datagrams and rows dropped (never delivered)."""

    sent_datagrams: int = 0
    sent_rows: int = 0
    dropped_datagrams: int = 0
    dropped_rows: int = 0


def signal_lines(frame: pl.DataFrame) -> list[bytes]:
    """Each row of ``frame`` as one JSON object (datetimes ISO 8601 UTC), vectorized by Polars."""
    if frame.height == 0:
        return []
    return [line.encode() for line in frame.write_ndjson().splitlines() if line]


def envelopes(publisher: str, first_seq: int, ts_published_us: int, lines: list[bytes]) -> list[tuple[bytes, int]]:
    """Pack row JSON ``lines`` into (datagram, row count) pairs of at most ``MAX_DATAGRAM_BYTES`` each (a longer
    single row stays alone: the kernel refuses it and it is counted as dropped)."""
    head = f'{{"publisher":{json.dumps(publisher)},"seq":'.encode()
    out: list[tuple[bytes, int]] = []
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > MAX_DATAGRAM_BYTES - 200:
            out.append(_envelope(head, first_seq + len(out), ts_published_us, chunk))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        out.append(_envelope(head, first_seq + len(out), ts_published_us, chunk))
    return out


def _envelope(head: bytes, seq: int, ts_published_us: int, rows: list[bytes]) -> tuple[bytes, int]:
    body = head + f'{seq},"ts_published_us":{ts_published_us},"signals":['.encode() + b",".join(rows) + b"]}"
    return body, len(rows)


class SignalPublisher:
    """Thread-safe, non-blocking sender shared by every worker thread of a process (one ``seq`` per publisher)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.publisher_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._lock = threading.Lock()
        self._seq = 0
        self._counts = PublisherCounts()

    @property
    def counts(self) -> PublisherCounts:
        return self._counts

    def publish(self, frame: pl.DataFrame) -> PublisherCounts:
        """Send the rows of one signals frame now; returns the running counts (drops included)."""
        lines = signal_lines(frame)
        if not lines:
            return self._counts
        with self._lock:
            datagrams = envelopes(self.publisher_id, self._seq + 1, time.time_ns() // 1000, lines)
            self._seq += len(datagrams)
            c = self._counts
            sent_d = sent_r = dropped_d = dropped_r = 0
            for datagram, rows in datagrams:
                try:
                    self._sock.sendto(datagram, self.path)
                    sent_d, sent_r = sent_d + 1, sent_r + rows
                except OSError:  # no API bound (ENOENT, ECONNREFUSED), queue full (EAGAIN), too big: drop, count
                    dropped_d, dropped_r = dropped_d + 1, dropped_r + rows
            self._counts = PublisherCounts(
                c.sent_datagrams + sent_d,
                c.sent_rows + sent_r,
                c.dropped_datagrams + dropped_d,
                c.dropped_rows + dropped_r,
            )
            return self._counts

    def close(self) -> None:
        self._sock.close()
