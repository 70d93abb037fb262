"""The arbitrage dataflow: wiring only. ``python -m bytewax.run flows.arbitrage:flow`` runs the default config;
``python -m bytewax.run "flows.arbitrage:build_flow('config/xyz.toml')"`` runs another.

    source (micro-batches) -> normalize + QingXi row checks -> Great Expectations gate (replay: one batch ahead)
      -> QingXi stream checks, once, in source order (one key) -> clean batches for every strategy
      -> key by symbol: CeLue cross-exchange spreads and signals
      -> key by route: tumbling-window spread statistics (EventClock on the receive clock)
      -> key by symbol, per route: opportunity episodes, rejection reasons; sliding-window spread z-scores
      -> key by exchange: triangular cycles (configured + discovered), N-leg cycle scans, market making (off)
      -> risk: paper execution of the signals, positions, PnL, VaR, limits, alerts, kill switch
      -> Parquet lake (exactly-once) + DuckDB views

Every rejected row, every validation run and every output lands in the lake; nothing is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import bytewax.operators.windowing as win
import polars as pl
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source

from arbflow.settings import Settings, load_settings
from connectors import lake
from connectors.batches import RawBatch
from connectors.exchanges.feed_state import down_events
from connectors.readahead import ReadAheadSource
from connectors.replay import ReplaySource, expand
from connectors.runs import RunLog
from connectors.simulator import sample_market, simulate
from flows.common.batches import Checked, FeedDowns, check_batch
from flows.common.clean_stage import clean_stage
from flows.common.fanout import by_symbol
from flows.common.heartbeat import beat_on
from flows.common.keyed import keyed_step
from flows.common.publish import publish_signals
from flows.cross import spreads, windows
from flows.cross.step import CrossRunner
from flows.cross.zscores import zscore_tables
from flows.market_making.step import market_making_tables
from flows.risk.wiring import risk_tables
from flows.triangular.step import triangular_tables
from flows.triangular.venues import cross_venue_cycle_tables
from quality.audit import quality_audit
from quality.compiled import CompiledGate


def _replay_source(settings: Settings) -> Source[RawBatch]:
    """Replay, the simulator and the bundled sample all become recorded files replayed in receive order."""
    src = settings.source
    data_dir = Path(settings.sinks.data_dir)
    fees = {name: venue.taker_fee_bps for name, venue in settings.venues.items()}
    if src.kind == "replay":
        files = expand(src.paths)
    else:
        if src.kind == "sample":
            market = sample_market(
                src.sample_dir, settings.simulator, fees, settings.cross.min_net_edge_bps, settings.cross.symbols
            )
        else:
            market = simulate(settings.simulator, fees, settings.cross.min_net_edge_bps)
        files = [market.write(data_dir / "input" / src.kind)]
    file_format = src.format if src.kind == "replay" else "capture"
    return ReplaySource(files, name=src.kind, batch_rows=src.batch_rows, speed=src.speed, file_format=file_format)


@dataclass(frozen=True)
class Inputs:
    """The source streams, whatever the source kind."""

    checked: Stream[Checked]  # batches after normalize, QingXi row checks and the quality gate
    # live: the checked batches and feed downs in one stream, in arrival order, so a venue's down reaches the symbol
    # step before the quotes that arrived after it; replay: ``checked``
    ordered: Stream[Checked] | Stream[Checked | FeedDowns]
    tables: list[Stream[tuple[str, pl.DataFrame]]]  # rows the source writes itself (live: feed_events, books)


def _inputs(flow: Dataflow, settings: Settings, gate: CompiledGate) -> Inputs:
    """The sources, and ``check_batch`` on every batch: in replay one batch ahead on a helper thread (CPU-bound, one
    partition), in live as a step after the source (which merges the venues in arrival order)."""

    def check(batch: RawBatch) -> Checked:
        return check_batch(settings, gate, batch)

    if settings.source.kind != "live":
        checked = op.input("quotes", flow, ReadAheadSource(_replay_source(settings), check))
        return Inputs(checked, checked, [])
    from connectors.live_wiring import input_live, live_source  # ccxt.pro's import costs ~0.5 s a replay never needs

    live = input_live("quotes", flow, live_source(settings.live))  # venues merged at one point, in arrival order

    def check_or_downs(item: RawBatch | pl.DataFrame) -> Checked | FeedDowns:
        return check(item) if isinstance(item, RawBatch) else FeedDowns(down_events(item))

    ordered = op.map("qingxi_rows_and_gx", live.ordered, check_or_downs)
    checked = op.filter_map("checked", ordered, lambda item: item if isinstance(item, Checked) else None)
    return Inputs(checked, ordered, [live.tables])


def _stats_rows(window: timedelta, late: bool):
    def to_table(item: tuple[str, tuple[int, windows.Partial]]) -> tuple[str, pl.DataFrame]:
        _route, (_window_id, partial) = item
        return "spread_stats", pl.DataFrame([windows.stats_row(partial, window, late)])

    return to_table


OWN_LOGGERS = ("flows", "connectors", "quality", "ops")


def setup_logging(level: str) -> None:
    """The flow's own loggers at ``[logging].level``; every library (Great Expectations logs ~200 INFO lines while
    it builds a context) at WARNING."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # no-op if the CLI configured it
    logging.getLogger().setLevel(logging.WARNING)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)


