"""CeLue cross-exchange arbitrage: every ordered venue pair of one symbol, evaluated on every quote update.

For an update at receive time ``t`` and a route (buy on A at its ask, sell on B at its bid), using each venue's latest
clean quote at ``t``::

    gross_edge_bps = (bid_B / ask_A - 1) * 1e4
    net_edge_bps   = (bid_B * (1 - fee_B) / (ask_A * (1 + fee_A)) - 1) * 1e4     # both taker fees paid
    qty            = min(ask_qty_A, bid_qty_B, max_position_usdt / ask_A)          # base units
    expected_profit_quote = qty * (bid_B * (1 - fee_B) - ask_A * (1 + fee_A))

The evaluation is *fresh* when the older leg was received at most ``max_quote_age_ms`` before ``t`` (receive clock,
immune to venue clock drift) and the legs' event times differ by at most ``max_skew_ms``. It *qualifies* when fresh,
``qty > 0`` and ``net_edge_bps >= min_net_edge_bps``. A **signal** is emitted when a route starts qualifying (the
rising edge), so one opportunity is one instruction, not one per tick; its lifetime is tracked by episodes.

Vectorized: the row index of each venue's latest quote is forward-filled over the batch (seeded from state), the
legs are gathered by index for all pairs at once (NumPy), and strings are built only for rows that are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations

import numpy as np
import polars as pl

from connectors.exchanges.feed_state import stale_leg

LEG_FIELDS = ("bid_px", "bid_qty", "ask_px", "ask_qty", "ts_recv", "ts_event", "quote_id")
SPREAD_COLUMNS = (
    "spread_id",
    "symbol",
    "buy_exchange",
    "sell_exchange",
    "ts_eval",
    "buy_px",
    "sell_px",
    "qty",
    "gross_edge_bps",
    "net_edge_bps",
    "expected_profit_quote",
    "age_ms",
    "skew_ms",
    "fresh",
    "is_signal",
    "buy_quote_id",
    "sell_quote_id",
)


@dataclass(frozen=True)
class SpreadParams:
    """Gates and costs of the cross-exchange strategy (from [cross] and [venues.*])."""

    fee_bps: dict[str, float]
    min_net_edge_bps: float
    max_quote_age_ms: float
    max_skew_ms: float
    max_position_usdt: float


@dataclass(frozen=True)
class BookState:
    """Per symbol: each venue's latest clean quote, and the routes currently qualifying."""

    last: pl.DataFrame | None = None  # one row per venue: exchange + LEG_FIELDS
    active: frozenset[tuple[str, str]] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Evaluation:
    """One batch's evaluations of one symbol, kept lean: numbers and indexes, no strings.

    ``lean`` has one row per (update, route with both legs known): ``_pos`` (row of ``batch``), ``_route`` (index
    into ``routes``), ``_buy``/``_sell`` (rows of ``batch`` holding each leg), the metrics of SPREAD_COLUMNS, and
    ``is_edge`` (the route starts qualifying here: a signal). Strings are built only for rows that are written.
    """

    symbol: str
    routes: list[tuple[str, str]]
    batch: pl.DataFrame
    lean: pl.DataFrame

    def rows(self, lean: pl.DataFrame | None = None) -> pl.DataFrame:
        """Full ``spreads`` rows (SPREAD_COLUMNS) for the given lean rows (default: all)."""
        lean = self.lean if lean is None else lean
        ids = self.batch["quote_id"]
        buy_names = pl.Series([b for b, _ in self.routes], dtype=pl.String)
        sell_names = pl.Series([s for _, s in self.routes], dtype=pl.String)
        route = lean["_route"]
        return lean.with_columns(
            (ids.gather(lean["_pos"]) + "/" + buy_names.gather(route) + "/" + sell_names.gather(route)).alias(
                "spread_id"
            ),
            pl.lit(self.symbol).alias("symbol"),
            buy_names.gather(route).alias("buy_exchange"),
            sell_names.gather(route).alias("sell_exchange"),
            ids.gather(lean["_buy"]).alias("buy_quote_id"),
            ids.gather(lean["_sell"]).alias("sell_quote_id"),
        ).select(SPREAD_COLUMNS)


