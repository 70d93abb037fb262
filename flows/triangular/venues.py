"""Bytewax wiring of cross-venue N-leg cycle scans: arbitrage that moves assets between venues at a known cost.

Only runs when ``[triangular] transfer_cost_bps`` names assets (asset -> cost of moving it between any two venues).
One stateful step under a single key sees every venue: it takes the clean batches (flows/common/clean_stage.py) in
source order, keeps the latest clean quote of every (exchange, symbol), and once per ``[triangular] ncycle_scan_ms`` of receive clock
(at the first clean update of each slot, so scan points do not depend on batching) scans all venues' fresh quotes
plus the transfer edges for negative cycles (flows/triangular/cycles.py). Cycles that use a transfer and clear ``[cross]
min_net_edge_bps`` go to ``cycles_found`` when the previous scan did not have them; single-venue cycles are the
triangular step's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream

from arbflow.settings import Settings
from connectors import markets as offline_markets
from connectors.markets.spot import Market, markets_from_ccxt
from connectors.schema import POLARS_QUOTE_SCHEMA
from flows.common.batches import Item
from flows.common.clean_stage import Clean
from flows.common.keyed import Runner, keyed_step
from flows.triangular.cycles import FoundCycle, build_graph, cycle_rows, find_negative_cycles

KEYS = ("exchange", "symbol")
LAST_SCHEMA: dict[str, pl.DataType] = {
    c: POLARS_QUOTE_SCHEMA[c] for c in ("exchange", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty", "ts_recv")
}


@dataclass
class VenuesState:
    """The latest clean quote per (exchange, symbol), the last scan's cycles and receive-clock slot."""

    last: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LAST_SCHEMA))
    seen: frozenset[str] = frozenset()
    slot: int | None = None


def snapshots(clean: pl.DataFrame, last: pl.DataFrame, positions: list[int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Latest quote per (exchange, symbol) right after each row position of ``clean`` (processing order), stacked
    with ``snap`` (index into ``positions``); and the latest after the whole batch (the next state)."""
    hist = pl.concat(
        [
            last.select(pl.lit(-1, pl.Int64).alias("pos"), *LAST_SCHEMA),
            clean.with_row_index("pos").select(pl.col("pos").cast(pl.Int64), *LAST_SCHEMA),
        ]
    )
    grid = (
        pl.DataFrame({"snap": range(len(positions)), "pos": positions}, schema={"snap": pl.Int64, "pos": pl.Int64})
        .join(hist.select(*KEYS).unique(), how="cross")
        .sort("pos", "snap", *KEYS)
    )
    snaps = grid.join_asof(hist, on="pos", by=list(KEYS), strategy="backward", check_sortedness=False)
    after = hist.group_by(*KEYS).last().select(*LAST_SCHEMA).sort(*KEYS)
    return snaps.filter(pl.col("ts_recv").is_not_null()).sort("snap", *KEYS), after


@dataclass(frozen=True)
class VenuesRunner(Runner[pl.DataFrame, Item, VenuesState]):
    markets: dict[str, dict[str, Market]]
    transfer_cost_bps: Mapping[str, float]
    min_net_edge_bps: float
    max_quote_age_ms: float
    scan_ms: float
    start_assets: tuple[str, ...]

    @staticmethod
    def from_settings(settings: Settings) -> VenuesRunner:
        fee = settings.triangular.taker_fee_bps
        markets = {
            ex: markets_from_ccxt(offline_markets.load_markets(ex), fee if fee is not None else settings.fee_bps(ex))
            for ex in sorted(settings.venues)
            if ex in offline_markets.VENUES
        }
        return VenuesRunner(
            markets=markets,
            transfer_cost_bps=dict(settings.triangular.transfer_cost_bps),
            min_net_edge_bps=settings.cross.min_net_edge_bps,
            max_quote_age_ms=settings.cross.max_quote_age_ms,
            scan_ms=settings.triangular.ncycle_scan_ms,
            start_assets=tuple(settings.triangular.start_assets),
        )

    def initial(self) -> VenuesState:
        return VenuesState()

    def _reportable(self, cycle: FoundCycle) -> bool:
        """Cross-venue (uses a transfer) and above the threshold; single-venue cycles are the triangular step's."""
        moves = any(label.startswith("transfer:") for label in cycle.labels)
        return moves and cycle.net_edge_bps >= self.min_net_edge_bps

    def step(self, state: VenuesState, quotes: pl.DataFrame) -> tuple[VenuesState, list[Item]]:
        """One clean batch (``Clean.quotes``, source order): the scans of the slots it starts, and the latest quotes."""
        clean = quotes.select("quote_id", *LAST_SCHEMA)
        slot_us = int(self.scan_ms * 1000)
        starts = (
            clean.with_row_index("_p")
            .with_columns((pl.col("ts_recv").dt.epoch("us") // max(slot_us, 1)).alias("_slot"))
            .filter(pl.col("_slot") > (state.slot if state.slot is not None else -1))
            .unique("_slot", keep="first", maintain_order=True)
        )
        if self.scan_ms <= 0 or starts.height == 0:
            _, after = snapshots(clean, state.last, [])
            return VenuesState(after, state.seen, state.slot), []
        snaps, after = snapshots(clean, state.last, starts["_p"].cast(pl.Int64).to_list())
        found_rows, seen = [], state.seen
        by_snap = snaps.partition_by("snap", as_dict=True, maintain_order=True)
        for k, (quote_id, ts_scan) in enumerate(starts.select("quote_id", "ts_recv").iter_rows()):
            part = by_snap.get((k,))
            fresh = (
                part.filter(pl.col("ts_recv") >= ts_scan - timedelta(milliseconds=self.max_quote_age_ms))
                if part is not None
                else None
            )
            graph = build_graph(fresh, self.markets, self.transfer_cost_bps) if fresh is not None else None
            found = (
                find_negative_cycles(graph, start_assets=self.start_assets, accept=self._reportable) if graph else []
            )
            found_rows += [(f"venues/{quote_id}", ts_scan, f) for f in found if f.route not in seen]
            seen = frozenset(f.route for f in found)
        rows = cycle_rows(found_rows)
        state_after = VenuesState(after, seen, int(starts["_slot"][-1]))
        return state_after, [("cycles_found", rows)] if rows.height else []


def cross_venue_cycle_tables(step_id: str, clean: Stream[Clean], settings: Settings) -> Stream[Item]:
    """``cycles_found`` items for cycles that move assets between venues (none without transfer costs)."""
    enabled = bool(settings.triangular.transfer_cost_bps) and settings.triangular.ncycle_scan_ms > 0
    runner = VenuesRunner.from_settings(settings)
    keyed = op.flat_map(f"{step_id}_all_venues", clean, lambda c: [("venues", c.quotes)] if enabled else [])
    out = keyed_step(f"{step_id}_scan", keyed, runner)
    return op.key_rm(f"{step_id}_items", out)