def build_flow(config_path: str | Path | None = None, settings: Settings | None = None) -> Dataflow:
    """Validate the configuration, prepare the lake and DuckDB views, and wire the dataflow."""
    settings = settings or load_settings(config_path)
    setup_logging(settings.logging.level)
    schemas = lake.table_schemas()
    lake.prepare(settings.sinks.data_dir, schemas)
    gate = CompiledGate(settings.quality.suites_dir or None)  # an uncompilable suite fails here, at start-up
    params = spreads.SpreadParams(
        fee_bps={name: venue.taker_fee_bps for name, venue in settings.venues.items()},
        min_net_edge_bps=settings.cross.min_net_edge_bps,
        max_quote_age_ms=settings.cross.max_quote_age_ms,
        max_skew_ms=settings.cross.max_skew_ms,
        max_position_usdt=settings.cross.max_position_usdt,
    )
    window = timedelta(seconds=settings.windows.stats_window_s)
    data_dir = settings.sinks.data_dir

    flow = Dataflow("arbitrage")
    inputs = _inputs(flow, settings, gate)
    checked = inputs.checked
    cleaned = clean_stage("qingxi_stream", inputs.ordered, settings.cleaning)
    keyed = op.flat_map("split_by_symbol", cleaned.ordered, lambda item: by_symbol(item, settings.cross.symbols))
    per_symbol = keyed_step("celue_cross", keyed, CrossRunner(settings, params, window))
    # Signals out first: Bytewax runs a worker's steps in the order they were added, so publishing is added before
    # every other consumer of these streams and a signal leaves before that round's risk, windows, triangular, lake.
    symbol_tables = op.flat_map("symbol_tables", per_symbol, lambda kv: kv[1].tables)
    symbol_tables = publish_signals("publish_cross", symbol_tables, data_dir)
    partials = op.flat_map("route_partials", per_symbol, lambda kv: [(p.route_key(), p) for p in kv[1].partials])
    # Replay: a frozen system clock makes the watermark pure event time, so window closing is deterministic.
    # Live: the system clock lets windows close while a feed is quiet.
    lateness = timedelta(seconds=settings.windows.allowed_lateness_s)
    if settings.source.kind == "live":
        # wake when the watermark can reach the close time (not at it, which would notify every activation)
        clock = win.EventClock(
            lambda p: p.ts_first, wait_for_system_duration=lateness, to_system_utc=lambda t: t + lateness
        )
    else:
        frozen = datetime(1970, 1, 1, tzinfo=UTC)
        clock = win.EventClock(
            lambda p: p.ts_first,
            wait_for_system_duration=lateness,
            now_getter=lambda: frozen,
            to_system_utc=windows.no_system_wakeup,
        )
    stats = win.fold_window(
        "spread_stats",
        partials,
        clock,
        win.TumblingWindower(length=window, align_to=windows.EPOCH),
        builder=lambda: None,
        folder=windows.merge,
        merger=lambda a, b: b if a is None else windows.merge(a, b) if b is not None else a,
    )
    risk_out = []
    if settings.risk.enabled:  # risk reads each symbol slice's quotes and signals together, and validation runs
        risk_bundles = op.merge(
            "risk_bundles",
            op.map("checked_bundles", checked, lambda c: c.tables),
            op.map("symbol_bundles", per_symbol, lambda kv: kv[1].risk_bundle()),
        )
        risk_out.append(risk_tables("risk", risk_bundles, settings))
    outputs = op.merge(
        "all_tables",
        *inputs.tables,
        op.flat_map("checked_tables", checked, lambda c: c.tables),
        cleaned.tables,
        quality_audit(
            "quality_audit",
            op.map("judged", checked, lambda c: (c.partition, c.batch_seq, c.judged)),
            settings.quality.audit_rows,
            settings.quality.audit_interval_s,
            settings.quality.suites_dir or None,
            settings.quality.audit_every,
        ),
        symbol_tables,
        *risk_out,
        publish_signals("publish_triangular", triangular_tables("triangular", cleaned.batches, settings), data_dir),
        market_making_tables("market_making", cleaned.batches, settings),
        cross_venue_cycle_tables("venues", cleaned.batches, settings),
        zscore_tables("zscores", op.filter_map("cross_spreads", per_symbol, lambda kv: kv[1].spreads), settings),
        op.map("window_rows", stats.down, _stats_rows(window, late=False)),
        op.map("late_window_rows", stats.late, _stats_rows(window, late=True)),
    )
    runs = RunLog(data_dir, settings.source.kind)  # <data_dir>/runs: start, end, status, counts (connectors/runs.py)
    outputs = beat_on("heartbeat", outputs, data_dir, runs)  # counters for the monitor; rows unchanged
    skipped = set() if settings.sinks.write_quotes_clean else {"quotes_clean"}
    non_empty = op.filter("non_empty", outputs, lambda kv: kv[1].height > 0 and kv[0] not in skipped)
    op.output("lake", non_empty, lake.LakeSink(data_dir, schemas, on_eof=runs.complete))
    return flow


def __getattr__(name: str) -> Dataflow:
    """``flows.arbitrage:flow`` builds the default flow on first access, so importing this module is cheap."""
    if name == "flow":
        return build_flow()
    raise AttributeError(name)
