"""Bytewax wiring of triangular arbitrage and its opportunity episodes: one stateful step per exchange.

``flows/arbitrage.py`` calls :func:`triangular_tables` with the stream of clean batches (after normalization, row
checks, the Great Expectations gate and the stream checks) and merges the returned ``(table_name, frame)`` items into its table stream.

Why whole clean batches and not the per-symbol step's outputs: a cycle spans several symbols, and the per-symbol
steps run on different workers, so their outputs reach an exchange-keyed step in an arbitrary interleaving. A clean
batch (flows/common/clean_stage.py: QingXi's stream checks, run once on the checked batch) holds every symbol in
processing order, and comes from the single replay/live partition in order; each exchange's piece of it
(flows/common/fanout.py) is evaluated in that order. Quotes rejected anywhere (normalize, row checks, the gate, the
stream checks) flag their symbol as ``quarantined_input`` until its next clean update: a piece carries their ids, put
back in place by their ``batch_row``.

Episodes are tracked in the same step (:func:`flows.common.episodes.advance`): exact starts and ends, including the
evaluation showing the edge gone, which a ``SessionWindower`` (gap only) cannot see; the watermark is the batch's
latest receive time, and the end of input flushes the episodes still open. Once per ``[triangular] ncycle_scan_ms``
of receive clock the step also scans the venue's latest quotes for N-leg cycles (flows/triangular/cycles.py, ``cycles_found``).

Outputs: ``signals`` (one per opportunity start), ``signal_legs``, ``rejections``, ``opportunities``,
``cycles_found``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream

from arbflow.errors import ConfigError
from arbflow.settings import Settings
from connectors import markets as offline_markets
from connectors.markets.spot import Market, markets_from_ccxt
from flows.common import episodes
from flows.common.batches import Item
from flows.common.clean_stage import Clean
from flows.common.episodes import Run, as_utc
from flows.common.fanout import Piece, exchange_pieces
from flows.common.keyed import Runner, keyed_step
from flows.triangular.cycles import FoundCycle, build_graph, cycle_rows, find_negative_cycles
from flows.triangular.evaluate import TriangularParams, evaluate_batch
from flows.triangular.markets import CycleBook, build_cycle_book
from flows.triangular.state import TriangularState, empty_state, latest_at


@dataclass
class ExchangeState:
    """Per exchange: the evaluator's state, and the episodes still open."""

    exchange: str | None = None
    tri: TriangularState = field(default_factory=empty_state)
    open_runs: dict[str, Run] = field(default_factory=dict)
    cycles_seen: frozenset[str] = frozenset()  # N-leg cycles found by the latest scan
    scan_slot: int | None = None  # receive-clock slot of the latest scan


