"""Risk statistics as pure functions over plain sequences: drawdown, VaR, Sharpe, Sortino.

They take the per-interval PnL (valuation currency) or returns that the engine keeps in a rolling window, so every
number in ``risk_metrics`` can be recomputed by hand from that window. ``None`` means "not enough data" (fewer than
two observations, or a zero dispersion that would divide by zero), never a made-up value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from statistics import NormalDist


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def _stdev(xs: Sequence[float]) -> float:
    """Sample standard deviation (ddof 1); float arithmetic (statistics.stdev's exact fractions cost ~2 ms/call)."""
    m = _mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


@cache
def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(confidence)


def drawdown(equity: float, peak_equity: float) -> float:
    """Fractional drop from the running peak (0 at a new high); 0 when the peak is not positive."""
    if peak_equity <= 0:
        return 0.0
    return max(0.0, (peak_equity - equity) / peak_equity)


def var_historical(pnl: Sequence[float], confidence: float) -> float | None:
    """Historical VaR: the loss not exceeded with probability ``confidence`` in the observed PnL.

    Uses the lower empirical quantile (inverted CDF, no interpolation): with n observations sorted ascending, the
    ``ceil(n * (1 - confidence))``-th smallest PnL, negated. Conservative and reproducible by hand.

    Args:
        pnl: per-interval PnL, valuation currency.
        confidence: e.g. 0.95 or 0.99.

    Returns:
        VaR as a positive number for a loss (negative when even that quantile is a gain), or None if ``pnl`` is empty.
    """
    if not pnl:
        return None
    ordered = sorted(pnl)
    rank = max(1, math.ceil(len(ordered) * (1.0 - confidence) - 1e-12))
    return -ordered[rank - 1]


def var_parametric(pnl: Sequence[float], confidence: float) -> float | None:
    """Gaussian (variance-covariance) VaR: ``z * sigma - mu`` with the sample standard deviation (ddof 1)."""
    if len(pnl) < 2:
        return None
    return _z(confidence) * _stdev(pnl) - _mean(pnl)


def sharpe(returns: Sequence[float]) -> float | None:
    """Per-interval Sharpe ratio (risk-free rate 0, not annualized): mean / sample std."""
    if len(returns) < 2:
        return None
    sd, mean = _stdev(returns), _mean(returns)
    return mean / sd if sd > 1e-12 * max(1.0, abs(mean)) else None  # float noise of equal values is no dispersion


def sortino(returns: Sequence[float]) -> float | None:
    """Per-interval Sortino ratio (target 0): mean / sqrt(mean(min(r, 0)^2)) over all observations."""
    if len(returns) < 2:
        return None
    downside = math.sqrt(_mean([min(r, 0.0) ** 2 for r in returns]))
    return _mean(returns) / downside if downside > 0 else None
