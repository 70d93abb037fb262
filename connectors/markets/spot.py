"""Spot market facts a strategy needs (fees, lot step, minimums), parsed from ccxt market dicts at the edge, so no
strategy reads a venue's metadata format."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Market:
    """What a cycle needs to know about one spot market of a venue.

    Attributes:
        symbol: ccxt unified symbol ``BASE/QUOTE``.
        taker_fee_bps: charged on what the leg receives.
        lot_step_base: order quantities are multiples of this (0 = any quantity).
        min_qty_base: smallest order quantity.
        min_notional_quote: smallest order value (quantity x price), quote currency.
    """

    symbol: str
    base: str
    quote: str
    taker_fee_bps: float
    lot_step_base: float = 0.0
    min_qty_base: float = 0.0
    min_notional_quote: float = 0.0


def markets_from_ccxt(
    markets: Iterable[Mapping[str, Any]], taker_fee_bps: float | None = None, include_inactive: bool = False
) -> dict[str, Market]:
    """ccxt unified market dicts (``exchange.markets.values()``) -> spot markets by symbol.

    Args:
        markets: ccxt markets; ``precision.amount`` is read as a lot step (ccxt's TICK_SIZE precision mode, which
            binance, okx and htx use).
        taker_fee_bps: one fee for every market (the venue's configured fee); None = ccxt's ``taker`` per market.
        include_inactive: keep markets the venue has halted (``active`` false), e.g. to scan a full market list.
    """
    out: dict[str, Market] = {}
    for m in markets:
        if not m.get("spot", True) or (m.get("active") is False and not include_inactive):
            continue
        if taker_fee_bps is None and m.get("taker") is None:
            msg = f"market {m.get('symbol')!r} has no taker fee and no venue fee was configured"
            raise ValueError(msg)
        limits = m.get("limits") or {}
        fee_bps = taker_fee_bps if taker_fee_bps is not None else float(m["taker"]) * 1e4
        out[m["symbol"]] = Market(
            symbol=m["symbol"],
            base=m["base"],
            quote=m["quote"],
            taker_fee_bps=fee_bps,
            lot_step_base=float((m.get("precision") or {}).get("amount") or 0.0),
            min_qty_base=float((limits.get("amount") or {}).get("min") or 0.0),
            min_notional_quote=float((limits.get("cost") or {}).get("min") or 0.0),
        )
    return out
