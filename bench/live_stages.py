"""Per-stage clocks for bench/live_latency.py: when each quote batch passed each step of the real flow.

The bench runs ``build_flow`` in its own process, so it wraps (in that process only, never in the product) the
functions the flow already calls at each step boundary, and stamps the receive clock (UTC wall clock, µs, the clock
``ts_recv`` is on) when each returns:

- ``emit``: ``connectors.live._LivePartition._drain`` returned the batch (the source hands it to Bytewax);
- ``checked``: ``flows.arbitrage.check_batch`` returned (normalize, QingXi row checks, the quality gate);
- ``cleaned``: ``flows.common.clean_stage.clean_batch`` returned (the stateful stream checks, once per batch);
- ``signal``: ``flows.cross.step.process_symbol`` returned for the batch's last symbol slice (cross evaluation done:
  signal rows exist);
- ``subscriber``: a signal row arrived at a Unix-datagram subscriber bound at ``connectors.signal_bus.socket_path``
  (only once the signal publisher of branch ``api`` is merged; until then the hop reports n/a);
- ``durable``: the lake part file holding the row was renamed into place (its mtime), read after the run.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from connectors import live
from flows import arbitrage
from flows.common import clean_stage
from flows.cross import step as cross_step


def now_us() -> int:
    """The receive clock (connectors/exchanges/session.now_us)."""
    return time.time_ns() // 1000


class Stages:
    """Stamps per quote batch (``batch_seq``) and per signal (``ts_signal`` µs), filled by the wrapped functions."""

    def __init__(self) -> None:
        self.emit_us: dict[int, int] = {}
        self.recv_us: dict[int, np.ndarray] = {}  # batch_seq -> ts_recv of its rows
        self.checked_us: dict[int, int] = {}
        self.cleaned_us: dict[int, int] = {}
        self.signal_done_us: dict[int, int] = {}
        self.signals: list[tuple[int, int]] = []  # (ts_signal µs, computed at µs)
        self.delivered: list[tuple[int, int]] = []  # (ts_signal µs, subscriber received at µs)
        self._undo: list[Callable[[], None]] = []

    def install(self) -> Stages:
        """Wrap the step functions (undone by ``uninstall``)."""
        drain, check, clean, process = (live._LivePartition._drain, arbitrage.check_batch, clean_stage.clean_batch,
                                        cross_step.process_symbol)  # fmt: skip

        def timed_drain(partition: Any) -> list[Any]:
            out = drain(partition)
            t = now_us()
            for item in out:
                if isinstance(item, live.RawBatch):
                    self.emit_us[item.batch_seq] = t
                    self.recv_us[item.batch_seq] = item.frame["ts_recv"].dt.epoch("us").to_numpy()
            return out

        def timed_check(settings: Any, gate: Any, batch: Any) -> Any:
            out = check(settings, gate, batch)
            self.checked_us[batch.batch_seq] = now_us()
            return out

        def timed_clean(streams: Any, checked: Any, cfg: Any) -> Any:
            out = clean(streams, checked, cfg)
            self.cleaned_us[checked.batch_seq] = now_us()
            return out

        def timed_process(settings: Any, params: Any, window: Any, state: Any, item: Any) -> Any:
            seq = int(item["batch_seq"][0]) if isinstance(item, pl.DataFrame) else None
            state, out = process(settings, params, window, state, item)
            t = now_us()
            if seq is not None:
                self.signal_done_us[seq] = max(self.signal_done_us.get(seq, 0), t)
            for table, frame in out.tables:
                if table == "signals" and frame.height:
                    self.signals += [(int(ts), t) for ts in frame["ts_signal"].dt.epoch("us")]
            return state, out

        live._LivePartition._drain = timed_drain  # type: ignore[method-assign]
        arbitrage.check_batch, clean_stage.clean_batch = timed_check, timed_clean
        cross_step.process_symbol = timed_process
        self._undo.append(lambda: setattr(live._LivePartition, "_drain", drain))
        self._undo.append(lambda: setattr(arbitrage, "check_batch", check))
        self._undo.append(lambda: setattr(clean_stage, "clean_batch", clean))
        self._undo.append(lambda: setattr(cross_step, "process_symbol", process))
        return self

    def subscribe(self, data_dir: Path, stop: threading.Event) -> bool:
        """Bind the signal bus socket and record each signal's arrival; False when the bus is not merged yet."""
        try:
            from connectors.signal_bus import socket_path  # type: ignore[import-not-found]  # branch api
        except ImportError:
            return False
        path = socket_path(data_dir)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        sock.settimeout(0.1)

        def receive() -> None:
            with sock:
                while not stop.is_set():
                    try:
                        datagram = sock.recv(1 << 17)
                    except TimeoutError:
                        continue
                    t = now_us()
                    for row in json.loads(datagram)["signals"]:
                        ts = datetime.fromisoformat(row["ts_signal"])
                        ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
                        self.delivered.append((round(ts.timestamp() * 1e6), t))

        threading.Thread(target=receive, daemon=True).start()
        return True

    def uninstall(self) -> None:
        for undo in self._undo:
            undo()
        self._undo.clear()

    def quote_stages_ms(self, from_us: int) -> dict[str, np.ndarray]:
        """Per quote received at or after ``from_us``: ms spent in each hop (receive -> emit -> checked -> cleaned
        -> signal computed), from the stamps of its batch."""
        hops: dict[str, list[np.ndarray]] = {"receive->emit": [], "emit->checked": [], "checked->cleaned": [],
                                             "cleaned->signal": [], "receive->signal": []}  # fmt: skip
        for seq, recv in self.recv_us.items():
            recv = recv[recv >= from_us]
            if not recv.size or seq not in self.signal_done_us:
                continue
            e, c = self.emit_us[seq], self.checked_us.get(seq, self.emit_us[seq])
            cl, s = self.cleaned_us.get(seq, c), self.signal_done_us[seq]
            ones = np.ones(recv.size)
            hops["receive->emit"].append((e - recv) / 1000.0)
            hops["emit->checked"].append(ones * (c - e) / 1000.0)
            hops["checked->cleaned"].append(ones * (cl - c) / 1000.0)
            hops["cleaned->signal"].append(ones * (s - cl) / 1000.0)
            hops["receive->signal"].append((s - recv) / 1000.0)
        return {k: np.concatenate(v) if v else np.array([]) for k, v in hops.items()}

    def signal_ms(self, from_us: int) -> tuple[np.ndarray, np.ndarray]:
        """Receive clock -> signal computed, and -> delivered to the subscriber, per signal (ms)."""
        computed = np.array([(t - ts) / 1000.0 for ts, t in self.signals if ts >= from_us])
        delivered = np.array([(t - ts) / 1000.0 for ts, t in self.delivered if ts >= from_us])
        return computed, delivered
