"""Depth-aware sizing: walk book levels (VWAP) to the largest size whose net edge still clears the threshold.

Top-of-book sizing trusts only the best level; a trader wants the size at which the *average* price, fees included,
still pays. Walking the levels makes every amount a piecewise-linear function of the size, with breakpoints at the
cumulative level quantities. The net surplus ``h(q) = proceeds(q) - (1 + threshold) * cost(q)`` is concave (each
deeper level is worse), and ``h(0) = 0``, so the sizes that clear the threshold form one interval ``[0, q*]``: ``q*``
is found exactly by evaluating ``h`` at the breakpoints and solving the one linear piece where it turns negative.

- Cross-exchange (:func:`cross_size`): buy base on one venue's asks, sell it on another's bids; net edge as in
  flows/cross/spreads.py: ``vwap_bid * (1 - fee_sell) / (vwap_ask * (1 + fee_buy)) - 1``.
- Triangular / N-leg (:func:`chain_size`): each leg maps its input amount to its output amount through its book
  (fee taken from what it receives, as in flows/triangular/evaluate.py); the legs compose into one concave function of the
  start amount.

An optional slippage tolerance also bounds each side's VWAP against its best price (design doc
``slippage_tolerance``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-12


def levels(raw: Sequence[Sequence[str | float]], side: str) -> tuple[np.ndarray, np.ndarray]:
    """Venue levels ``[[price, qty], ...]`` (Binance REST/WS strings or numbers), best first -> (px, qty) arrays.

    Zero-quantity levels (deletions in diff streams) are dropped. Raises ValueError on a non-positive price, a
    negative quantity, or levels out of order for ``side`` (``bids`` descending, ``asks`` ascending).
    """
    arr = np.array([[float(p), float(q)] for p, q in raw], dtype=np.float64).reshape(-1, 2)
    px, qty = arr[:, 0], arr[:, 1]
    if (px <= 0).any() or (qty < 0).any() or not np.isfinite(arr).all():
        msg = f"{side}: prices must be positive and quantities non-negative"
        raise ValueError(msg)
    keep = qty > 0
    px, qty = px[keep], qty[keep]
    steps = np.diff(px)
    if (side == "bids" and (steps >= 0).any()) or (side == "asks" and (steps <= 0).any()):
        msg = f"{side} levels must be strictly {'descending' if side == 'bids' else 'ascending'} by price"
        raise ValueError(msg)
    return px, qty


def book_sides(
    book: Mapping[str, Sequence[float]],
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A ``books`` table row (sql/schema/feeds.sql: ``bid_px, bid_qty, ask_px, ask_qty`` lists, best first) ->
    ``(bids, asks)`` as :func:`levels` returns them (validated the same way)."""
    for side in ("bid", "ask"):
        if len(book[f"{side}_px"]) != len(book[f"{side}_qty"]):
            msg = f"books row: {side}_px and {side}_qty have different lengths"
            raise ValueError(msg)
    bids = levels(list(zip(book["bid_px"], book["bid_qty"], strict=True)), "bids")
    asks = levels(list(zip(book["ask_px"], book["ask_qty"], strict=True)), "asks")
    return bids, asks


