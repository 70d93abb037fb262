"""The live source as the flow and the configuration see it: ``[live]`` -> a ``LiveSource``, and its one output
split into quote batches, table rows, and both in arrival order."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow, Stream

from arbflow.settings import LiveConfig
from connectors.batches import RawBatch
from connectors.exchanges import venue_class
from connectors.exchanges.session import FeedSettings
from connectors.live import LiveItem, LiveSource
from connectors.live_venue import LiveVenue, TableBatch


@dataclass(frozen=True)
class LiveStreams:
    """What ``input_live`` returns.

    Attributes:
        quotes: ``RawBatch`` items in arrival order, for the normalize step (same type as replay and simulator
            sources).
        tables: ``(table_name, frame)`` items (``feed_events``, ``books``), ready for the lake sink.
        ordered: ``RawBatch`` items and ``feed_events`` frames in one stream, in arrival order: a step that must see
            a venue go down before the quotes that arrived after it (connectors/exchanges/feed_state.py) reads this,
            since two streams merged downstream keep no order between them.
    """

    quotes: Stream[RawBatch]
    tables: Stream[tuple[str, pl.DataFrame]]
    ordered: Stream[RawBatch | pl.DataFrame]


def _table_item(item: LiveItem) -> tuple[str, pl.DataFrame]:
    if not isinstance(item, TableBatch):
        msg = f"expected a TableBatch after the RawBatch branch, got {type(item).__name__}"
        raise TypeError(msg)
    return item.table, item.frame


def _ordered_item(item: LiveItem) -> RawBatch | pl.DataFrame | None:
    if isinstance(item, RawBatch):
        return item
    return item.frame if item.table == "feed_events" else None


def input_live(step_id: str, flow: Dataflow, source: LiveSource) -> LiveStreams:
    """``op.input`` for a LiveSource, split into its quote batches and its table rows (and both, in order)."""
    items = op.input(step_id, flow, source)
    split = op.branch(f"{step_id}_split", items, lambda item: isinstance(item, RawBatch))
    tables = op.map(f"{step_id}_tables", split.falses, _table_item)
    ordered = op.filter_map(f"{step_id}_ordered", items, _ordered_item)
    return LiveStreams(split.trues, tables, ordered)  # type: ignore[arg-type]


def feed_settings(cfg: LiveConfig, **overrides: Any) -> FeedSettings:
    """The ``[live]`` watchdog and backoff timing as session settings (``overrides`` replace fields, e.g. tests')."""
    settings = FeedSettings(
        ws_url="", stall_timeout_s=cfg.stall_timeout_s, backoff_initial_s=cfg.backoff_initial_s,
        backoff_max_s=cfg.backoff_max_s, backoff_jitter=cfg.backoff_jitter, max_clock_skew_ms=cfg.max_clock_skew_ms,
    )  # fmt: skip
    return dataclasses.replace(settings, **overrides)


def live_source(cfg: LiveConfig) -> LiveSource:
    """The ``[live]`` configuration section -> a LiveSource (what ``source.kind = "live"`` runs)."""
    settings = feed_settings(cfg)
    venues = []
    for name in cfg.venues:
        transport = cfg.transports.get(name, "native")
        options = venue_class(name).options_from(cfg) if transport == "native" else {}
        venues.append(LiveVenue(name, list(cfg.symbols), depth=cfg.depth, ws_url=cfg.ws_urls.get(name),
                                rest_url=cfg.rest_urls.get(name), options=options, transport=transport))  # fmt: skip
    return LiveSource(venues, settings, batch_rows=cfg.batch_rows, run_for_s=cfg.run_for_s or None,
                      capture_dir=cfg.capture_dir or None,
                      capture_rows_per_file=cfg.capture_rows_per_file)  # fmt: skip
