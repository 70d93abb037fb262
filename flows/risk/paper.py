"""Paper trading of two-leg signals: admission (kill switch, balances, liquidity, sizing), execution at the market
as it is ``latency_ms`` later, unwinds after ``execution_timeout_ms``, and the fills, positions and pnl rows.

The fill model itself is in flows/risk/execution.py; the accounting in flows/risk/ledger.py; the rows in
flows/risk/rows.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from arbflow.settings import RiskConfig
from flows.risk import rows
from flows.risk.execution import LegFill, Outcome, Side, classify, fill_leg, limit_prices
from flows.risk.guard import Guard
from flows.risk.ledger import split_symbol
from flows.risk.state import EXECUTE, UNWIND, US_PER_MS, Out, RiskState, schedule


class PaperTrader:
    """The signal lifecycle admit -> execute -> (unwind) over a RiskState."""

    def __init__(self, cfg: RiskConfig, fees_bps: Mapping[str, float], guard: Guard) -> None:
        self.cfg = cfg
        self.fees_bps = dict(fees_bps)
        self.guard = guard
        self.latency_us = int(cfg.latency_ms * US_PER_MS)
        self.timeout_us = int(cfg.execution_timeout_ms * US_PER_MS)

    def admit(self, state: RiskState, t_us: int, sig: dict[str, Any], out: Out) -> None:
        """At ``ts_signal``: block (pnl row with the reason) or size, reserve balances and schedule the execution."""
        if sig["strategy"] not in self.cfg.strategies:  # e.g. triangular, market making: not two-leg taker trades
            skipped = f"strategy {sig['strategy']} is not paper-traded (risk.strategies)"
            self._pnl_row(state, out, t_us, sig, "skipped", skipped, 0.0, 0.0, [], 0.0)
            return
        state.counts["total"] += 1
        snap = self.guard.evaluate(state, t_us, out)
        reason, qty = self._size(state, t_us, sig, snap)
        if qty <= 0:
            state.counts["blocked"] += 1
            self._pnl_row(state, out, t_us, sig, "blocked", reason, 0.0, 0.0, [], 0.0)
            return
        base, quote = split_symbol(sig["symbol"])
        lim_buy, _ = limit_prices(sig["buy_px"], sig["sell_px"], self.cfg.slippage_tolerance_bps)
        reserve = {"quote": qty * lim_buy * (1 + self.fees_bps[sig["buy_exchange"]] / 1e4), "base": qty}
        state.ledger.reserve(sig["buy_exchange"], quote, reserve["quote"])
        state.ledger.reserve(sig["sell_exchange"], base, reserve["base"])
        state.open_orders += 2
        task = sig | {"qty_sized": qty, "size_reason": reason, "reserve": reserve}
        schedule(state, t_us + self.latency_us, EXECUTE, str(sig["signal_id"]), task)

    def _size(
        self, state: RiskState, t_us: int, sig: dict[str, Any], snap: dict[str, Any] | None
    ) -> tuple[str | None, float]:
        """(reason, qty): qty 0 = blocked for ``reason``; otherwise reason says what sized the signal down, if anything."""
        if sig.get("invalid"):
            return sig["invalid"], 0.0
        if state.kill_reason is not None:
            return f"kill_switch:{state.kill_reason}", 0.0
        try:
            base, quote = split_symbol(str(sig["symbol"]))
        except ValueError:
            return "invalid_signal:symbol", 0.0
        numbers = (sig["qty"], sig["buy_px"], sig["sell_px"])
        if not all(isinstance(x, float | int) and math.isfinite(x) and x > 0 for x in numbers):
            return "invalid_signal:qty_or_price", 0.0
        if quote != self.cfg.valuation_currency:
            return f"unsupported_quote_currency:{quote}", 0.0
        for venue in (sig["buy_exchange"], sig["sell_exchange"]):
            if venue not in self.fees_bps:
                return f"unknown_venue:{venue}", 0.0
        if snap is None:
            return "no_marks", 0.0
        if state.open_orders + 2 > self.cfg.max_open_orders:
            return "max_open_orders", 0.0
        q_buy = self.guard.book(state, t_us).get((sig["buy_exchange"], sig["symbol"]))
        q_sell = self.guard.book(state, t_us).get((sig["sell_exchange"], sig["symbol"]))
        if q_buy is None or q_sell is None:
            return f"no_quote:{sig['buy_exchange'] if q_buy is None else sig['sell_exchange']}", 0.0
        if min(q_buy["ask_px"] * q_buy["ask_qty"], q_sell["bid_px"] * q_sell["bid_qty"]) < self.cfg.min_liquidity_usdt:
            return "min_liquidity", 0.0
        lim_buy, _ = limit_prices(sig["buy_px"], sig["sell_px"], self.cfg.slippage_tolerance_bps)
        per_unit_quote = lim_buy * (1 + self.fees_bps[sig["buy_exchange"]] / 1e4)
        caps = [
            (float(sig["qty"]), None),
            (self.cfg.max_position_size_usdt / sig["buy_px"], "max_position_size"),
            (
                state.ledger.available(sig["buy_exchange"], quote) / per_unit_quote,
                f"balance:{sig['buy_exchange']}:{quote}",
            ),
            (state.ledger.available(sig["sell_exchange"], base), f"balance:{sig['sell_exchange']}:{base}"),
        ]
        qty, binding = min(caps, key=lambda c: c[0])
        if qty * sig["buy_px"] < max(self.cfg.min_order_notional_usdt, 1e-9):
            return (f"insufficient_{binding}" if binding else "below_min_order_notional"), 0.0
        return (f"sized_down:{binding}" if binding else None), qty

    def execute(self, state: RiskState, t_us: int, sig: dict[str, Any], out: Out) -> None:
        """At ``ts_signal + latency``: fill both legs against the book then; finish, or schedule the unwind."""
        base, quote = split_symbol(sig["symbol"])
        ledger = state.ledger
        ledger.reserve(sig["buy_exchange"], quote, -sig["reserve"]["quote"])
        ledger.reserve(sig["sell_exchange"], base, -sig["reserve"]["base"])
        state.open_orders -= 2
        qty = sig["qty_sized"]
        lim_buy, lim_sell = limit_prices(sig["buy_px"], sig["sell_px"], self.cfg.slippage_tolerance_bps)
        q_buy = self.guard.book(state, t_us).get((sig["buy_exchange"], sig["symbol"]))
        q_sell = self.guard.book(state, t_us).get((sig["sell_exchange"], sig["symbol"]))
        buy = fill_leg(
            q_buy, sig["buy_exchange"], sig["symbol"], "buy", qty, lim_buy, self.fees_bps[sig["buy_exchange"]]
        )
        sell = fill_leg(
            q_sell, sig["sell_exchange"], sig["symbol"], "sell", qty, lim_sell, self.fees_bps[sig["sell_exchange"]]
        )
        self._fill(state, out, t_us, sig, "buy", buy, q_buy)
        self._fill(state, out, t_us, sig, "sell", sell, q_sell)
        outcome = classify(buy, sell, qty, self.cfg.partial_fill_threshold)
        legs = [buy, sell]
        if outcome.unwind_buy_leg_qty > 0 or outcome.unwind_sell_leg_qty > 0:
            n = int(outcome.unwind_buy_leg_qty > 0) + int(outcome.unwind_sell_leg_qty > 0)
            state.open_orders += n
            base_open, cost_open = buy.qty_filled - sell.qty_filled, -(buy.cash_quote + sell.cash_quote)
            state.ledger.hold(base, base_open, cost_open)
            task = sig | {
                "legs": legs,
                "outcome": outcome,
                "leg_quotes": [q_buy, q_sell],
                "open": [base_open, cost_open],
            }
            schedule(state, t_us + self.timeout_us, UNWIND, str(sig["signal_id"]), task)
            snap = self.guard.evaluate(state, t_us, out)
        else:
            snap = self._finish(state, out, t_us, sig, outcome, legs, [])
        self._positions(state, out, t_us, sig, "execute", snap)

    def unwind(self, state: RiskState, t_us: int, task: dict[str, Any], out: Out) -> None:
        """At execution + ``execution_timeout``: flatten the unhedged quantities at the book then, book the PnL."""
        outcome: Outcome = task["outcome"]
        buy, sell = task["legs"]
        unwinds: list[LegFill] = []
        for leg_name, leg, qty, quote_then in (
            ("unwind_buy", buy, outcome.unwind_buy_leg_qty, task["leg_quotes"][0]),
            ("unwind_sell", sell, outcome.unwind_sell_leg_qty, task["leg_quotes"][1]),
        ):
            if qty <= 0:
                continue
            state.open_orders -= 1
            quote_now = self.guard.book(state, t_us).get((leg.exchange, leg.symbol)) or quote_then
            side: Side = "sell" if leg.side == "buy" else "buy"
            fill = fill_leg(quote_now, leg.exchange, leg.symbol, side, qty, None, self.fees_bps[leg.exchange])
            self._fill(state, out, t_us, task, leg_name, fill, quote_now)
            unwinds.append(fill)
        snap = self._finish(state, out, t_us, task, outcome, [buy, sell], unwinds)
        self._positions(state, out, t_us, task, "unwind", snap)

    def _fill(
        self,
        state: RiskState,
        out: Out,
        t_us: int,
        sig: dict[str, Any],
        leg: str,
        fill: LegFill,
        quote: dict[str, Any] | None,
    ) -> None:
        if fill.qty_filled > 0:
            state.ledger.trade(
                fill.exchange, fill.symbol, fill.side, fill.qty_filled, fill.avg_px or 0.0, fill.fee_quote
            )
        out.rows["fills"].append(rows.fill_row(sig, leg, fill, t_us, quote))

    def _finish(
        self,
        state: RiskState,
        out: Out,
        t_us: int,
        sig: dict[str, Any],
        outcome: Outcome,
        legs: list[LegFill],
        unwinds: list[LegFill],
    ) -> dict[str, Any] | None:
        """Book the execution's PnL, write its pnl row, then re-evaluate limits on the new book."""
        fills = legs + unwinds
        realized = sum(f.cash_quote for f in fills)
        fees = sum(f.fee_quote for f in fills)
        if "open" in sig:
            state.ledger.hold(split_symbol(sig["symbol"])[0], -sig["open"][0], -sig["open"][1])
        state.ledger.realize(realized)
        executed = outcome.status != "missed"
        if executed:
            state.counts["executed"] += 1
            state.counts["won"] += int(realized - fees > 0)
        reason = sig.get("size_reason")
        if outcome.status in ("missed", "leg_failure", "partial"):
            reason = ",".join(filter(None, [reason, f"buy:{legs[0].status}", f"sell:{legs[1].status}"]))
        cost = rows.unwind_cost(legs, unwinds)
        self._pnl_row(state, out, t_us, sig, outcome.status, reason, sig["qty_sized"], outcome.matched_qty, fills, cost)
        return self.guard.evaluate(state, t_us, out)

    def _pnl_row(
        self,
        state: RiskState,
        out: Out,
        t_us: int,
        sig: dict[str, Any],
        status: str,
        reason: str | None,
        qty_sized: float,
        qty_matched: float,
        fills: list[LegFill],
        unwind_cost: float,
    ) -> None:
        cum_net_pnl_usdt = state.ledger.realized_pnl - state.ledger.fees
        row = rows.pnl_row(
            sig, t_us, status, reason, (qty_sized, qty_matched), fills, unwind_cost, self.fees_bps, cum_net_pnl_usdt
        )
        out.rows["pnl"].append(row)

    def _positions(
        self, state: RiskState, out: Out, t_us: int, sig: dict[str, Any], stage: str, snap: dict[str, Any] | None
    ) -> None:
        out.rows["positions"].extend(rows.position_rows(sig, stage, t_us, state.ledger, snap["marks"] if snap else {}))