def _cum(px: np.ndarray, qty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative base quantity and quote amount at each level boundary, starting at 0."""
    return np.concatenate([[0.0], np.cumsum(qty)]), np.concatenate([[0.0], np.cumsum(px * qty)])


def _last_nonnegative(x: np.ndarray, h: np.ndarray) -> float:
    """Largest ``x`` where a concave piecewise-linear ``h`` (``h(x[0] = 0) = 0``, breakpoints ``x``) is >= 0."""
    ok = h >= -TOLERANCE * np.maximum(1.0, np.abs(x))
    k = int(np.argmin(ok)) - 1 if not ok.all() else len(x) - 1
    if k == len(x) - 1:
        return float(x[-1])
    if k < 0:
        return 0.0
    return float(x[k] + h[k] / (h[k] - h[k + 1]) * (x[k + 1] - x[k]))


@dataclass(frozen=True)
class CrossSize:
    """Depth-aware size of a cross-exchange trade.

    Attributes:
        qty_base: largest size (base units) clearing every limit; 0 when even the first unit does not.
        buy_vwap, sell_vwap: average prices at that size (NaN at size 0).
        net_edge_bps: net edge at that size (at the best prices when the size is 0).
        limited_by: ``edge`` (threshold), ``depth`` (book exhausted), ``slippage`` or ``notional``.
    """

    qty_base: float
    buy_vwap: float
    sell_vwap: float
    net_edge_bps: float
    limited_by: str


def cross_size(
    asks: tuple[np.ndarray, np.ndarray],
    bids: tuple[np.ndarray, np.ndarray],
    fee_buy_bps: float,
    fee_sell_bps: float,
    min_net_edge_bps: float,
    slippage_tolerance_bps: float | None = None,
    max_notional_quote: float | None = None,
) -> CrossSize:
    """Largest base quantity to buy on ``asks`` and sell on ``bids`` with net edge >= ``min_net_edge_bps``.

    Args:
        asks: (px, qty) of the buy venue, best first (see :func:`levels`).
        bids: (px, qty) of the sell venue, best first.
        fee_buy_bps, fee_sell_bps: taker fees of the two venues.
        min_net_edge_bps: threshold on the VWAP net edge.
        slippage_tolerance_bps: each side's VWAP may be at most this far from its best price (None = no bound).
        max_notional_quote: cap on the buy cost before fees (None = none).
    """
    qa, ca = _cum(*asks)
    qb, sb = _cum(*bids)
    q = np.unique(np.concatenate([qa, qb]))
    q = q[q <= min(qa[-1], qb[-1])]
    cost, proceeds = np.interp(q, qa, ca), np.interp(q, qb, sb)
    keep_sell, pay_buy = 1 - fee_sell_bps / 1e4, 1 + fee_buy_bps / 1e4
    limits = {
        "depth": float(q[-1]),
        "edge": _last_nonnegative(q, keep_sell * proceeds - (1 + min_net_edge_bps / 1e4) * pay_buy * cost),
    }
    if slippage_tolerance_bps is not None:
        s = slippage_tolerance_bps / 1e4
        buy_ok = _last_nonnegative(q, q * asks[0][0] * (1 + s) - cost)
        sell_ok = _last_nonnegative(q, proceeds - q * bids[0][0] * (1 - s))
        limits["slippage"] = min(buy_ok, sell_ok)
    if max_notional_quote is not None:
        limits["notional"] = float(np.interp(max_notional_quote, ca, qa)) if max_notional_quote < ca[-1] else qa[-1]
    limited_by = min(limits, key=lambda k: (limits[k], k == "edge"))  # a tie is the other limit: edge still clears
    size = limits[limited_by]
    if size <= 0:
        best = bids[0][0] * keep_sell / (asks[0][0] * pay_buy) - 1
        return CrossSize(0.0, float("nan"), float("nan"), float(best * 1e4), limited_by)
    buy_vwap = float(np.interp(size, qa, ca)) / size
    sell_vwap = float(np.interp(size, qb, sb)) / size
    net = sell_vwap * keep_sell / (buy_vwap * pay_buy) - 1
    return CrossSize(size, buy_vwap, sell_vwap, net * 1e4, limited_by)


@dataclass(frozen=True)
class Piecewise:
    """An increasing piecewise-linear map of amounts, given at its breakpoints ``x`` (from 0) with values ``y``."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, amount: np.ndarray | float) -> np.ndarray:
        return np.interp(amount, self.x, self.y)

    def inverse(self, out: np.ndarray | float) -> np.ndarray:
        return np.interp(out, self.y, self.x)

    def then(self, g: Piecewise) -> Piecewise:
        """``g`` after ``self``, on the inputs whose output ``g`` can still take."""
        cap = min(float(self.y[-1]), float(g.x[-1]))
        xs = np.unique(np.concatenate([self.x, self.inverse(g.x[g.x <= cap])]))
        xs = xs[xs <= float(self.inverse(cap))]
        return Piecewise(xs, g(self(xs)))


@dataclass(frozen=True)
class Leg(Piecewise):
    """One conversion through a book: output amount (after the taker fee) as a function of the input amount.

    Attributes:
        best_rate: output per input at the best level, before the fee (for the slippage bound).
        fee_keep: ``1 - fee``.
        is_buy: buys base with quote (prices are input per output) rather than selling base.
    """

    best_rate: float = 1.0
    fee_keep: float = 1.0
    is_buy: bool = True


def buy_leg(asks: tuple[np.ndarray, np.ndarray], fee_bps: float) -> Leg:
    """Spend quote on the asks, receive base (fee taken from the base)."""
    base, quote = _cum(*asks)
    keep = 1 - fee_bps / 1e4
    return Leg(quote, base * keep, float(1.0 / asks[0][0]), keep, is_buy=True)


def sell_leg(bids: tuple[np.ndarray, np.ndarray], fee_bps: float) -> Leg:
    """Sell base into the bids, receive quote (fee taken from the quote)."""
    base, quote = _cum(*bids)
    keep = 1 - fee_bps / 1e4
    return Leg(base, quote * keep, float(bids[0][0]), keep, is_buy=False)


@dataclass(frozen=True)
class ChainSize:
    """Depth-aware size of a cycle.

    Attributes:
        start_amount: largest start amount clearing every limit (start-asset units).
        end_amount: what it turns into after all legs and fees.
        net_edge_bps: ``(end / start - 1) * 1e4`` at that size (at the best levels when the size is 0).
        leg_inputs, leg_outputs: each leg's input and output amount (after fee) at that size.
        leg_vwaps: each leg's average price in its market's quote per base.
        limited_by: ``edge``, ``depth`` (a book exhausted), ``slippage`` or ``position``.
    """

    start_amount: float
    end_amount: float
    net_edge_bps: float
    leg_inputs: tuple[float, ...]
    leg_outputs: tuple[float, ...]
    leg_vwaps: tuple[float, ...]
    limited_by: str


def chain_size(
    legs: Sequence[Leg],
    min_net_edge_bps: float,
    slippage_tolerance_bps: float | None = None,
    max_start: float | None = None,
) -> ChainSize:
    """Largest start amount whose chained conversion returns at least ``(1 + threshold)`` times the start.

    Args:
        legs: the cycle's legs in order (:func:`buy_leg`, :func:`sell_leg`); each leg's output is the next one's input.
        min_net_edge_bps: threshold on the whole cycle's net edge at that size.
        slippage_tolerance_bps: each leg's VWAP may be at most this far from its best level (None = no bound).
        max_start: position limit in start-asset units (None = none).
    """
    # prefix[k]: start amount -> output of leg k (breakpoints of every earlier book mapped back to start units)
    prefix = [Piecewise(legs[0].x, legs[0].y)]
    for leg in legs[1:]:
        prefix.append(prefix[-1].then(leg))
    whole = prefix[-1]
    limits = {
        "depth": float(whole.x[-1]),
        "edge": _last_nonnegative(whole.x, whole.y - (1 + min_net_edge_bps / 1e4) * whole.x),
    }
    if slippage_tolerance_bps is not None:
        s = slippage_tolerance_bps / 1e4
        bounds = []
        for k, leg in enumerate(legs):
            gross = leg.y / leg.fee_keep
            # VWAP at most (1 + s) x the best ask, or at least (1 - s) x the best bid; in leg k's input units
            worst_rate = leg.best_rate / (1 + s) if leg.is_buy else leg.best_rate * (1 - s)
            most = _last_nonnegative(leg.x, gross - leg.x * worst_rate)
            bounds.append(most if k == 0 else float(prefix[k - 1].inverse(min(most, float(prefix[k - 1].y[-1])))))
        limits["slippage"] = min(bounds)
    if max_start is not None:
        limits["position"] = max_start
    limited_by = min(limits, key=lambda k: (limits[k], k == "edge"))  # a tie is the other limit: edge still clears
    start = min(limits[limited_by], float(whole.x[-1]))
    inputs = [start] + [float(prefix[k](start)) for k in range(len(legs) - 1)]
    outputs = [float(prefix[k](start)) for k in range(len(legs))]
    if start <= 0:
        best = np.prod([leg.best_rate * leg.fee_keep for leg in legs]) - 1
        return ChainSize(0.0, 0.0, float(best * 1e4), tuple(inputs), tuple(outputs), (), limited_by)
    vwaps = tuple(
        inp / (out / leg.fee_keep) if leg.is_buy else (out / leg.fee_keep) / inp
        for inp, out, leg in zip(inputs, outputs, legs, strict=True)
    )
    return ChainSize(
        start, outputs[-1], (outputs[-1] / start - 1) * 1e4, tuple(inputs), tuple(outputs), vwaps, limited_by
    )
