"""Rows of the ``fills``, ``pnl`` and ``positions`` tables (sql/schema/risk.sql) from paper trading's decisions.

Pure functions: flows/risk/paper.py decides, these build the rows (times as integer microseconds on the receive
clock; flows/risk/tables.py converts them) and the two money figures the rows carry that need a formula.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flows.risk.execution import LegFill, edge_bps
from flows.risk.ledger import Ledger, split_symbol


def fill_row(sig: dict[str, Any], leg: str, fill: LegFill, t_us: int, quote: dict[str, Any] | None) -> dict[str, Any]:
    """One ``fills`` row: ``leg`` of signal ``sig`` filled at ``t_us`` against ``quote`` (None: no quote)."""
    return {
        "fill_id": f"{sig['signal_id']}/{leg}",
        "signal_id": sig["signal_id"],
        "leg": leg,
        "exchange": fill.exchange,
        "symbol": fill.symbol,
        "side": fill.side,
        "ts_fill": t_us,
        "qty_requested": fill.qty_requested,
        "qty_filled": fill.qty_filled,
        "px": fill.avg_px,
        "limit_px": fill.limit_px,
        "fee_quote": fill.fee_quote,
        "book_ts_recv": quote["ts_us"] if quote else None,
        "status": fill.status,
    }


def expected_profit(sig: dict[str, Any], qty: float, fees_bps: Mapping[str, float]) -> float | None:
    """Net profit at the signal's own prices and our fees (None when the signal cannot be priced)."""
    fb, fs = fees_bps.get(sig["buy_exchange"]), fees_bps.get(sig["sell_exchange"])
    try:
        b, s, q = float(sig["buy_px"]), float(sig["sell_px"]), float(qty)
    except (TypeError, ValueError):
        return None
    if fb is None or fs is None or not all(math.isfinite(x) for x in (b, s, q)):
        return None
    return q * (s - b) - q * b * fb / 1e4 - q * s * fs / 1e4


def pnl_row(
    sig: dict[str, Any],
    t_us: int,
    status: str,
    reason: str | None,
    qty: tuple[float, float],
    fills: list[LegFill],
    unwind_cost: float,
    fees_bps: Mapping[str, float],
    cum_net_pnl_usdt: float,
) -> dict[str, Any]:
    """The one ``pnl`` row of a signal, decided at ``t_us``; ``qty`` is (sized, matched)."""
    qty_sized, qty_matched = qty
    realized = sum(f.cash_quote for f in fills)
    fees = sum(f.fee_quote for f in fills)
    qty_ref = qty_sized if qty_sized > 0 else sig["qty"]
    # a skipped strategy's prices are not one symbol's buy and sell: keep the signal's own expectation
    expected = sig.get("expected_profit_quote") if status == "skipped" else expected_profit(sig, qty_ref, fees_bps)
    return {
        "pnl_id": sig["signal_id"],
        "signal_id": sig["signal_id"],
        "strategy": sig["strategy"],
        "symbol": sig["symbol"],
        "buy_exchange": sig["buy_exchange"],
        "sell_exchange": sig["sell_exchange"],
        "ts_signal": sig["ts_signal_us"],
        "ts_decided": t_us,
        "status": status,
        "reason": reason,
        "qty_signal": sig["qty"],
        "qty_sized": qty_sized,
        "qty_matched": qty_matched,
        "signal_net_edge_bps": sig.get("net_edge_bps"),
        "expected_edge_bps": sig.get("net_edge_bps")
        if status == "skipped"
        else (edge_bps(expected, qty_ref, sig["buy_px"]) if expected is not None else None),
        "realized_edge_bps": edge_bps(realized - fees, qty_sized, sig["buy_px"])
        if status not in ("blocked", "skipped")
        else None,
        "expected_profit_quote": expected or 0.0,
        "realized_pnl_quote": realized,
        "fees_quote": fees,
        "net_pnl_quote": realized - fees,
        "unwind_cost_quote": unwind_cost,
        "cum_net_pnl_usdt": cum_net_pnl_usdt,
    }


def position_rows(
    sig: dict[str, Any], stage: str, t_us: int, ledger: Ledger, marks: Mapping[str, float]
) -> list[dict[str, Any]]:
    """``positions`` rows after ``stage`` (execute | unwind) of a signal: both venues, base and quote asset."""
    base, quote = split_symbol(sig["symbol"])
    rows = []
    for venue in sorted({sig["buy_exchange"], sig["sell_exchange"]}):
        for asset in (base, quote):
            bal = ledger.balance(venue, asset)
            start = ledger.start_balances.get(venue, {}).get(asset, 0.0)
            mark = marks.get(asset)
            rows.append(
                {
                    "position_id": f"{sig['signal_id']}/{stage}/{venue}/{asset}",
                    "signal_id": sig["signal_id"],
                    "ts_position": t_us,
                    "exchange": venue,
                    "asset": asset,
                    "balance": bal,
                    "start_balance": start,
                    "position_qty": bal - start,
                    "mark_usdt": mark,
                    "position_usdt": (bal - start) * mark if mark is not None else None,
                }
            )
    return rows


def unwind_cost(legs: list[LegFill], unwinds: list[LegFill]) -> float:
    """Loss, fees included, of the quantities that were unwound (0 when nothing was)."""
    buy, sell = legs
    cost = 0.0
    for u in unwinds:
        leg = buy if u.side == "sell" else sell  # an unwind trades against its own leg
        share = u.qty_filled / leg.qty_filled
        leg_flow = share * (leg.cash_quote - leg.fee_quote)  # buy leg: -(cost + fee); sell leg: proceeds - fee
        cost -= leg_flow + (u.cash_quote - u.fee_quote)
    return cost