def evaluate(
    state: BookState, quotes: pl.DataFrame, p: SpreadParams, downs: pl.DataFrame | None = None
) -> tuple[BookState, Evaluation]:
    """Evaluate one symbol's clean quotes (processing order) against the venues' latest quotes.

    ``downs`` (live only: ``exchange``, ``down_ts``) are moments a venue's feed became unfit; a leg received before
    such a moment is not fresh at any evaluation after it, however young it is.

    The math runs on NumPy arrays taken once per column and ``lean`` is built once at the end: a polars pass per
    formula over ~4 evaluations per quote cost more than the arithmetic.

    Raises:
        ValueError: a leg column holds nulls (the normalize step rejects such quotes: only clean quotes belong here).
    """
    symbol = quotes["symbol"][0]
    batch = quotes.select("exchange", *LEG_FIELDS).with_columns(pl.lit(False).alias("_hist"))
    if state.last is not None:
        batch = pl.concat([state.last.with_columns(pl.lit(True).alias("_hist")).select(batch.columns), batch])
    missing = [c for c in LEG_FIELDS[:-1] if batch[c].has_nulls()]
    if missing:
        msg = f"spreads.evaluate({symbol}): null {', '.join(missing)} in the quotes; pass clean quotes only"
        raise ValueError(msg)
    known = [] if state.last is None else state.last["exchange"].to_list()
    venues, code = _venue_codes(batch["exchange"], known)
    routes = list(permutations(venues, 2))
    pairs = _Pairs(venues, routes, code, 0 if state.last is None else state.last.height)
    ts_dtype = pl.Datetime("us", batch["ts_recv"].dtype.time_zone)  # type: ignore[attr-defined]
    m = _metrics(batch, pairs, p, ts_dtype)
    ts_eval = pl.Series("ts_eval", m.pop("t_eval_us")).cast(ts_dtype)
    fresh = (m["age_ms"] <= p.max_quote_age_ms) & (m["skew_ms"] <= p.max_skew_ms)
    if downs is not None and downs.height and pairs.pos.size:
        fresh &= ~_feed_down(pairs.route, (pairs.buy, pairs.sell), ts_eval, routes, batch["ts_recv"], downs)
    is_signal = fresh & (m["qty"] > 0) & (m["net_edge_bps"] >= p.min_net_edge_bps)
    was_active = np.array([route in state.active for route in routes], dtype=bool)
    is_edge, active_after = pairs.rising_edges(is_signal, was_active)
    lean = pl.DataFrame(
        {
            "_pos": pairs.pos.astype(np.uint32),
            "_route": pairs.route.astype(np.uint32),
            "_buy": pairs.buy.astype(np.uint32),
            "_sell": pairs.sell.astype(np.uint32),
            "ts_eval": ts_eval,
            **m,
            "fresh": fresh,
            "is_signal": is_signal,
            "is_edge": is_edge,
        }
    )
    last = batch.select("exchange", *LEG_FIELDS)[pairs.latest[:, -1]]  # one row per venue, sorted
    active = frozenset(route for route, on in zip(routes, active_after, strict=True) if on)
    return BookState(last, active), Evaluation(symbol, routes, batch, lean)


def _metrics(batch: pl.DataFrame, pairs: _Pairs, p: SpreadParams, ts_dtype: pl.Datetime) -> dict[str, np.ndarray]:
    """Per lean row: ``t_eval_us`` (receive clock, µs) and the numbers of SPREAD_COLUMNS from ``buy_px`` to
    ``expected_profit_quote``, in that order (the module docstring's formulas).

    The IEEE operations polars does for these formulas, in its order, so results match polars computations bit for
    bit: a division by a scalar is a multiplication by its reciprocal, min_horizontal ignores NaN (fmin). In place
    where a fresh array would only hold an intermediate: allocating is a good part of the cost here.
    """

    def column(name: str) -> np.ndarray:
        return batch[name].to_numpy()

    def micros(name: str) -> np.ndarray:  # datetime64[us] viewed as int64: cheaper than to_physical()
        ts = batch[name]
        return (ts if ts.dtype == ts_dtype else ts.cast(ts_dtype)).to_numpy().view(np.int64)

    pos, route, buy, sell, other = pairs.pos, pairs.route, pairs.buy, pairs.sell, pairs.other
    recv_us, event_us = micros("ts_recv"), micros("ts_event")
    t_eval_us = recv_us.take(pos)
    # One leg is the update itself: its age is 0, so the other leg's age is the older one's.
    age_ms = _ms_apart(t_eval_us, recv_us.take(other))
    skew_ms = _ms_apart(event_us.take(pos), event_us.take(other))
    buy_px, sell_px = column("ask_px").take(buy), column("bid_px").take(sell)
    buy_cost = np.array([1 + p.fee_bps[b] / 1e4 for b, _ in pairs.routes], dtype=np.float64).take(route)
    buy_cost *= buy_px
    sell_gain = np.array([1 - p.fee_bps[s] / 1e4 for _, s in pairs.routes], dtype=np.float64).take(route)
    sell_gain *= sell_px
    qty = column("ask_qty").take(buy)
    np.fmin(qty, column("bid_qty").take(sell), out=qty)
    np.fmin(qty, p.max_position_usdt / buy_px, out=qty)
    net_edge_bps = _bps(sell_gain / buy_cost)
    profit_quote = np.subtract(sell_gain, buy_cost, out=sell_gain)
    profit_quote *= qty
    return {
        "t_eval_us": t_eval_us,
        "buy_px": buy_px,
        "sell_px": sell_px,
        "age_ms": age_ms,
        "skew_ms": skew_ms,
        "qty": qty,
        "gross_edge_bps": _bps(sell_px / buy_px),
        "net_edge_bps": net_edge_bps,
        "expected_profit_quote": profit_quote,
    }


