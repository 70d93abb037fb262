"""Per-stage clocks for bench/live_latency.py: when each quote batch and each signal passed each step of the real flow.

The bench runs ``build_flow`` in its own process, so it wraps (in that process only, never in the product) the
functions the flow already calls at each step boundary, and stamps the receive clock (UTC wall clock, µs, the clock
``ts_recv`` is on) when each returns:

- ``emit``: ``connectors.live._LivePartition._drain`` returned the batch (the source hands it to Bytewax);
- ``checked``: ``flows.arbitrage.check_batch`` returned (normalize, QingXi row checks, the quality gate);
- ``cleaned``: ``flows.common.clean_stage.clean_batch`` returned (the stateful stream checks, once per batch);
- ``computed``: ``flows.cross.step.process_symbol`` returned (cross evaluation done: signal rows exist); a signal is
  stamped with the batch that computed it (a quote in a slice's trailing instant waits for the next slice);
- ``published``, ``hub``, ``delivered``: the datagram's ``ts_published_us``, its arrival at the API's hub, and the
  SSE client's read (bench/live_subscriber.py, other processes);
- ``durable``: the lake part file holding the row was renamed into place (its mtime), read after the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
        self.signals: dict[str, tuple[int, int, int]] = {}  # signal_id -> (ts_signal µs, batch_seq, computed at µs)
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
                if table == "signals" and frame.height and seq is not None:
                    for sid, ts in frame.select("signal_id", pl.col("ts_signal").dt.epoch("us")).iter_rows():
                        self.signals.setdefault(sid, (ts, seq, t))
            return state, out

        live._LivePartition._drain = timed_drain  # type: ignore[method-assign]
        arbitrage.check_batch, clean_stage.clean_batch, cross_step.process_symbol = (
            timed_check,
            timed_clean,
            timed_process,
        )
        self._undo.append(lambda: setattr(live._LivePartition, "_drain", drain))
        self._undo.append(lambda: setattr(arbitrage, "check_batch", check))
        self._undo.append(lambda: setattr(clean_stage, "clean_batch", clean))
        self._undo.append(lambda: setattr(cross_step, "process_symbol", process))
        return self

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

    def signal_stages_ms(self, from_us: int, bus: dict[str, tuple[int, int]], delivered: dict[str, int],
                         durable: dict[str, int]) -> dict[str, np.ndarray]:  # fmt: skip
        """Per signal received at or after ``from_us``: ms from the receive clock to each stage (cumulative), for the
        signals that reached every stage (``bus``: id -> (published, at the API hub); ``delivered``: id -> at the SSE
        client; ``durable``: id -> part file mtime)."""
        cols: dict[str, list[float]] = {stage: [] for stage in SIGNAL_STAGES}
        for sid, (ts, seq, computed) in self.signals.items():
            if ts < from_us or sid not in bus or sid not in delivered or sid not in durable:
                continue
            emit = self.emit_us[seq]
            checked = self.checked_us.get(seq, emit)
            stamps = (emit, checked, self.cleaned_us.get(seq, checked), computed, *bus[sid], delivered[sid],
                      durable[sid])  # fmt: skip
            for stage, t in zip(SIGNAL_STAGES, stamps, strict=True):
                cols[stage].append((t - ts) / 1000.0)
        return {stage: np.array(v) for stage, v in cols.items()}


TARGET_SSE_P50_MS, TARGET_SSE_P99_MS, TARGET_DURABLE_P99_MS = 2.0, 10.0, 250.0  # issue 10, at 5,000 msg/s
SIGNAL_STAGES = ("source emit", "checked", "cleaned", "signal computed", "published", "API hub (bus)",
                 "SSE delivered", "durable in lake")  # fmt: skip


def report(r: dict[str, Any]) -> str:
    """One rate: delivery and lag, then the signal path stage by stage (hop and cumulative from the receive clock)."""
    lines = [
        (
            f"{r['rate']:.0f} msg/s: sent {r['sent']}, clean rows {r['clean_rows']}, lag (quotes_clean durable) last fifth "
            f"p50/p99 {r['lag_last_p50']:.0f}/{r['lag_last_p99']:.0f} ms, growth {r['lag_growth_ms_per_s']:.0f} ms/s, "
            f"keeps up: {r['keeps_up']}"
        ),
        (
            f"  signals: computed {r['signals_computed']}, in the lake {r['signals_in_lake']}, at the API hub "
            f"{r['signals_at_hub']}, delivered to the SSE client {r['signals_delivered']}; timed at every stage "
            f"{r['signals_timed']}"
        ),
        f"  {'stage (per signal, ms)':<26} {'hop p50':>8} {'hop p99':>8} {'from recv p50':>14} {'p99':>8}",
    ]
    lines += [
        f"  {stage:<26} {r[f'{stage} hop p50']:8.2f} {r[f'{stage} hop p99']:8.2f} {r[f'{stage} p50']:14.2f} "
        f"{r[f'{stage} p99']:8.2f}"
        for stage in SIGNAL_STAGES
    ]
    sse, lake = (r["SSE delivered p50"], r["SSE delivered p99"]), r["durable in lake p99"]
    lines.append(
        f"  targets: receive -> SSE p50 {sse[0]:.2f} ms (<= {TARGET_SSE_P50_MS:g}) "
        f"{'met' if sse[0] <= TARGET_SSE_P50_MS else 'MISSED'}, p99 {sse[1]:.2f} ms (<= {TARGET_SSE_P99_MS:g}) "
        f"{'met' if sse[1] <= TARGET_SSE_P99_MS else 'MISSED'}; durable p99 {lake:.0f} ms (<= {TARGET_DURABLE_P99_MS:g}) "
        f"{'met' if lake <= TARGET_DURABLE_P99_MS else 'MISSED'}"
    )
    return "\n".join(lines)
