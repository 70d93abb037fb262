"""Paper market making around mid (design doc: disabled by default).

At each refresh, for one (exchange, symbol), quote ``orders_per_side`` bids and asks around a *reservation* price:
the mid, shifted against the inventory so an inventory heavy in base quotes lower (sells more readily) and one heavy
in quote quotes higher::

    skew_bps    = -max_inventory_skew_bps * clip((base_share - inventory_target) / max(target, 1 - target), -1, 1)
    reservation = mid * (1 + skew_bps / 1e4)
    level i     : bid = reservation * (1 - (spread_bps / 2 + i * level_step_bps) / 1e4), ask symmetric above
    qty_base    = order_amount_quote / reservation   (same size both sides: a filled pair leaves no position)

Each level's bid/ask pair is one paper signal (strategy ``market_making``): ``gross_edge_bps`` is the captured spread
and ``net_edge_bps`` the same after a maker fee on both fills. Orders that would cross the current book (a bid at or
above the best ask, an ask at or below the best bid) would take liquidity, not make it: such levels are dropped.

Refreshes are event-driven on the receive clock: the first quote of each ``refresh_ms`` slot (aligned to the Unix
epoch) of an (exchange, symbol) triggers one, so the result does not depend on how quotes are batched.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from arbflow.settings import MarketMakingConfig
from flows.triangular.evaluate import SIGNAL_COLUMNS


def inventory_skew_bps(base_share: float, params: MarketMakingConfig) -> float:
    """Reservation shift for an inventory whose value is ``base_share`` in base (0..1)."""
    if not 0.0 <= base_share <= 1.0:
        msg = f"inventory base share must be within [0, 1], got {base_share}"
        raise ValueError(msg)
    target = params.inventory_target
    scale = max(target, 1.0 - target)
    excess = min(max((base_share - target) / scale, -1.0), 1.0)
    return -params.max_inventory_skew_bps * excess


def paper_quotes(
    quotes: pl.DataFrame,
    last_slot: Mapping[tuple[str, str], int],
    params: MarketMakingConfig,
    base_share: Mapping[tuple[str, str], float] | None = None,
) -> tuple[dict[tuple[str, str], int], pl.DataFrame]:
    """Paper quote signals for clean quotes (schema columns + ``quote_id``, processing order).

    Args:
        quotes: clean quotes of any exchanges and symbols.
        last_slot: per (exchange, symbol), the refresh slot already quoted (state from the previous batch).
        params: quoting parameters.
        base_share: per (exchange, symbol), the inventory's value share in base (absent = at target: no skew).

    Returns:
        ``(last_slot, signals)``: the updated state and ``signals`` rows (core.sql columns), one per level.
    """
    slot_us = int(params.refresh_ms * 1000)
    if slot_us <= 0:
        msg = "market_making.refresh_ms must be positive"
        raise ValueError(msg)
    shares = base_share or {}
    with_slot = quotes.with_row_index("_pos").with_columns((pl.col("ts_recv").dt.epoch("us") // slot_us).alias("_slot"))
    firsts = with_slot.group_by("exchange", "symbol", "_slot", maintain_order=True).first().sort("_pos")
    done = pl.DataFrame(
        [(ex, sym, slot) for (ex, sym), slot in last_slot.items()],
        schema={"exchange": pl.String, "symbol": pl.String, "_done": pl.Int64},
        orient="row",
    )
    fresh = firsts.join(done, on=["exchange", "symbol"], how="left").filter(
        pl.col("_done").is_null() | (pl.col("_slot") > pl.col("_done"))
    )
    skews = pl.DataFrame(
        [(ex, sym, inventory_skew_bps(share, params)) for (ex, sym), share in shares.items()],
        schema={"exchange": pl.String, "symbol": pl.String, "_skew_bps": pl.Float64},
        orient="row",
    )
    fresh = fresh.join(skews, on=["exchange", "symbol"], how="left").with_columns(pl.col("_skew_bps").fill_null(0.0))
    levels = pl.DataFrame({"level": list(range(params.orders_per_side))}, schema={"level": pl.Int32})
    keep = 1 - params.maker_fee_bps / 1e4
    pay = 1 + params.maker_fee_bps / 1e4
    reservation = (pl.col("bid_px") + pl.col("ask_px")) / 2 * (1 + pl.col("_skew_bps") / 1e4)
    offset = (params.spread_bps / 2 + pl.col("level") * params.level_step_bps) / 1e4
    orders = (
        fresh.join(levels, how="cross")
        .with_columns(reservation.alias("_res"))
        .with_columns(
            (pl.col("_res") * (1 - offset)).alias("_bid"),
            (pl.col("_res") * (1 + offset)).alias("_ask"),
            (params.order_amount_quote / pl.col("_res")).alias("_qty"),
        )
        .filter((pl.col("_bid") < pl.col("ask_px")) & (pl.col("_ask") > pl.col("bid_px")))
        .sort("_pos", "level")
    )
    signals = orders.select(
        pl.format("market_making/{}/{}", "quote_id", "level").alias("signal_id"),
        pl.lit("market_making").alias("strategy"),
        "symbol",
        pl.col("exchange").alias("buy_exchange"),
        pl.col("exchange").alias("sell_exchange"),
        pl.col("ts_recv").alias("ts_signal"),
        pl.col("_bid").alias("buy_px"),
        pl.col("_ask").alias("sell_px"),
        pl.col("_qty").alias("qty"),
        (pl.col("_qty") * pl.col("_bid")).alias("notional_quote"),
        ((pl.col("_ask") / pl.col("_bid") - 1) * 1e4).alias("gross_edge_bps"),
        ((pl.col("_ask") * keep / (pl.col("_bid") * pay) - 1) * 1e4).alias("net_edge_bps"),
        (pl.col("_qty") * (pl.col("_ask") * keep - pl.col("_bid") * pay)).alias("expected_profit_quote"),
        pl.lit(0.0).alias("age_ms"),
        pl.lit(0.0).alias("skew_ms"),
        pl.col("quote_id").alias("buy_quote_id"),
        pl.col("quote_id").alias("sell_quote_id"),
        pl.lit(None, pl.String).alias("episode_id"),
    )
    state = dict(last_slot)
    for ex, sym, slot in firsts.group_by("exchange", "symbol").agg(pl.col("_slot").max()).iter_rows():
        state[(ex, sym)] = max(state.get((ex, sym), slot), slot)
    return state, signals.select(SIGNAL_COLUMNS)
