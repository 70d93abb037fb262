"""Risk limits from config: utilization, severity, risk level, alert cooldown and de-duplication (pure functions).

A limit's utilization is value / limit for a ceiling (drawdown, leverage, ...) and limit / value for a floor (margin
ratio), so 1.0 means "at the limit" for both. Severity: critical at utilization >= 1, warning from
``warning_fraction`` (design doc: 80 %), medium from ``medium_fraction``. The book's risk level is the worst severity:
critical -> critical, warning -> high, medium -> medium, else low.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from arbflow.settings import RiskConfig

LEVEL_RANK = {"ok": 0, "medium": 1, "warning": 2, "critical": 3}
RISK_LEVEL = {"ok": "low", "medium": "medium", "warning": "high", "critical": "critical"}
# Limits whose breach is an emergency (kill switch). open_orders is a capacity: at the limit new signals are
# blocked for that reason and an alert is raised, but the book is not in danger.
UTIL_EPS = 1e-12  # 0.04 / 0.05 is 0.7999999999999999 in binary floating point: that is 80 %
KILL_LIMITS = frozenset({"daily_loss", "drawdown", "leverage", "margin_ratio", "position_size"})
LIMIT_NAMES = KILL_LIMITS | {"open_orders"}


@dataclass(frozen=True)
class LimitCheck:
    """One limit evaluated at one instant."""

    name: str
    value: float
    limit: float
    utilization: float
    severity: str  # ok | medium | warning | critical


def severity(utilization: float, cfg: RiskConfig) -> str:
    """Severity of a utilization (1.0 = at the limit); UTIL_EPS absorbs the rounding of value / limit."""
    if utilization >= 1.0 - UTIL_EPS:
        return "critical"
    if utilization >= cfg.warning_fraction - UTIL_EPS:
        return "warning"
    if utilization >= cfg.medium_fraction - UTIL_EPS:
        return "medium"
    return "ok"


def check_ceiling(name: str, value: float, limit: float, cfg: RiskConfig) -> LimitCheck:
    """A limit the value must stay below."""
    util = value / limit
    return LimitCheck(name, value, limit, util, severity(util, cfg))


def check_floor(name: str, value: float | None, limit: float, cfg: RiskConfig) -> LimitCheck | None:
    """A limit the value must stay above; None when the value is undefined (e.g. no exposure, no margin used)."""
    if value is None:
        return None
    util = limit / value if value > 0 else float("inf")
    return LimitCheck(name, value, limit, util, severity(util, cfg))


def evaluate(
    cfg: RiskConfig,
    *,
    daily_loss: float,
    drawdown: float,
    leverage: float,
    margin_ratio: float | None,
    max_position_usdt: float,  # largest unhedged position of one asset, valued
    open_orders: int,
) -> list[LimitCheck]:
    """All configured limits at one instant (fractions as fractions, money in the valuation currency)."""
    checks = [
        check_ceiling("daily_loss", daily_loss, cfg.max_daily_loss, cfg),
        check_ceiling("drawdown", drawdown, cfg.max_drawdown, cfg),
        check_ceiling("leverage", leverage, cfg.max_leverage, cfg),
        check_floor("margin_ratio", margin_ratio, cfg.min_margin_ratio, cfg),
        check_ceiling("position_size", max_position_usdt, cfg.max_position_size_usdt, cfg),
        check_ceiling("open_orders", float(open_orders), float(cfg.max_open_orders), cfg),
    ]
    return [c for c in checks if c is not None]


def risk_level(checks: list[LimitCheck]) -> str:
    """low | medium | high | critical from the worst severity among the emergency limits (KILL_LIMITS)."""
    worst = max((c.severity for c in checks if c.name in KILL_LIMITS), key=LEVEL_RANK.__getitem__, default="ok")
    return RISK_LEVEL[worst]


def should_alert(last: tuple[int, int] | None, rank: int, ts_us: int, cooldown_us: int) -> bool:
    """Emit an alert unless the same or a higher level was emitted for it within the cooldown.

    Args:
        last: (rank, ts_us) of the last alert emitted under this key, or None.
        rank: LEVEL_RANK of the new severity (escalation always alerts).
        ts_us: now, receive clock.
        cooldown_us: ``alert_cooldown_ms`` in microseconds.
    """
    if last is None:
        return True
    last_rank, last_ts = last
    return rank > last_rank or ts_us - last_ts >= cooldown_us


def is_repeat(active_rank: int | None, rank: int) -> bool:
    """True when a condition already reported at this level still holds: it is reported once, not every cooldown.

    Args:
        active_rank: LEVEL_RANK at which the condition was last raised and has held since (None: new or cleared).
        rank: LEVEL_RANK of the condition now.
    """
    return active_rank == rank


def valuation_gaps(
    balances: Mapping[str, Mapping[str, float]], symbols: Iterable[str], valuation: str
) -> tuple[list[str], list[str]]:
    """What ``risk.balances`` lacks for a run of ``symbols`` (say a LINK/USDT-only replay with BTC/ETH balances).

    Returns:
        (unpriced, unfunded): assets held with no ``<asset>/<valuation>`` symbol to value them, which would leave the
        book unvalued forever; and base assets of the ``<asset>/<valuation>`` symbols held on no venue, whose signals
        can only be blocked for balance. Both sorted; both empty when nothing is missing or ``symbols`` is empty
        (symbols not known up front: marks may still come).
    """
    symbols = list(symbols)
    if not symbols:
        return [], []
    priced = {s.split("/")[0] for s in symbols if s.partition("/")[2].split(":")[0] == valuation}
    held = {a for bal in balances.values() for a, qty in bal.items() if qty}
    return sorted(held - priced - {valuation}), sorted(priced - held)


def gap_message(symbols: list[str], unpriced: list[str], unfunded: list[str], val: str) -> str | None:
    """The one message a run gets when ``risk.balances`` does not fit the traded symbols (None when it does)."""
    parts = []
    if unpriced:
        pairs = ", ".join(f"{a}/{val}" for a in unpriced)
        parts.append(
            f"risk.balances holds {', '.join(unpriced)} but cross.symbols has no {pairs} to value them, so they "
            "are left out of the paper book (equity, limits)"
        )
    if unfunded:
        parts.append(
            f"no venue in risk.balances holds {', '.join(unfunded)}, so its signals are blocked as insufficient_balance"
        )
    if not parts:
        return None
    example = ", ".join(f"{a} = ..." for a in [val, *unfunded])
    return (
        f"risk.balances does not fit cross.symbols {symbols}: {'; '.join(parts)}. Set [risk.balances.<venue>] "
        f"to the assets of cross.symbols (e.g. {example}), or add the {val} pairs that value the held assets."
    )
