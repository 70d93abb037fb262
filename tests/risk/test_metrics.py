"""Risk statistics against hand computations and an independent implementation (scipy / numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from flows.risk import metrics

PNL = [-5.0, 3.0, -1.0, 2.0, -8.0, 4.0, 1.0, -2.0, 6.0, 0.0, -3.0, 2.5, -0.5, 1.5, -4.0, 3.5, 0.5, -6.0, 2.0, 1.0]


def test_historical_var_is_the_lower_empirical_quantile():
    # 20 observations: 95 % -> the ceil(20 * 0.05) = 1st smallest (-8); 90 % -> 2nd smallest (-6); 80 % -> 4th (-4)
    assert metrics.var_historical(PNL, 0.95) == 8.0
    assert metrics.var_historical(PNL, 0.90) == 6.0
    assert metrics.var_historical(PNL, 0.80) == 4.0
    assert metrics.var_historical(PNL, 0.99) == 8.0
    assert metrics.var_historical([], 0.95) is None


def test_historical_var_matches_numpy_inverted_cdf():
    rng = np.random.default_rng(3)
    sample = rng.normal(0.1, 2.0, 257).tolist()
    for conf in (0.95, 0.99):
        expected = -np.quantile(sample, 1 - conf, method="inverted_cdf")
        assert metrics.var_historical(sample, conf) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("conf", [0.95, 0.99])
def test_parametric_var_matches_its_formula(conf: float):
    expected = norm.ppf(conf) * np.std(PNL, ddof=1) - np.mean(PNL)
    assert metrics.var_parametric(PNL, conf) == pytest.approx(expected, rel=1e-9)
    assert metrics.var_parametric([1.0], conf) is None


def test_drawdown():
    assert metrics.drawdown(95.0, 100.0) == pytest.approx(0.05)
    assert metrics.drawdown(101.0, 100.0) == 0.0


def test_sharpe_and_sortino():
    r = [0.01, -0.02, 0.03, 0.0]
    assert metrics.sharpe(r) == pytest.approx(np.mean(r) / np.std(r, ddof=1))
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))  # sqrt(0.0004 / 4) = 0.01
    assert metrics.sortino(r) == pytest.approx(0.005 / 0.01)
    assert metrics.sortino([0.01, 0.02]) is None  # no downside
    assert metrics.sharpe([0.01, 0.01]) is None  # no dispersion
    assert metrics.sharpe([0.1, 0.1, 0.1]) is None  # nor float noise around equal values
    assert downside == pytest.approx(0.01)
