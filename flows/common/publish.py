"""Thin Bytewax step: publish signal rows to the API's stream the moment they are computed, before the lake sink."""

from __future__ import annotations

import functools
from pathlib import Path

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream

from connectors.signal_bus import SignalPublisher, socket_path

Item = tuple[str, pl.DataFrame]


@functools.cache
def _publisher(path: str) -> SignalPublisher:
    return SignalPublisher(path)


def publisher_for(data_dir: str | Path) -> SignalPublisher:
    """The process's one publisher for ``data_dir``: every publish step and worker shares its ``seq``."""
    return _publisher(str(socket_path(data_dir).resolve()))


def publish_fields(data_dir: str | Path) -> dict[str, float]:
    """Heartbeat counters: signal rows sent to the API's stream and dropped (no API bound, queue full)."""
    counts = publisher_for(data_dir).counts
    return {"signals_published": float(counts.sent_rows), "signals_publish_dropped": float(counts.dropped_rows)}


def publish_signals(step_id: str, up: Stream[Item], data_dir: str | Path) -> Stream[Item]:
    """``op.inspect`` the ("signals", frame) items of ``up`` and send their rows to ``<data_dir>/signals.sock``.

    Items pass through unchanged; one publisher per process is shared by its steps and worker threads. Sends never block
    (connectors/signal_bus.py), so no subscriber can slow the flow.
    """
    publisher = publisher_for(data_dir)

    def publish(_step_id: str, item: Item) -> None:
        table, frame = item
        if table == "signals":
            publisher.publish(frame)

    return op.inspect(step_id, up, publish)
