"""CeLue cross-exchange arbitrage: every ordered venue pair of one symbol, evaluated on every quote update.

For an update at receive time ``t`` and a route (buy on A at its ask, sell on B at its bid), using each venue's latest
clean quote at ``t``::

    gross_edge_bps = (bid_B / ask_A - 1) * 1e4
    net_edge_bps   = (bid_B * (1 - fee_B) / (ask_A * (1 + fee_A)) - 1) * 1e4     # both taker fees paid
    qty            = min(ask_qty_A, bid_qty_B, max_position_usdt / ask_A)          # base units
    expected_profit_quote = qty * (bid_B * (1 - fee_B) - ask_A * (1 + fee_A))

The evaluation is *fresh* when the older leg was received at most ``max_quote_age_ms`` before ``t`` (receive clock,
immune to venue clock drift) and the legs' event times differ by at most ``max_skew_ms``. It *qualifies* when fresh,
``qty > 0`` and ``net_edge_bps >= min_net_edge_bps``. Which qualifying evaluation is a **signal** (an opportunity
starts) is decided by the episode state machine (flows/common/edges.py ``edge_events``), not here.

**Atomic instants.** Updates are applied an *instant* at a time: consecutive rows with the same event time
(``ts_event`` = ts_exchange, else ts_recv), e.g. several venues' 1 s snapshots stamped the same second. A route is
evaluated once per instant that touches it, after every update of the instant is applied, at ``t`` = the latest
receive time in the instant: no evaluation pairs a new quote with a quote its venue replaced in the same instant.
Within an instant rows are taken by exchange name, so the result does not depend on the order files were merged in.
The caller passes whole instants only (flows/arbitrage.py holds a batch's trailing instant until the next batch).

Vectorized: the row index of each venue's latest quote is forward-filled over the batch (seeded from state), the
legs are gathered by index for all pairs at once (NumPy), and strings are built only for rows that are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np
import polars as pl

from connectors.exchanges.feed_state import stale_leg
from connectors.schema import columns
from flows.cross.pairs import Pairs

LEG_FIELDS = ("bid_px", "bid_qty", "ask_px", "ask_qty", "ts_recv", "ts_event", "quote_id")
SPREAD_COLUMNS = columns("spreads")


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
    """Per symbol: each venue's latest clean quote."""

    last: pl.DataFrame | None = None  # one row per venue: exchange + LEG_FIELDS


@dataclass(frozen=True)
class Evaluation:
    """One batch's evaluations of one symbol, kept lean: numbers and indexes, no strings.

    ``lean`` has one row per (instant, route touching it with both legs known): ``_pos`` (row of ``batch``: the
    instant's last update of the route's venues, whose quote id names the evaluation), ``_route`` (index into
    ``routes``), ``_buy``/``_sell`` (rows of ``batch`` holding each leg) and the metrics of SPREAD_COLUMNS. Strings
    are built only for rows that are written.
    """

    symbol: str
    routes: list[tuple[str, str]]
    batch: pl.DataFrame
    lean: pl.DataFrame

    def named(self, lean: pl.DataFrame | None = None) -> pl.DataFrame:
        """The given lean rows (default: all) with ``symbol``, ``buy_exchange`` and ``sell_exchange``: what the
        z-score windows read, without the per-row id strings of :meth:`rows`."""
        lean = self.lean if lean is None else lean
        route = lean["_route"]
        return lean.with_columns(
            pl.lit(self.symbol).alias("symbol"),
            pl.Series([b for b, _ in self.routes], dtype=pl.String).gather(route).alias("buy_exchange"),
            pl.Series([s for _, s in self.routes], dtype=pl.String).gather(route).alias("sell_exchange"),
        )

    def rows(self, lean: pl.DataFrame | None = None) -> pl.DataFrame:
        """Full ``spreads`` rows (SPREAD_COLUMNS) for the given lean rows (default: all)."""
        ids = self.batch["quote_id"]
        named = self.named(lean)
        return named.with_columns(
            (ids.gather(named["_pos"]) + "/" + pl.col("buy_exchange") + "/" + pl.col("sell_exchange")).alias(
                "spread_id"
            ),
            ids.gather(named["_buy"]).alias("buy_quote_id"),
            ids.gather(named["_sell"]).alias("sell_quote_id"),
        ).select(SPREAD_COLUMNS)


