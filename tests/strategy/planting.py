"""Synthetic but arbitrage-free quotes for a real market list, with planted profitable cycles (ground truth).

Every asset gets a fair USD price; each market quotes around ``fair(base) / fair(quote)`` with a half spread, so with
taker fees no cycle of the real markets pays. A planted cycle of ``L`` legs hangs off one real hub asset through
``L - 1`` new assets linked in a chain; the last market's prices are shifted so the cycle earns ``edge_bps`` net of
fees. New assets touch nothing else, so the planted cycle is the only profitable cycle through them.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from connectors.markets.spot import Market


def fair_prices(markets: dict[str, Market], seed: int = 11) -> dict[str, float]:
    """A deterministic USD price per asset (log-uniform between 1e-4 and 1e4; stablecoins at 1, majors near their
    prices at the recording)."""
    assets = sorted({m.base for m in markets.values()} | {m.quote for m in markets.values()})
    rng = np.random.default_rng(seed)
    prices = dict(zip(assets, (10.0 ** rng.uniform(-4, 4, len(assets))).tolist(), strict=True))
    for stable in ("USDT", "BUSD", "USDC", "TUSD", "USDP", "DAI"):
        if stable in prices:
            prices[stable] = 1.0
    prices |= {a: p for a, p in (("BTC", 57_000.0), ("ETH", 3_500.0), ("BNB", 470.0)) if a in prices}  # Oct 2021
    return prices


def quotes_for(
    markets: dict[str, Market], prices: dict[str, float], half_spread_bps: float = 5.0, depth_usd: float = 5_000.0
) -> pl.DataFrame:
    """One top-of-book row per market: bid/ask around the fair cross rate, ``depth_usd`` of size on each side."""
    rows = []
    h = half_spread_bps / 1e4
    for sym in sorted(markets):
        m = markets[sym]
        fair = prices[m.base] / prices[m.quote]
        qty = depth_usd / prices[m.base]
        rows.append(("binance", sym, fair * (1 - h), qty, fair * (1 + h), qty))
    return pl.DataFrame(rows, schema=["exchange", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty"], orient="row")


def plant_cycle(
    markets: dict[str, Market],
    prices: dict[str, float],
    hub: str,
    legs: int,
    tag: str,
    edge_bps: float,
    fee_bps: float = 10.0,
    half_spread_bps: float = 5.0,
) -> tuple[dict[str, Market], pl.DataFrame, list[str]]:
    """New markets forming ``hub > N1 > ... > N{legs-1} > hub`` and their quotes.

    Returns:
        ``(markets, quotes, labels)``: the planted markets, their quotes (the closing market shifted so the cycle
        earns ``edge_bps`` net of fees), and the cycle's edge labels in trading order from the hub.
    """
    names = [f"{tag}{i}" for i in range(1, legs)]
    chain = [hub, *names]
    new_prices = dict(prices)
    for i, n in enumerate(names):
        new_prices[n] = 0.5 + i  # any fair price; the chain is consistent
    planted = {f"{b}/{q}": Market(f"{b}/{q}", b, q, fee_bps) for q, b in itertools.pairwise(chain)}
    close = f"{names[-1]}/{hub}"
    planted[close] = Market(close, names[-1], hub, fee_bps)
    h = half_spread_bps / 1e4
    keep = 1 - fee_bps / 1e4
    # buys at ask along the chain (legs - 1 of them), one sell at the shifted bid of the closing market
    unshifted = ((1 - h) / (1 + h) ** (legs - 1)) * keep**legs
    shift = (1 + edge_bps / 1e4) / unshifted
    quotes = quotes_for(planted, new_prices, half_spread_bps).with_columns(
        pl.when(pl.col("symbol") == close).then(pl.col(c) * shift).otherwise(pl.col(c)).alias(c)
        for c in ("bid_px", "ask_px")
    )
    labels = [f"binance:{b}/{q}:buy" for q, b in itertools.pairwise(chain)]
    labels.append(f"binance:{close}:sell")
    return planted, quotes, labels
