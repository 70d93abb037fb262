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

Vectorized: each venue's latest quote is forward-filled over the batch (seeded from state), then all pairs at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations

import polars as pl

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


def _leg(venue: str, name: str) -> pl.Expr:
    return pl.col(f"{name}@{venue}")


def evaluate(state: BookState, quotes: pl.DataFrame, p: SpreadParams) -> tuple[BookState, pl.DataFrame]:
    """Evaluate one symbol's clean quotes (processing order). Returns new state and one row per (update, route)
    with both legs known, in SPREAD_COLUMNS order."""
    batch = quotes.select("exchange", "symbol", *LEG_FIELDS).with_columns(pl.lit(False).alias("_hist"))
    if state.last is not None:
        hist = state.last.with_columns(pl.lit(batch["symbol"][0]).alias("symbol"), pl.lit(True).alias("_hist"))
        batch = pl.concat([hist.select(batch.columns), batch])
    venues = sorted(batch["exchange"].unique())
    wide = batch.with_row_index("_pos").with_columns(
        [
            pl.when(pl.col("exchange") == v).then(pl.col(f)).forward_fill().alias(f"{f}@{v}")
            for v in venues
            for f in LEG_FIELDS
        ]
    )
    updates = wide.filter(~pl.col("_hist"))
    routes = []
    for buy, sell in permutations(venues, 2):
        fee_buy, fee_sell = p.fee_bps[buy] / 1e4, p.fee_bps[sell] / 1e4
        ask, bid = _leg(buy, "ask_px"), _leg(sell, "bid_px")
        older_recv = pl.min_horizontal(_leg(buy, "ts_recv"), _leg(sell, "ts_recv"))
        qty = pl.min_horizontal(_leg(buy, "ask_qty"), _leg(sell, "bid_qty"), p.max_position_usdt / ask)
        routes.append(
            updates.filter(pl.col("exchange").is_in([buy, sell]) & ask.is_not_null() & bid.is_not_null()).select(
                pl.concat_str([pl.col("quote_id"), pl.lit(f"/{buy}/{sell}")]).alias("spread_id"),
                "symbol",
                pl.lit(buy).alias("buy_exchange"),
                pl.lit(sell).alias("sell_exchange"),
                pl.col("ts_recv").alias("ts_eval"),
                ask.alias("buy_px"),
                bid.alias("sell_px"),
                qty.alias("qty"),
                ((bid / ask - 1) * 1e4).alias("gross_edge_bps"),
                ((bid * (1 - fee_sell) / (ask * (1 + fee_buy)) - 1) * 1e4).alias("net_edge_bps"),
                (qty * (bid * (1 - fee_sell) - ask * (1 + fee_buy))).alias("expected_profit_quote"),
                ((pl.col("ts_recv") - older_recv).dt.total_microseconds().abs() / 1000).alias("age_ms"),
                ((_leg(buy, "ts_event") - _leg(sell, "ts_event")).dt.total_microseconds().abs() / 1000).alias(
                    "skew_ms"
                ),
                _leg(buy, "quote_id").alias("buy_quote_id"),
                _leg(sell, "quote_id").alias("sell_quote_id"),
                "_pos",
            )
        )
    spreads = pl.concat(routes).sort("_pos", "buy_exchange", "sell_exchange") if routes else _no_routes(updates)
    fresh = (pl.col("age_ms") <= p.max_quote_age_ms) & (pl.col("skew_ms") <= p.max_skew_ms)
    spreads = spreads.with_columns(fresh.alias("fresh")).with_columns(
        (pl.col("fresh") & (pl.col("qty") > 0) & (pl.col("net_edge_bps") >= p.min_net_edge_bps)).alias("is_signal")
    )
    last = (
        batch.group_by("exchange", maintain_order=True)
        .last()
        .select("exchange", *LEG_FIELDS)
        .sort("exchange")
    )
    active = _active_after(state.active, spreads)
    return BookState(last, active), spreads.select(*SPREAD_COLUMNS, "_pos")


def _no_routes(updates: pl.DataFrame) -> pl.DataFrame:
    """An empty evaluation (fewer than two venues known yet), with the right column types."""
    ts = updates.schema["ts_recv"]
    types = {"ts_eval": ts, "symbol": pl.String, "_pos": pl.UInt32}
    types |= {c: pl.String for c in ("spread_id", "buy_exchange", "sell_exchange", "buy_quote_id", "sell_quote_id")}
    columns = [c for c in SPREAD_COLUMNS if c not in ("fresh", "is_signal")] + ["_pos"]
    return pl.DataFrame(schema={c: types.get(c, pl.Float64) for c in columns})


def _active_after(active: frozenset[tuple[str, str]], spreads: pl.DataFrame) -> frozenset[tuple[str, str]]:
    """Routes whose latest evaluation qualifies (routes not evaluated keep their status)."""
    latest = spreads.group_by("buy_exchange", "sell_exchange").agg(pl.col("is_signal").last())
    now = dict(((r[0], r[1]), r[2]) for r in latest.iter_rows())
    return frozenset(route for route in active | set(now) if now.get(route, route in active))


def rising_edges(active_before: frozenset[tuple[str, str]], spreads: pl.DataFrame) -> pl.DataFrame:
    """The evaluations where a route starts qualifying: the signals."""
    was_active = pl.format("{}/{}", "buy_exchange", "sell_exchange").is_in([f"{b}/{s}" for b, s in sorted(active_before)])
    previous = pl.col("is_signal").shift(1).over("buy_exchange", "sell_exchange", order_by="_pos")
    return spreads.filter(pl.col("is_signal") & ~previous.fill_null(was_active))


def signals_from(spreads: pl.DataFrame) -> pl.DataFrame:
    """Signal rows (the ``signals`` table) from rising-edge spread rows."""
    return spreads.select(
        pl.format("cross/{}", "spread_id").alias("signal_id"),
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
