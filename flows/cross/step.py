"""The per-symbol step of CeLue cross-exchange arbitrage on one symbol's clean quotes (flows/common/clean_stage.py ran
QingXi's stream checks): every venue pair evaluated on whole instants, episodes (which decide the signals),
rejections, depth sizing and window partials."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

import polars as pl

from arbflow.settings import Settings
from flows.common.batches import ORDER, FeedDowns, SymbolBooks, Tables
from flows.common.keyed import Runner
from flows.common.rejections import Gates
from flows.cross import episodes as cross_episodes
from flows.cross import sizing as cross_depth
from flows.cross import spreads, windows


@dataclass(frozen=True)
class SymbolState:
    """Keyed state of one symbol: CeLue's latest book per venue, recent feed downs, the episodes (which decide the
    signals), and the clean quotes of the trailing instant not evaluated yet."""

    book: spreads.BookState = field(default_factory=spreads.BookState)
    downs: pl.DataFrame | None = None
    episodes: cross_episodes.CrossState | None = None
    pending: pl.DataFrame | None = None
    books: pl.DataFrame | None = None  # replay of a book format: books of the quotes that can still be a leg


@dataclass(frozen=True)
class SymbolOut:
    tables: Tables
    partials: list[windows.Partial]
    spreads: pl.DataFrame | None = None  # this slice's evaluations with route names (no ids), for the z-score windows
    quotes: pl.DataFrame | None = None  # the slice's clean quotes: risk takes them with the signals they led to

    def risk_bundle(self) -> Tables:
        """The slice's quotes and signals as one bundle (flows/risk/wiring.py: risk needs them in one step)."""
        return ([] if self.quotes is None else [("quotes_clean", self.quotes)]) + self.tables


def process_symbol(
    settings: Settings,
    params: spreads.SpreadParams,
    window: timedelta,
    state: SymbolState | None,
    item: pl.DataFrame | FeedDowns | SymbolBooks,
) -> tuple[SymbolState, SymbolOut]:
    """CeLue cross-exchange evaluation of one symbol's clean quotes of a batch (source order, ``batch_seq`` and
    ``batch_row``); or, for a live feed going down, remember when (no quote received before it pairs with anything
    after it); or remember the books behind the quotes that follow.

    The slice's trailing instant (rows sharing its last event time) is held until the next slice or the end of
    input: the next batch may hold more updates of that instant, and an instant is evaluated whole."""
    state = state or SymbolState()
    if isinstance(item, FeedDowns):
        downs = item.events if state.downs is None else pl.concat([state.downs, item.events])
        return replace(state, downs=downs), SymbolOut([], [])
    if isinstance(item, SymbolBooks):  # only cross symbols size signals from books
        if item.books["symbol"][0] not in settings.cross.symbols:
            return state, SymbolOut([], [])
        return replace(state, books=cross_depth.remember(state.books, item.books)), SymbolOut([], [])
    if not item.height or item["symbol"][0] not in settings.cross.symbols:
        return state, SymbolOut([], [], quotes=item)
    clean = item.drop("batch_seq", ORDER)
    if state.pending is not None:
        clean = pl.concat([state.pending, clean])
    cut = spreads.trailing_instant(clean)
    state, out = _cross(settings, params, window, replace(state, pending=clean.slice(cut)), clean.head(cut))
    return state, replace(out, quotes=item)


def _cross(
    settings: Settings, params: spreads.SpreadParams, window: timedelta, state: SymbolState, clean: pl.DataFrame
) -> tuple[SymbolState, SymbolOut]:
    """CeLue on whole instants of one symbol's clean quotes: evaluations, signals, episodes, rejections, windows."""
    if not clean.height:
        return state, SymbolOut([], [])
    book, evaluation = spreads.evaluate(state.book, clean, params, state.downs)
    lifetimes, cross = cross_episodes.cross_tables(
        state.episodes,
        evaluation,
        Gates(params.min_net_edge_bps, params.max_quote_age_ms, params.max_skew_ms),
        timedelta(milliseconds=settings.episodes.gap_timeout_ms),
        timedelta(milliseconds=settings.episodes.min_duration_ms),
    )
    slippage_bps = settings.risk.slippage_tolerance_bps
    tables: Tables = [("signals", cross_depth.size_signals(cross.signals, state.books, params, slippage_bps))]
    if settings.sinks.write_spreads:
        tables.append(("spreads", evaluation.rows()))
    if settings.episodes.enabled:
        tables.extend(cross.tables)
    evaluation = replace(evaluation, lean=evaluation.lean.with_columns(cross.starts.alias("is_edge")))
    partials = windows.partials(evaluation, window)
    downs = state.downs
    if downs is not None:  # a leg older than the quote-age gate can never be fresh: older downs are moot
        horizon = clean["ts_recv"].max() - timedelta(milliseconds=params.max_quote_age_ms)
        downs = downs.filter(pl.col("down_ts") >= horizon)
    zscores = evaluation.named().drop("_pos", "_route", "_buy", "_sell") if settings.episodes.enabled else None
    legs = [] if book.last is None else book.last["quote_id"].to_list()
    legs += [] if state.pending is None else state.pending["quote_id"].to_list()
    books = cross_depth.still_needed(state.books, legs)
    return replace(state, book=book, downs=downs, episodes=lifetimes, books=books), SymbolOut(tables, partials, zscores)


@dataclass(frozen=True)
class CrossRunner(Runner[pl.DataFrame | FeedDowns | SymbolBooks, SymbolOut, SymbolState]):
    """``process_symbol`` per item of a symbol (flows/common/keyed.py makes it the Bytewax step); at end of input, the
    held instant is evaluated and the episodes still open are written (``ts_closed`` null)."""

    settings: Settings
    params: spreads.SpreadParams
    window: timedelta

    def initial(self) -> SymbolState:
        return SymbolState()

    def step(
        self, state: SymbolState, item: pl.DataFrame | FeedDowns | SymbolBooks
    ) -> tuple[SymbolState, list[SymbolOut]]:
        state, out = process_symbol(self.settings, self.params, self.window, state, item)
        return state, [out]

    def flush(self, state: SymbolState) -> tuple[SymbolState, list[SymbolOut]]:
        outs: list[SymbolOut] = []
        if state.pending is not None:
            state, out = _cross(self.settings, self.params, self.window, replace(state, pending=None), state.pending)
            outs.append(out)
        if state.episodes is not None and self.settings.episodes.enabled:
            min_duration = timedelta(milliseconds=self.settings.episodes.min_duration_ms)
            outs.append(SymbolOut(cross_episodes.flush(state.episodes, min_duration), []))
            state = replace(state, episodes=replace(state.episodes, open_runs={}))
        return state, outs
