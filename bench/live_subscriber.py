"""The stream subscriber of bench/live_latency.py: the real API (``ops.api.create_app`` served by uvicorn on 127.0.0.1)
bound to the flow's signal bus (``<data_dir>/signals.sock``), and a client of ``GET /api/signals/stream`` (SSE, API
key), each in its own process, as in production, where ``arbflow serve`` and its clients are not the flow's process
(so neither shares the flow's GIL).

Stamps, all on the receive clock (UTC wall clock, µs: one host, so one clock across the processes):

- API: each datagram as it reaches the hub (``SignalHub.on_datagram``, on the API's event loop, right after the
  receiver thread read it from the socket). The datagram itself carries the publisher's ``ts_published_us``.
- client: each ``event: signal`` the moment its blank line is read from the response.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx

KEY = "bench-stream-key-0123456789"
START_TIMEOUT_S = 60.0


def now_us() -> int:
    return time.time_ns() // 1000


def serve_api(data_dir: str, conn: Connection) -> None:
    """Child process: the API on ``data_dir``; sends its base URL, then (on any message) the hub's stamps as
    ``{signal_id: (ts_published_us, hub_us)}``."""
    from arbflow.settings import load_settings
    from ops.api import create_app
    from ops.api.stream import SignalHub
    from tests.ops.ops_helpers import running_server

    raw: list[tuple[int, bytes]] = []  # parsed after the run, so stamping costs the hop nothing
    on_datagram = SignalHub.on_datagram

    def stamped(hub: SignalHub, datagram: bytes) -> None:
        raw.append((now_us(), datagram))
        on_datagram(hub, datagram)

    SignalHub.on_datagram = stamped  # type: ignore[method-assign]
    settings = load_settings(environ={"ARBFLOW__SINKS__DATA_DIR": json.dumps(data_dir)})
    with running_server(create_app(settings, api_keys=[KEY])) as base:
        conn.send(base)
        conn.recv()
    stamps: dict[str, tuple[int, int]] = {}
    for hub_us, datagram in raw:
        doc = json.loads(datagram)
        for row in doc["signals"]:
            stamps.setdefault(row["signal_id"], (int(doc["ts_published_us"]), hub_us))
    conn.send(stamps)


def subscribe(base_url: str, conn: Connection) -> None:
    """Child process: read the stream; says "connected", then (on any message) sends ``{signal_id: arrival µs}``."""
    from tests.ops.sse_client import parse_events

    got: dict[str, int] = {}

    def read() -> None:
        with httpx.stream("GET", f"{base_url}/api/signals/stream", headers={"x-api-key": KEY}, timeout=None) as r:
            r.raise_for_status()
            conn.send("connected")
            for event in parse_events(r.iter_lines()):
                if event.event == "signal" and event.id is not None:
                    got.setdefault(event.id, now_us())

    threading.Thread(target=read, daemon=True).start()
    conn.recv()
    conn.send(dict(got))


@dataclass
class Subscriber:
    """The API and client processes of one run; ``stop`` collects their stamps."""

    api: BaseProcess
    api_conn: Connection
    client: BaseProcess
    client_conn: Connection

    @staticmethod
    def start(data_dir: Path) -> Subscriber:
        ctx = mp.get_context("spawn")  # the parent holds Polars and Bytewax threads: never fork it
        api_conn, api_child = ctx.Pipe()
        api = ctx.Process(target=serve_api, args=(str(data_dir), api_child), daemon=True)
        api.start()
        base = _recv(api_conn, "the API to start")
        client_conn, client_child = ctx.Pipe()
        client = ctx.Process(target=subscribe, args=(base, client_child), daemon=True)
        client.start()
        _recv(client_conn, "the stream client to connect")
        return Subscriber(api, api_conn, client, client_conn)

    def stop(self) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
        """(signal_id -> (published µs, at the API hub µs), signal_id -> delivered to the SSE client µs)."""
        self.client_conn.send("stop")
        delivered = _recv(self.client_conn, "the client's stamps")
        self.api_conn.send("stop")
        hub = _recv(self.api_conn, "the API's stamps")
        for process in (self.client, self.api):
            process.join(10)
            if process.is_alive():
                process.terminate()
        return hub, delivered


def _recv(conn: Connection, what: str) -> Any:
    if not conn.poll(START_TIMEOUT_S):
        msg = f"timed out waiting for {what}"
        raise RuntimeError(msg)
    return conn.recv()