def evaluate(
    state: BookState, quotes: pl.DataFrame, p: SpreadParams, downs: pl.DataFrame | None = None
) -> tuple[BookState, Evaluation]:
    """Evaluate one symbol's clean quotes (processing order, whole instants) against the venues' latest quotes.

    ``downs`` (live only: ``exchange``, ``down_ts``) are moments a venue's feed became unfit; a leg received before
    such a moment is not fresh at any evaluation after it, however young it is.

    The math runs on NumPy arrays taken once per column and ``lean`` is built once at the end: a polars pass per
    formula over ~4 evaluations per quote cost more than the arithmetic.

    Raises:
        ValueError: a leg column holds nulls (the normalize step rejects such quotes: only clean quotes belong here).
    """
    symbol = quotes["symbol"][0]
    quotes, shared, shared_end = _instants(quotes)
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
    n_hist = 0 if state.last is None else state.last.height
    pairs = Pairs(venues, routes, code, n_hist, (shared + n_hist, shared_end + n_hist))
    ts_dtype = pl.Datetime("us", batch["ts_recv"].dtype.time_zone)  # type: ignore[attr-defined]
    m = _metrics(batch, pairs, p, ts_dtype)
    ts_eval = pl.Series("ts_eval", m.pop("t_eval_us")).cast(ts_dtype)
    fresh = (m["age_ms"] <= p.max_quote_age_ms) & (m["skew_ms"] <= p.max_skew_ms)
    if downs is not None and downs.height and pairs.pos.size:
        fresh &= ~_feed_down(pairs.route, (pairs.buy, pairs.sell), ts_eval, routes, batch["ts_recv"], downs)
    is_signal = fresh & (m["qty"] > 0) & (m["net_edge_bps"] >= p.min_net_edge_bps)
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
        }
    )
    last = batch.select("exchange", *LEG_FIELDS)[pairs.latest[:, -1]]  # one row per venue, sorted
    return BookState(last), Evaluation(symbol, routes, batch, lean)


def trailing_instant(quotes: pl.DataFrame) -> int:
    """Row where the last instant (rows sharing the last row's ``ts_event``, consecutive) starts: a batch may end
    inside an instant, so the caller holds these rows back until the next batch or the end of input."""
    event = quotes["ts_event"]
    same = (event == event[-1]).to_numpy()
    breaks = np.flatnonzero(~same)
    return int(breaks[-1]) + 1 if breaks.size else 0


def _instants(quotes: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The quotes with each instant's rows ordered by exchange (stable); the rows of instants of several rows, and
    the last row of each one's instant.

    Streaming data has few such rows (none: nothing is reordered), snapshot data many: only they are looked at."""
    event = quotes["ts_event"].to_physical().to_numpy()
    tied = event[1:] == event[:-1]
    if not tied.any():
        return quotes, np.empty(0, np.int64), np.empty(0, np.int64)
    shared = np.zeros(quotes.height, dtype=bool)
    shared[1:] |= tied
    shared[:-1] |= tied
    rows = np.flatnonzero(shared)
    instant = np.concatenate([[0], np.cumsum(~tied)]).take(rows)
    ends = np.append(np.flatnonzero(~tied), quotes.height - 1).take(instant)
    order = (
        pl.DataFrame({"_instant": instant, "exchange": quotes["exchange"].gather(rows)})
        .with_row_index()
        .sort("_instant", "exchange", maintain_order=True)["index"]
        .to_numpy()
    )
    if (order != np.arange(rows.size)).any():
        perm = np.arange(quotes.height)
        perm[rows] = rows.take(order)
        quotes = quotes[perm]
    return quotes, rows, ends


def _metrics(batch: pl.DataFrame, pairs: Pairs, p: SpreadParams, ts_dtype: pl.Datetime) -> dict[str, np.ndarray]:
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
    older_us = recv_us.take(other)
    shared, end = pairs.shared
    if shared.size:  # an instant is applied when its last update is received; its older leg is the one received first
        first = np.flatnonzero(np.diff(end, prepend=-1))
        applied_us = recv_us.copy()
        applied_us[shared] = np.repeat(
            np.maximum.reduceat(recv_us.take(shared), first), np.diff(first, append=end.size)
        )
        t_eval_us = applied_us.take(pos)
        np.minimum(older_us, recv_us.take(pos), out=older_us)
    # Without ties one leg is the update itself (age 0): the other leg's age is the older one's.
    age_ms = _ms_apart(t_eval_us, older_us)
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
