"""Inventory and PnL of the paper book: balances per venue and asset, reservations, realized PnL and fees.

Accounting (so that the reconciliation ``equity = start_equity + realized - fees + unrealized`` is exact):

* Every execution ends flat per asset across venues: a hedged arbitrage buys and sells the same base quantity, and
  whatever is left unhedged is unwound. Its realized PnL is therefore the quote-currency cash flow of its legs before
  fees (sell proceeds minus buy costs); fees are booked separately.
* Between a failed leg and its unwind the book holds an *open* quantity bought or sold at a known cost; it is marked
  to market on its own. Unrealized PnL = revaluation of the starting inventory since the first marks
  ``sum_a (Q_a - open_a) * (mark_a - start_mark_a)`` + open positions ``sum_a (open_a * mark_a - open_cost_a)``.
* Fees are booked when paid (each fill); realized PnL when an execution is final.
* Only symbols quoted in the valuation currency are traded (cash = valuation currency); the engine blocks others.

State is plain dicts and floats (picklable for bytewax snapshots).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTC/USDT"`` -> ``("BTC", "USDT")``; a malformed symbol is a ValueError naming it."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote:
        msg = f"risk: symbol {symbol!r} is not a ccxt unified BASE/QUOTE symbol"
        raise ValueError(msg)
    return base, quote.split(":")[0]


@dataclass
class Ledger:
    """Balances, reservations and PnL accumulators of the paper book."""

    valuation: str
    start_balances: dict[str, dict[str, float]]
    balances: dict[str, dict[str, float]] = field(default_factory=dict)
    reserved: dict[str, dict[str, float]] = field(default_factory=dict)
    start_marks: dict[str, float] = field(default_factory=dict)  # asset -> valuation price at the first mark
    realized_pnl: float = 0.0  # valuation currency, before fees
    fees: float = 0.0  # valuation currency
    open_qty: dict[str, float] = field(default_factory=dict)  # asset -> unhedged base awaiting its unwind
    open_cost: dict[str, float] = field(default_factory=dict)  # asset -> valuation paid for it (negative if sold)

    def __post_init__(self) -> None:
        if not self.balances:
            self.balances = {v: dict(a) for v, a in self.start_balances.items()}

    def assets(self) -> list[str]:
        """Every asset held (or once held) anywhere, sorted."""
        return sorted({a for bal in self.balances.values() for a in bal} | {self.valuation})

    def balance(self, exchange: str, asset: str) -> float:
        """Current balance (0 for an unfunded venue or asset)."""
        return self.balances.get(exchange, {}).get(asset, 0.0)

    def available(self, exchange: str, asset: str) -> float:
        """Balance not reserved by admitted, not yet executed signals."""
        return self.balance(exchange, asset) - self.reserved.get(exchange, {}).get(asset, 0.0)

    def reserve(self, exchange: str, asset: str, amount: float) -> None:
        """Earmark (``amount`` > 0) or release (< 0) balance for an admitted signal."""
        venue = self.reserved.setdefault(exchange, {})
        venue[asset] = venue.get(asset, 0.0) + amount

    def trade(self, exchange: str, symbol: str, side: str, qty: float, px: float, fee_quote: float) -> None:
        """Apply one fill to the venue's balances; fee paid in the quote currency."""
        base, quote = split_symbol(symbol)
        venue = self.balances.setdefault(exchange, {})
        sign = 1.0 if side == "buy" else -1.0
        venue[base] = venue.get(base, 0.0) + sign * qty
        venue[quote] = venue.get(quote, 0.0) - sign * qty * px - fee_quote
        self.fees += fee_quote

    def hold(self, asset: str, qty: float, cost: float) -> None:
        """Open (``qty`` > 0 bought / < 0 sold, ``cost`` paid) or, with negated arguments, close an unhedged position."""
        self.open_qty[asset] = self.open_qty.get(asset, 0.0) + qty
        self.open_cost[asset] = self.open_cost.get(asset, 0.0) + cost

    def realize(self, realized_quote: float) -> None:
        """Add one final execution's realized PnL (before fees)."""
        self.realized_pnl += realized_quote

    def marks_complete(self, marks: Mapping[str, float]) -> bool:
        """True when every held asset has a valuation price (``marks`` maps asset -> price)."""
        return all(a in marks for a in self.assets())

    def open(self, marks: Mapping[str, float]) -> None:
        """Fix the starting marks (first valuation) of every asset."""
        for asset in self.assets():
            self.start_marks.setdefault(asset, marks[asset])

    def totals(self) -> dict[str, float]:
        """Holding per asset summed over venues."""
        out: dict[str, float] = {}
        for bal in self.balances.values():
            for asset, qty in bal.items():
                out[asset] = out.get(asset, 0.0) + qty
        return out

    def equity(self, marks: Mapping[str, float]) -> float:
        """Value of all balances at ``marks``."""
        return sum(qty * marks[a] for a, qty in self.totals().items())

    def start_equity(self) -> float:
        """Value of the starting balances at the starting marks."""
        return sum(qty * self.start_marks[a] for bal in self.start_balances.values() for a, qty in bal.items())

    def unrealized(self, marks: Mapping[str, float]) -> float:
        """Revaluation of the inventory since the starting marks, plus open positions marked to market."""
        inventory = sum(
            (qty - self.open_qty.get(a, 0.0)) * (marks[a] - self.start_marks[a]) for a, qty in self.totals().items()
        )
        return inventory + sum(q * marks[a] - self.open_cost.get(a, 0.0) for a, q in self.open_qty.items())

    def net_positions(self, marks: Mapping[str, float]) -> dict[str, float]:
        """Unhedged position per non-cash asset, valued: sum over venues of (balance - start balance) * mark.

        Moving inventory from one venue to another (every hedged arbitrage does) nets to zero here; that drift is
        what ``imbalance`` and the rebalance alert watch instead.
        """
        start = {a: 0.0 for a in self.assets()}
        for bal in self.start_balances.values():
            for asset, qty in bal.items():
                start[asset] = start.get(asset, 0.0) + qty
        return {a: (q - start.get(a, 0.0)) * marks[a] for a, q in self.totals().items() if a != self.valuation}

    def gross_exposure(self, marks: Mapping[str, float]) -> float:
        """Value of all non-cash holdings, absolute, summed over venues (market risk carried)."""
        return sum(
            abs(qty) * marks[a] for bal in self.balances.values() for a, qty in bal.items() if a != self.valuation
        )

    def net_exposure(self, marks: Mapping[str, float]) -> float:
        """Net position added by trading, valued (0 while every execution is hedged or unwound)."""
        return sum(self.net_positions(marks).values())

    def imbalance(self, asset: str) -> float:
        """Largest drift of a venue's share of ``asset`` from its starting share (0..1)."""
        total = sum(b.get(asset, 0.0) for b in self.balances.values())
        total0 = sum(b.get(asset, 0.0) for b in self.start_balances.values())
        if total <= 0 or total0 <= 0:
            return 0.0
        venues = set(self.balances) | set(self.start_balances)
        return max(
            abs(self.balance(v, asset) / total - self.start_balances.get(v, {}).get(asset, 0.0) / total0)
            for v in venues
        )