def _venue_codes(exchange: pl.Series, known: list[str]) -> tuple[list[str], np.ndarray]:
    """The venues of the batch (sorted) and each row's index into them. ``known``: the venues of the state rows, all
    of them in the batch; usually no other venue appears, which spares a ``unique`` over the rows."""
    masks = [(exchange == venue).to_numpy() for venue in known]
    if not masks or not np.logical_or.reduce(masks).all():
        known = sorted(exchange.unique())
        masks = [(exchange == venue).to_numpy() for venue in known]
    code = np.zeros(len(exchange), dtype=np.int64)
    for v, mask in enumerate(masks[1:], start=1):
        code += mask * v
    return known, code


def _ms_apart(t_us: np.ndarray, other_us: np.ndarray) -> np.ndarray:
    """``|t - other| / 1000`` in ms, as polars computes it (``* (1 / 1000)``); ``other_us`` is a temporary."""
    np.subtract(t_us, other_us, out=other_us)
    return np.abs(other_us, out=other_us) * (1 / 1000)


def _bps(ratio: np.ndarray) -> np.ndarray:
    """``(ratio - 1) * 1e4``, in place (``ratio`` is a temporary)."""
    ratio -= 1
    ratio *= 1e4
    return ratio


class _Pairs:
    """The evaluations of a batch (state rows first) as index arrays, and where each venue's latest quote is.

    Lean rows are (update, route touching the updated venue) for the rows after the ``n_hist`` state rows, ordered by
    update then route, whose two legs are both known. Each route touching venue ``c`` has a fixed slot among the
    ``2 (V - 1)`` routes touching it, so the rows are an (update, slot) grid, minus the cells whose other leg is not
    known yet (only before every venue has quoted). One leg of every row is the update itself.

    Attributes:
        pos, route, buy, sell, other: per lean row, the update's row, the route (index into ``routes``), the rows of
            the buy and sell legs' quotes, and the row of the leg that is not the update.
        latest: ``latest[v, i]`` is the row of venue ``v``'s latest quote at row ``i`` (-1 before its first quote).
    """

    def __init__(self, venues: list[str], routes: list[tuple[str, str]], code: np.ndarray, n_hist: int) -> None:
        n_venues, n = len(venues), len(code)
        self.routes, self.code, self.n_hist = routes, code, n_hist
        self.buy_venue = np.array([venues.index(b) for b, _ in routes], dtype=np.int64)
        self.sell_venue = np.array([venues.index(s) for _, s in routes], dtype=np.int64)
        self.latest = np.where(code == np.arange(n_venues)[:, None], np.arange(n), -1)
        np.maximum.accumulate(self.latest, axis=1, out=self.latest)
        # slot_route[c, k]: the k-th route touching venue c; slot_of: the inverse; slot_buys: c is its buying venue.
        slot_route = np.array(
            [[r for r in range(len(routes)) if c in (self.buy_venue[r], self.sell_venue[r])] for c in range(n_venues)],
            dtype=np.int64,
        ).reshape(n_venues, -1)
        slot_buys = self.buy_venue[slot_route] == np.arange(n_venues)[:, None]
        slot_other = np.where(slot_buys, self.sell_venue[slot_route], self.buy_venue[slot_route])
        self.n_slots = slot_route.shape[1]
        self.slot_of = np.zeros((n_venues, len(routes)), dtype=np.int64)
        for c in range(n_venues):
            self.slot_of[c, slot_route[c]] = np.arange(self.n_slots)

        upd = np.arange(n_hist, n)
        venue = code[upd]
        # Flat (update-major) arrays: numpy broadcasting over a 2 (V - 1) wide grid runs a tiny inner loop per row.
        pos = np.repeat(upd, self.n_slots)
        other = slot_other.take(venue, axis=0).ravel()
        other *= n
        other += pos
        other = self.latest.take(other)  # the other venue's latest quote at the update
        # buy = the update where its venue buys, else the other leg; sell = the other one (integer arithmetic is
        # cheaper than two np.where)
        shift = pos - other
        shift *= slot_buys.take(venue, axis=0).ravel()
        buy, sell = other + shift, pos - shift
        columns = [pos, slot_route.take(venue, axis=0).ravel(), buy, sell, other]
        known = columns[-1] >= 0
        self.kept: np.ndarray | None = None  # lean row of each grid cell, when some were dropped
        if not known.all():
            self.kept = np.cumsum(known) - 1
            columns = [c[known] for c in columns]
        self.pos, self.route, self.buy, self.sell, self.other = columns

    def lean_row(self, pos: np.ndarray, route: np.ndarray) -> np.ndarray:
        """Lean row of evaluations (update ``pos``, ``route``) known to exist."""
        cell = (pos - self.n_hist) * self.n_slots + self.slot_of[self.code.take(pos), route]
        return cell if self.kept is None else self.kept.take(cell)

    def evaluated_at(self, pos: np.ndarray, route: np.ndarray) -> np.ndarray:
        """Whether ``route`` has a lean row at row ``pos``, given that ``pos`` is the latest update of either of
        its venues at that point (-1: none): an update of the batch with both legs known."""
        ok = pos >= self.n_hist
        at = np.where(ok, pos, 0)
        return ok & (self.latest[self.buy_venue[route], at] >= 0) & (self.latest[self.sell_venue[route], at] >= 0)

    def previous_update(self, route: np.ndarray, before: np.ndarray) -> np.ndarray:
        """Row of the latest update of either venue of ``route`` before row ``before`` (-1: none)."""
        at = np.maximum(before - 1, 0)
        prev = np.maximum(self.latest[self.buy_venue[route], at], self.latest[self.sell_venue[route], at])
        return np.where(before > 0, prev, -1)

    def rising_edges(self, is_signal: np.ndarray, was_active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per lean row, whether its route starts qualifying there (it did not at the route's previous row, or, for
        the route's first row, before the batch: ``was_active`` per route); and per route, whether it qualifies
        after the batch. Only the rows that qualify are looked at: the previous row of a route is the previous
        update of either of its venues."""
        rows = np.flatnonzero(is_signal)
        r, at = self.route.take(rows), self.pos.take(rows)
        prev = self.previous_update(r, at)
        before = was_active.take(r)
        seen = self.evaluated_at(prev, r)
        before[seen] = is_signal.take(self.lean_row(prev[seen], r[seen]))
        is_edge = np.zeros_like(is_signal)
        is_edge[rows] = ~before
        every = np.arange(len(self.routes))
        last = self.previous_update(every, np.full(len(self.routes), len(self.code)))
        after = was_active.copy()
        seen = self.evaluated_at(last, every)
        after[seen] = is_signal.take(self.lean_row(last[seen], every[seen]))
        return is_edge, after


def _feed_down(
    route: np.ndarray,
    legs: tuple[np.ndarray, np.ndarray],
    ts_eval: pl.Series,
    routes: list[tuple[str, str]],
    ts_recv: pl.Series,
    downs: pl.DataFrame,
) -> np.ndarray:
    """True where either leg's venue (buy, sell rows of ``ts_recv``) went down after that leg's quote arrived and
    by the evaluation."""
    stale = []
    for side, idx in enumerate(legs):
        names = pl.Series([pair[side] for pair in routes], dtype=pl.String)
        frame = pl.DataFrame({"exchange": names.gather(route), "leg": ts_recv.gather(idx), "at": ts_eval})
        stale.append(stale_leg(frame, downs, "exchange", "leg", "at").to_numpy())
    return stale[0] | stale[1]


def signals_from(rows: pl.DataFrame) -> pl.DataFrame:
    """Signal rows (the ``signals`` table) from the spread rows where a route starts qualifying."""
    return rows.select(
        pl.concat_str([pl.lit("cross/"), pl.col("spread_id")]).alias("signal_id"),
        pl.lit("cross").alias("strategy"),
        "symbol",
        "buy_exchange",
        "sell_exchange",
        pl.col("ts_eval").alias("ts_signal"),
        "buy_px",
        "sell_px",
        "qty",
        (pl.col("qty") * pl.col("buy_px")).alias("notional_quote"),
        "gross_edge_bps",
        "net_edge_bps",
        "expected_profit_quote",
        "age_ms",
        "skew_ms",
        "buy_quote_id",
        "sell_quote_id",
    )
