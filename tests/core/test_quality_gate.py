"""The Great Expectations gate on its own: warm-up on a background thread, a suite GX rejects, quarantined rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from quality.gate import SUITES_DIR, QualityGate

T0 = datetime(2024, 8, 8, tzinfo=UTC)


def _quotes(ask_px: list[float]) -> pl.DataFrame:
    n = len(ask_px)
    return pl.DataFrame(
        {
            "quote_id": [f"p/{i}" for i in range(n)],
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "bid_px": 100.0,
            "bid_qty": 1.0,
            "ask_px": ask_px,
            "ask_qty": 1.0,
            "ts_exchange": T0,
            "ts_recv": T0,
        }
    )


def test_a_warmed_up_gate_quarantines_the_rows_that_fail_a_critical_expectation() -> None:
    gate = QualityGate()
    gate.warm_up()
    result = gate.validate("p/0", 0, _quotes([100.01, 99.0, 100.02, 100.0]))
    assert result.passed["quote_id"].to_list() == ["p/0", "p/2"]
    reasons = dict(zip(result.failed["quote_id"], result.failed["reason"], strict=True))
    assert reasons == {
        "p/1": "gx:expect_column_pair_values_a_to_be_greater_than_b:ask_px",
        "p/3": "gx:expect_column_pair_values_a_to_be_greater_than_b:ask_px",
    }
    critical = result.runs.filter(pl.col("severity") == "critical").row(0, named=True)
    assert (critical["success"], critical["rows_in"], critical["rows_unexpected"]) == (False, 4, 2)
    clean = gate.validate("p/4", 4, _quotes([100.01, 100.02]))
    assert clean.failed.height == 0
    assert clean.passed.equals(_quotes([100.01, 100.02]))
    assert clean.runs["success"].to_list() == [True, True]


def test_a_suite_gx_rejects_is_an_error_naming_it_even_after_a_failed_warm_up(tmp_path: Path) -> None:
    for suite in SUITES_DIR.glob("quotes.*.json"):
        (tmp_path / suite.name).write_text(suite.read_text())
    spec = json.loads((tmp_path / "quotes.warning.json").read_text())
    spec["expectations"].append({"type": "expect_column_values_to_be_pretty", "kwargs": {"column": "bid_px"}})
    (tmp_path / "quotes.warning.json").write_text(json.dumps(spec))
    gate = QualityGate(tmp_path)
    gate.warm_up()
    with pytest.raises(ValueError, match="suite quotes.warning: GX rejected an expectation"):
        gate.validate("p/0", 0, _quotes([100.01]))
