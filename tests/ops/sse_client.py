"""Test clients of ``/api/signals/stream``: a reading client on a thread, and a raw socket that stalls on purpose."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx


@dataclass(frozen=True)
class Event:
    event: str
    id: str | None
    data: str

    @property
    def dropped(self) -> int:
        return int(json.loads(self.data)["dropped"]) if self.event == "dropped" else 0


def parse_events(lines: Iterator[str]) -> Iterator[Event]:
    """SSE lines -> events (comments such as ``: ping`` are skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in fields or "data" in fields:
                yield Event(fields.get("event", "message"), fields.get("id"), fields.get("data", ""))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


@dataclass
class Reader:
    """Reads the stream on a thread until ``until(events)`` holds or ``timeout_s`` passes (pings keep it awake)."""

    url: str
    key: str
    until: Callable[[list[Event]], bool]
    last_event_id: str | None = None
    timeout_s: float = 60.0
    events: list[Event] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.connected.wait(10):
            msg = "stream did not connect"
            raise AssertionError(msg)

    def _run(self) -> None:
        headers = {"x-api-key": self.key}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        deadline = time.monotonic() + self.timeout_s
        with httpx.stream("GET", f"{self.url}/api/signals/stream", headers=headers, timeout=10) as response:
            response.raise_for_status()
            self.connected.set()
            lines = response.iter_lines()
            for event in parse_events(_until(lines, deadline, lambda: self.until(self.events))):
                self.events.append(event)

    def ids(self) -> list[str]:
        return [e.id for e in self.events if e.event == "signal" and e.id is not None]

    def join(self) -> list[str]:
        self.thread.join(self.timeout_s + 10)
        return self.ids()


def _until(lines: Iterator[str], deadline: float, done: Callable[[], bool]) -> Iterator[str]:
    for line in lines:
        yield line
        if line == "" and done() or time.monotonic() > deadline:
            return


class StalledClient:
    """Sends the request with a tiny receive buffer and reads nothing until ``read_events`` is called."""

    def __init__(self, url: str, key: str) -> None:
        parsed = urlparse(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small, fixed window
        self.sock.connect((parsed.hostname, parsed.port))
        request = f"GET /api/signals/stream HTTP/1.1\r\nHost: {parsed.netloc}\r\nx-api-key: {key}\r\n\r\n"
        self.sock.sendall(request.encode())

    def read_events(self, until: Callable[[list[Event]], bool], timeout_s: float = 60.0) -> list[Event]:
        """Now read: decode the chunked body into events until ``until(events)`` holds."""
        self.sock.settimeout(timeout_s)
        body = self.sock.makefile("rb")
        status = body.readline()
        assert b" 200 " in status, status
        while body.readline() not in (b"\r\n", b""):  # headers
            pass
        events: list[Event] = []
        text = ""
        while not until(events):
            size = int(body.readline().strip(), 16)
            text += body.read(size).decode()
            body.read(2)
            *complete, text = text.split("\n\n")
            for block in complete:
                events.extend(parse_events(iter([*block.split("\n"), ""])))
        self.sock.close()
        return events
