"""Fake venue servers that replay recorded payloads over a real WebSocket on 127.0.0.1.

Each server runs its own asyncio loop in a thread (the code under test runs Bytewax on the main thread) and plays
one *script* per accepted connection: a list of actions. Faults are actions too, so a test reads like the incident:

- ``("send", msg)``: a venue message (dict), encoded the venue's way (HTX: gzip), timestamps rebased (see below).
- ``("raw", frame)``: bytes/str sent as they are (garbage, truncated gzip).
- ``("drop",)``: abort the TCP connection without a close frame.
- ``("wait_resubscribe",)``: go silent until the client subscribes a second time on this connection.
- ``("publish_only", msg)``: Binance depth: the exchange's book moves but the diff is never sent (a sequence gap).
- ``("sleep", seconds)``.

Recorded venue timestamps are years old; a venue that sends them (OKX ``ts``, HTX ``ts``/``quoteTime``) has them
re-based to the replay: the first frame carries "now" (+ ``skew_ms``, to fake a venue clock running ahead) and later
frames keep their recorded spacing divided by ``speed``; frames are also *sent* at that pace. Every re-based venue
timestamp of a quote is appended to ``sent_ts_ms`` so tests compare against what went over the wire.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

Action = tuple[Any, ...]


class FakeExchange:
    """Base: connection bookkeeping and the script player; subclasses speak a venue's protocol."""

    path = "/"

    def __init__(self, scripts: list[list[Action]], skew_ms: float = 0.0, ping_interval_s: float | None = None,
                 speed: float = 30.0) -> None:  # fmt: skip
        self.scripts = scripts
        self.skew_ms = skew_ms
        self.ping_interval_s = ping_interval_s
        self.speed = speed
        self._t0: tuple[int, int, float] | None = None  # (recorded ms, wall ms, loop time) of the first frame
        self._due_s: float | None = None
        self.sent_ts_ms: list[int] = []
        self.connections = 0
        self.received: list[tuple[int, str]] = []  # (connection index, client message)
        self.subscribes: dict[int, int] = {}
        self.http_requests: list[str] = []
        self.finished = threading.Event()  # set once the last script has been played to its end
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    # ---- lifecycle
    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, process_request=self._http) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    # ---- protocol hooks
    def encode(self, msg: Any) -> str | bytes:
        return json.dumps(msg, separators=(",", ":"))

    def on_message(self, text: str) -> tuple[bool, list[Any]]:
        """A client message -> (is it a subscribe?, replies)."""
        raise NotImplementedError

    def rebase(self, msg: Any) -> Any:
        return msg

    def http(self, path: str, query: dict[str, list[str]]) -> Any:
        return None

    def shift(self, ts_ms: int) -> int:
        """Recorded venue ms -> replay venue ms; also sets when the frame is due (recorded spacing / speed)."""
        if self._t0 is None:
            self._t0 = (int(ts_ms), int(time.time() * 1000), asyncio.get_running_loop().time())
        offset_ms = (int(ts_ms) - self._t0[0]) / self.speed
        self._due_s = self._t0[2] + offset_ms / 1000.0
        return int(self._t0[1] + self.skew_ms + offset_ms)

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        parsed = urlparse(request.path)
        self.http_requests.append(request.path)
        body = self.http(parsed.path, parse_qs(parsed.query))
        if body is None:
            return connection.respond(404, "not found\n")
        data = json.dumps(body).encode()
        return Response(200, "OK", Headers({"Content-Type": "application/json", "Content-Length": str(len(data))}),
                        data)  # fmt: skip

    # ---- connection
    async def _handler(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        self.subscribes[index] = 0
        script = self.scripts[index] if index < len(self.scripts) else []
        subscribed = asyncio.Condition()

        async def reader() -> None:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                self.received.append((index, text))
                is_sub, replies = self.on_message(text)
                for reply in replies:
                    await ws.send(self.encode(reply) if not isinstance(reply, str) else reply)
                if is_sub:
                    async with subscribed:
                        self.subscribes[index] += 1
                        subscribed.notify_all()

        async def pinger() -> None:
            while self.ping_interval_s:
                await asyncio.sleep(self.ping_interval_s)
                await ws.send(self.encode({"ping": int(time.time() * 1000)}))

        tasks = [asyncio.create_task(reader()), asyncio.create_task(pinger())]
        try:
            async with subscribed:
                await subscribed.wait_for(lambda: self.subscribes[index] >= 1)
            for action in script:
                if action[0] == "send":
                    self._due_s = None
                    msg = self.rebase(action[1])
                    if self._due_s is not None:
                        await asyncio.sleep(max(0.0, self._due_s - asyncio.get_running_loop().time()))
                    await ws.send(self.encode(msg))
                elif action[0] == "raw":
                    await ws.send(action[1])
                elif action[0] == "drop":
                    ws.transport.abort()
                    return
                elif action[0] == "wait_resubscribe":
                    async with subscribed:
                        await subscribed.wait_for(lambda: self.subscribes[index] >= 2)
                elif action[0] == "publish_only":
                    self.rebase(action[1])
                elif action[0] == "sleep":
                    await asyncio.sleep(action[1])
            if index >= len(self.scripts) - 1:
                self.finished.set()
            await ws.wait_closed()
        except (ConnectionClosed, OSError):
            pass  # a client going away mid-script ends this connection only
        finally:
            for task in tasks:
                task.cancel()


class FakeBinance(FakeExchange):
    """Combined streams on ``/stream`` with ``SUBSCRIBE``; REST ``/api/v3/depth`` serves the exchange's current
    book (recorded snapshot + every diff published so far, sent or not)."""

    def __init__(self, scripts: list[list[Action]], snapshot: dict[str, Any], **kw: Any) -> None:
        super().__init__(scripts, **kw)
        self.book_id = int(snapshot["lastUpdateId"])
        self.bids = {p: q for p, q in snapshot["bids"]}
        self.asks = {p: q for p, q in snapshot["asks"]}

    def on_message(self, text: str) -> tuple[bool, list[Any]]:
        msg = json.loads(text)
        if msg.get("method") == "SUBSCRIBE":
            return True, [{"result": None, "id": msg.get("id")}]
        return False, []

    def rebase(self, msg: Any) -> Any:
        data = msg.get("data", {})
        if data.get("e") == "depthUpdate":  # the exchange's own book follows every diff it publishes
            for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
                for p, q in levels:
                    if float(q) == 0.0:
                        side.pop(p, None)
                    else:
                        side[p] = q
            self.book_id = int(data["u"])
        return msg

    def http(self, path: str, query: dict[str, list[str]]) -> Any:
        if path != "/api/v3/depth":
            return None
        bids = sorted(self.bids.items(), key=lambda kv: -float(kv[0]))
        asks = sorted(self.asks.items(), key=lambda kv: float(kv[0]))
        return {"lastUpdateId": self.book_id, "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}


class FakeOkx(FakeExchange):
    """``/ws/v5/public``: subscribe op acked per arg; text ``ping`` -> ``pong``; pushes only for subscribed args."""

    def __init__(self, scripts: list[list[Action]], **kw: Any) -> None:
        super().__init__(scripts, **kw)
        self.pings = 0

    def on_message(self, text: str) -> tuple[bool, list[Any]]:
        if text == "ping":
            self.pings += 1
            return False, ["pong"]
        msg = json.loads(text)
        if msg.get("op") == "subscribe":
            return True, [{"event": "subscribe", "arg": arg} for arg in msg["args"]]
        if msg.get("op") == "unsubscribe":
            return False, [{"event": "unsubscribe", "arg": arg} for arg in msg["args"]]
        return False, [{"event": "error", "code": "60012", "msg": f"Invalid request: {text[:40]}"}]

    def rebase(self, msg: Any) -> Any:
        msg = json.loads(json.dumps(msg))
        for item in msg.get("data", []):
            if "ts" in item:
                item["ts"] = str(self.shift(int(item["ts"])))
                self.sent_ts_ms.append(int(item["ts"]))
        return msg


class FakeHtx(FakeExchange):
    """``/ws``: gzip frames, ``sub`` acked with ``subbed``, server ``{"ping": ms}`` answered by ``{"pong": ms}``."""

    def __init__(self, scripts: list[list[Action]], **kw: Any) -> None:
        super().__init__(scripts, **kw)
        self.pongs: list[int] = []

    def encode(self, msg: Any) -> bytes:
        return gzip.compress(json.dumps(msg, separators=(",", ":")).encode())

    def on_message(self, text: str) -> tuple[bool, list[Any]]:
        msg = json.loads(text)
        if "pong" in msg:
            self.pongs.append(int(msg["pong"]))
            return False, []
        if "sub" in msg:
            return True, [{"id": msg.get("id"), "status": "ok", "subbed": msg["sub"], "ts": int(time.time() * 1000)}]
        return False, [{"status": "error", "err-code": "bad-request", "err-msg": text[:40]}]

    def rebase(self, msg: Any) -> Any:
        msg = json.loads(json.dumps(msg))
        if "ping" in msg:
            return msg
        tick = msg.get("tick", {})
        for key in ("quoteTime", "ts"):
            if key in tick:
                tick[key] = self.shift(tick[key])
        msg["ts"] = self.shift(msg["ts"])  # last: the frame is due at its own time
        if "quoteTime" in tick:
            self.sent_ts_ms.append(tick["quoteTime"])
        return msg