@dataclass(frozen=True)
class TriangularRunner:
    """Everything one exchange's step needs; :meth:`step` is pure given its state."""

    book: CycleBook
    params: TriangularParams
    gap: timedelta
    min_duration: timedelta
    markets: dict[str, Market]
    scan_ms: float  # [triangular] ncycle_scan_ms
    start_assets: tuple[str, ...]

    @staticmethod
    def from_settings(exchange: str, settings: Settings) -> TriangularRunner:
        """Cycles from the venue's offline market metadata (connectors/markets), fees from the config."""
        tri = settings.triangular
        fee = tri.taker_fee_bps if tri.taker_fee_bps is not None else settings.fee_bps(exchange)
        markets = markets_from_ccxt(offline_markets.load_markets(exchange), taker_fee_bps=fee)
        paths = [p for p in tri.paths if all(s in markets for s in p.split("-"))]  # a venue may lack a path
        return TriangularRunner(
            book=build_cycle_book(markets, paths, tri.discover, tri.start_assets),
            params=TriangularParams.from_config(exchange, tri, settings.episodes),
            gap=timedelta(milliseconds=settings.episodes.gap_timeout_ms),
            min_duration=timedelta(milliseconds=settings.episodes.min_duration_ms),
            markets=markets,
            scan_ms=tri.ncycle_scan_ms,
            start_assets=tuple(tri.start_assets),
        )

    def step(self, state: ExchangeState, piece: Piece) -> tuple[ExchangeState, list[Item]]:
        """Evaluate every cycle each update touches, and advance the episodes."""
        rows = piece.rows()
        out = evaluate_batch(rows, state.tri, self.book, self.params)
        clean_times = rows.filter(~pl.col("quarantined"))["ts_recv"]
        watermark = as_utc(clean_times.max()) if clean_times.len() else None
        open_runs, ended = episodes.advance(state.open_runs, out.edge_events, watermark, self.gap, self.min_duration)
        cycles, seen, slot = self._scans(rows, state)
        tables = [
            ("signals", out.signals),
            ("signal_legs", out.signal_legs),
            ("rejections", out.rejections),
            ("opportunities", ended),
            ("cycles_found", cycles),
        ]
        new_state = ExchangeState(piece.exchange, out.state, open_runs, seen, slot)
        return new_state, [t for t in tables if t[1].height]

    def _scans(self, rows: pl.DataFrame, state: ExchangeState) -> tuple[pl.DataFrame, frozenset[str], int | None]:
        """N-leg cycle scans at the first clean update of each ``scan_ms`` receive-clock slot (so the scan points do
        not depend on batching), over the venue's fresh, unflagged latest quotes at that update. Rows are written
        only for cycles the previous scan did not find."""
        seen, slot = state.cycles_seen, state.scan_slot
        if self.scan_ms <= 0:
            return cycle_rows([]), seen, slot
        slot_us = int(self.scan_ms * 1000)
        starts = (
            rows.with_row_index("_p")
            .filter(~pl.col("quarantined"))
            .with_columns((pl.col("ts_recv").dt.epoch("us") // slot_us).alias("_slot"))
            .filter(pl.col("_slot") > (slot if slot is not None else -1))
            .unique("_slot", keep="first", maintain_order=True)
        )
        if starts.height == 0:
            return cycle_rows([]), seen, slot
        scans = starts.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("snap"), "quote_id", "ts_recv")
        max_age = timedelta(milliseconds=self.params.max_quote_age_ms)
        fresh = (
            latest_at(rows, state.tri, self.book, starts["_p"].to_list())
            .join(scans.select("snap", pl.col("ts_recv").alias("_ts_scan")), on="snap")
            .filter(~pl.col("quarantined") & (pl.col("ts_recv") >= pl.col("_ts_scan") - max_age))
            .with_columns(pl.lit(self.params.exchange).alias("exchange"))
        )
        parts = fresh.partition_by("snap", as_dict=True, maintain_order=True)
        found_rows = []
        for snap, quote_id, ts_scan in scans.iter_rows():
            part = parts.get((snap,))
            graph = build_graph(part, {self.params.exchange: self.markets}) if part is not None else None
            found = find_negative_cycles(graph, start_assets=self.start_assets, accept=self._above) if graph else []
            scan_id = f"{self.params.exchange}/{quote_id}"
            found_rows += [(scan_id, ts_scan, f) for f in found if f.route not in seen]
            seen = frozenset(f.route for f in found)
        return cycle_rows(found_rows), seen, int(starts["_slot"][-1])

    def _above(self, cycle: FoundCycle) -> bool:
        return cycle.net_edge_bps >= self.params.min_net_edge_bps

    def flush(self, state: ExchangeState) -> tuple[ExchangeState, list[Item]]:
        """End of input: the episodes still open end here (``ts_closed`` null)."""
        rows = episodes.flush(state.open_runs, self.min_duration)
        done = ExchangeState(state.exchange, state.tri, {}, state.cycles_seen, state.scan_slot)
        return done, [("opportunities", rows)] if rows.height else []


@dataclass(frozen=True)
class ExchangeRunners(Runner[Piece, Item, ExchangeState]):
    """The keyed step's logic: each piece goes to its exchange's runner; end of input flushes open episodes."""

    runners: dict[str, TriangularRunner]

    def initial(self) -> ExchangeState:
        return ExchangeState()

    def step(self, state: ExchangeState, piece: Piece) -> tuple[ExchangeState, list[Item]]:
        return self.runners[piece.exchange].step(state, piece)

    def flush(self, state: ExchangeState) -> tuple[ExchangeState, list[Item]]:
        return (state, []) if state.exchange is None else self.runners[state.exchange].flush(state)


def runners_for(settings: Settings, exchanges: Sequence[str]) -> dict[str, TriangularRunner]:
    """One runner per exchange. A configured path may be missing on some venues, but a path that no configured venue
    lists is a configuration error (a typo would otherwise silently evaluate nothing)."""
    runners = {ex: TriangularRunner.from_settings(ex, settings) for ex in exchanges}
    for path in settings.triangular.paths:
        markets = path.split("-")
        if runners and not any(all(m in r.markets for m in markets) for r in runners.values()):
            msg = f"[triangular] paths: {path!r} names markets that none of {list(exchanges)} lists"
            raise ConfigError(msg)
    return runners


def triangular_tables(step_id: str, clean: Stream[Clean], settings: Settings) -> Stream[Item]:
    """Triangular signals, legs, rejections and episodes as ``(table_name, frame)`` items.

    Args:
        step_id: prefix of the steps added to the flow.
        clean: the clean batches (``flows.common.clean_stage.Clean``), in source order.
        settings: [triangular], [episodes] and [venues] fees.
    """
    exchanges = list(settings.triangular.exchanges) if settings.triangular.enabled else []
    runners = runners_for(settings, exchanges)
    pieces = op.flat_map(f"{step_id}_by_exchange", clean, lambda c: exchange_pieces(c, exchanges))
    out = keyed_step(f"{step_id}_evaluate", pieces, ExchangeRunners(runners))
    return op.key_rm(f"{step_id}_items", out)
