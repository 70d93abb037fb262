"""Thin Bytewax step: publish signal rows to the API's stream the moment they are computed, before the lake sink."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream

from connectors.signal_bus import SignalPublisher, socket_path

Item = tuple[str, pl.DataFrame]


def publish_signals(step_id: str, up: Stream[Item], data_dir: str | Path) -> Stream[Item]:
    """``op.inspect`` the ("signals", frame) items of ``up`` and send their rows to ``<data_dir>/signals.sock``.

    Items pass through unchanged; one publisher per process is shared by its worker threads. Sends never block
    (connectors/signal_bus.py), so no subscriber can slow the flow.
    """
    publisher = SignalPublisher(socket_path(data_dir))

    def publish(_step_id: str, item: Item) -> None:
        table, frame = item
        if table == "signals":
            publisher.publish(frame)

    return op.inspect(step_id, up, publish)
