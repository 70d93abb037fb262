"""Paper execution of a two-leg signal against the market as it is when the orders arrive (pure functions).

Model (documented so the numbers can be checked by hand):

* Each leg is a taker IOC limit order sent ``latency_ms`` after the signal. Its limit is the signal's own price moved
  by ``slippage_tolerance_bps`` against us (buy: ``buy_px * (1 + tol)``, sell: ``sell_px * (1 - tol)``). It fills
  against the book of that venue as of the arrival time: every displayed level within the limit, best first. With
  top-of-book quotes the book is one level (price, displayed size); when a quote carries depth lists
  (``ask_levels_px``/``ask_levels_qty``, ``bid_levels_px``/``bid_levels_qty``) they are walked instead.
* Outcome: both legs complete -> ``filled``; both at least ``partial_fill_threshold`` filled -> ``partial`` (the
  hedged quantity is kept, the excess of the fuller leg is unwound); otherwise, if anything filled ->
  ``leg_failure`` (everything that filled is unwound); nothing filled -> ``missed``.
* An unwind is a market order on the same venue, opposite side, at the book as it is ``execution_timeout_ms`` after
  arrival (the time at which the failed leg is known to have timed out). It walks the displayed levels; a remainder
  beyond the displayed depth is priced at the last displayed level (the model has no deeper information).
* Taker fee on every fill, in quote currency: ``qty * px * fee_bps / 1e4``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Side = Literal["buy", "sell"]
QTY_EPS = 1e-12


@dataclass(frozen=True)
class LegFill:
    """One order's result. ``status``: filled | partial | slippage (best price beyond the limit) | no_quote."""

    exchange: str
    symbol: str
    side: Side
    qty_requested: float
    qty_filled: float
    avg_px: float | None
    fee_quote: float
    limit_px: float | None
    status: str

    @property
    def cash_quote(self) -> float:
        """Signed quote-currency flow before fees: + proceeds of a sell, - cost of a buy."""
        notional = self.qty_filled * (self.avg_px or 0.0)
        return notional if self.side == "sell" else -notional


def book_side(quote: Mapping[str, Any], side: Side) -> list[tuple[float, float]]:
    """Levels a taker order of ``side`` consumes (asks for a buy, bids for a sell), best first."""
    prefix = "ask" if side == "buy" else "bid"
    pxs, qtys = quote.get(f"{prefix}_levels_px"), quote.get(f"{prefix}_levels_qty")
    levels = []
    if pxs is not None and qtys is not None:
        levels = [
            (float(p), float(q)) for p, q in zip(pxs, qtys, strict=True) if p is not None and q is not None and q > 0
        ]
    if not levels:  # no depth (or an empty side): the top of book
        levels = [(float(quote[f"{prefix}_px"]), float(quote[f"{prefix}_qty"]))]
    return sorted(levels, key=lambda lv: lv[0], reverse=(side == "sell"))


def walk_levels(
    levels: Sequence[tuple[float, float]], qty: float, side: Side, limit_px: float | None
) -> tuple[float, float]:
    """Fill ``qty`` against ``levels`` (best first) within ``limit_px``; return (filled qty, notional).

    With ``limit_px`` None (a market order) a remainder beyond the displayed depth fills at the last level's price.
    """
    filled, notional = 0.0, 0.0
    for px, size in levels:
        if limit_px is not None and (px > limit_px if side == "buy" else px < limit_px):
            break
        take = min(size, qty - filled)
        filled += take
        notional += take * px
        if qty - filled <= QTY_EPS:
            return qty, notional
    if limit_px is None and levels and qty - filled > QTY_EPS:
        notional += (qty - filled) * levels[-1][0]
        filled = qty
    return filled, notional


def fill_leg(
    quote: Mapping[str, Any] | None,
    exchange: str,
    symbol: str,
    side: Side,
    qty: float,
    limit_px: float | None,
    fee_bps: float,
) -> LegFill:
    """Execute one taker order against the venue's book as of arrival (``quote`` None = no market known)."""
    if quote is None:
        return LegFill(exchange, symbol, side, qty, 0.0, None, 0.0, limit_px, "no_quote")
    filled, notional = walk_levels(book_side(quote, side), qty, side, limit_px)
    if filled <= QTY_EPS:
        return LegFill(exchange, symbol, side, qty, 0.0, None, 0.0, limit_px, "slippage")
    status = "filled" if qty - filled <= QTY_EPS * max(1.0, qty) else "partial"
    return LegFill(exchange, symbol, side, qty, filled, notional / filled, notional * fee_bps / 1e4, limit_px, status)


@dataclass(frozen=True)
class Outcome:
    """What happens after both legs: ``status`` and the quantities to unwind on each leg's venue."""

    status: str  # filled | partial | leg_failure | missed
    matched_qty: float
    unwind_buy_leg_qty: float  # base to sell back on the buy venue
    unwind_sell_leg_qty: float  # base to buy back on the sell venue


def classify(buy: LegFill, sell: LegFill, qty: float, partial_fill_threshold: float) -> Outcome:
    """Decide kept vs unwound quantities from the two legs' fills (see the module docstring)."""
    qb, qs = buy.qty_filled, sell.qty_filled
    if qb <= QTY_EPS and qs <= QTY_EPS:
        return Outcome("missed", 0.0, 0.0, 0.0)
    if buy.status == "filled" and sell.status == "filled":
        return Outcome("filled", min(qb, qs), 0.0, 0.0)
    if min(qb, qs) >= partial_fill_threshold * qty - QTY_EPS:
        matched = min(qb, qs)
        return Outcome("partial", matched, qb - matched, qs - matched)
    return Outcome("leg_failure", 0.0, qb, qs)


def edge_bps(pnl_quote: float, qty: float, ref_px: float) -> float | None:
    """Net edge in bps of the intended notional ``qty * ref_px`` (None for a zero notional)."""
    notional = qty * ref_px
    return pnl_quote / notional * 1e4 if notional > 0 else None


def limit_prices(buy_px: float, sell_px: float, slippage_tolerance_bps: float) -> tuple[float, float]:
    """The IOC limits of the buy and sell legs: the signal's prices moved against us by the tolerance."""
    tol = slippage_tolerance_bps / 1e4
    return buy_px * (1.0 + tol), sell_px * (1.0 - tol)
