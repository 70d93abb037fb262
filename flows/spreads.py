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
legs are gathered by index for all pairs at once, and strings are built only for rows that are written.
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
    """
    symbol = quotes["symbol"][0]
    batch = quotes.select("exchange", *LEG_FIELDS).with_columns(pl.lit(False).alias("_hist"))
    if state.last is not None:
        batch = pl.concat([state.last.with_columns(pl.lit(True).alias("_hist")).select(batch.columns), batch])
    venues = sorted(batch["exchange"].unique())
    routes = list(permutations(venues, 2))
    lean = _pairs(batch, venues, routes)
    fee_buy = pl.Series([p.fee_bps[b] / 1e4 for b, _ in routes], dtype=pl.Float64)
    fee_sell = pl.Series([p.fee_bps[s] / 1e4 for _, s in routes], dtype=pl.Float64)

    def leg(column: str, idx: str) -> pl.Series:
        return batch[column].gather(lean[idx])

    lean = lean.with_columns(
        leg("ask_px", "_buy").alias("buy_px"),
        leg("bid_px", "_sell").alias("sell_px"),
        pl.min_horizontal(leg("ask_qty", "_buy"), leg("bid_qty", "_sell")).alias("_qty_book"),
        fee_buy.gather(lean["_route"]).alias("_fee_buy"),
        fee_sell.gather(lean["_route"]).alias("_fee_sell"),
        (
            pl.max_horizontal(
                (lean["ts_eval"] - leg("ts_recv", "_buy")).abs(), (lean["ts_eval"] - leg("ts_recv", "_sell")).abs()
            ).dt.total_microseconds()
            / 1000
        ).alias("age_ms"),
        ((leg("ts_event", "_buy") - leg("ts_event", "_sell")).abs().dt.total_microseconds() / 1000).alias("skew_ms"),
    )
    if downs is not None and downs.height and lean.height:
        lean = lean.with_columns(_feed_down(lean, routes, batch, downs).alias("_feed_down"))
    else:
        lean = lean.with_columns(pl.lit(False).alias("_feed_down"))
    buy_cost = pl.col("buy_px") * (1 + pl.col("_fee_buy"))
    sell_gain = pl.col("sell_px") * (1 - pl.col("_fee_sell"))
    qty = pl.min_horizontal("_qty_book", p.max_position_usdt / pl.col("buy_px"))
    lean = lean.with_columns(
        qty.alias("qty"),
        ((pl.col("sell_px") / pl.col("buy_px") - 1) * 1e4).alias("gross_edge_bps"),
        ((sell_gain / buy_cost - 1) * 1e4).alias("net_edge_bps"),
        (qty * (sell_gain - buy_cost)).alias("expected_profit_quote"),
        ((pl.col("age_ms") <= p.max_quote_age_ms) & (pl.col("skew_ms") <= p.max_skew_ms) & ~pl.col("_feed_down")).alias(
            "fresh"
        ),
    ).with_columns(
        (pl.col("fresh") & (pl.col("qty") > 0) & (pl.col("net_edge_bps") >= p.min_net_edge_bps)).alias("is_signal")
    )
    was_active = pl.Series([route in state.active for route in routes], dtype=pl.Boolean)
    previous = pl.col("is_signal").shift(1).over("_route").fill_null(was_active.gather(lean["_route"]))
    lean = lean.with_columns((pl.col("is_signal") & ~previous).alias("is_edge")).drop(
        "_qty_book", "_fee_buy", "_fee_sell", "_feed_down"
    )
    last = batch.group_by("exchange").last().select("exchange", *LEG_FIELDS).sort("exchange")
    latest = dict(lean.group_by("_route").agg(pl.col("is_signal").last()).iter_rows())
    active = frozenset(route for r, route in enumerate(routes) if latest.get(r, route in state.active))
    return BookState(last, active), Evaluation(symbol, routes, batch, lean)


def _feed_down(
    lean: pl.DataFrame, routes: list[tuple[str, str]], batch: pl.DataFrame, downs: pl.DataFrame
) -> pl.Series:
    """True where either leg's venue went down after that leg's quote arrived and by the evaluation."""
    stale = []
    for side, idx in ((0, "_buy"), (1, "_sell")):
        names = pl.Series([route[side] for route in routes], dtype=pl.String)
        legs = pl.DataFrame(
            {
                "exchange": names.gather(lean["_route"]),
                "leg": batch["ts_recv"].gather(lean[idx]),
                "at": lean["ts_eval"],
            }
        )
        stale.append(stale_leg(legs, downs, "exchange", "leg", "at"))
    return stale[0] | stale[1]


def _pairs(batch: pl.DataFrame, venues: list[str], routes: list[tuple[str, str]]) -> pl.DataFrame:
    """One row per (update, route touching the updated venue) whose two legs are both known, ordered by update
    then route; ``_buy``/``_sell`` are the rows of ``batch`` holding each leg's latest quote at that update."""
    code = batch["exchange"].replace_strict({v: i for i, v in enumerate(venues)}, return_dtype=pl.Int64).to_numpy()
    n, n_venues = len(code), len(venues)
    # latest[i, v]: row index of venue v's latest quote at row i (-1 before its first quote).
    latest = np.full((n, n_venues), -1, dtype=np.int64)
    rows = np.arange(n)
    for v in range(n_venues):
        seen = np.where(code == v, rows, -1)
        latest[:, v] = np.maximum.accumulate(seen)
    route_buy = np.array([venues.index(b) for b, _ in routes], dtype=np.int64)
    route_sell = np.array([venues.index(s) for _, s in routes], dtype=np.int64)
    touching = np.array(
        [[r for r in range(len(routes)) if v in (route_buy[r], route_sell[r])] for v in range(n_venues)],
        dtype=np.int64,
    ).reshape(n_venues, -1)
    pos = rows[~batch["_hist"].to_numpy()]
    route = touching[code[pos]].ravel()
    pos = np.repeat(pos, touching.shape[1])
    buy, sell = latest[pos, route_buy[route]], latest[pos, route_sell[route]]
    ok = (buy >= 0) & (sell >= 0)
    pos = pos[ok]
    return pl.DataFrame(
        {
            "_pos": pos.astype(np.uint32),
            "_route": route[ok].astype(np.uint32),
            "_buy": buy[ok].astype(np.uint32),
            "_sell": sell[ok].astype(np.uint32),
            "ts_eval": batch["ts_recv"].gather(pos),
        }
    )


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
