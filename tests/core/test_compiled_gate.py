"""The compiled gate against Great Expectations itself: fuzzed batches, every supported expectation type, row for row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from quality.compiled import COMPILERS, CompiledGate, compile_suites, evaluate, evaluate_suites
from quality.gate import SUITES_DIR, QualityGate

FLOATS = [None, float("nan"), float("inf"), float("-inf"), -1.5, 0.0, 0.5, 1.0, 2.0, 1e9]
INTS = [None, -1, 0, 1, 2, 5]
STRINGS = [None, "a", "b", "c", ""]


def _e(kind: str, **kwargs: object) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs}


CRITICAL = [
    _e("column_values_to_not_be_null", column="x"),
    _e("column_values_to_not_be_null", column="i"),
    _e("column_values_to_not_be_null", column="s"),
    _e("column_values_to_be_between", column="x", min_value=0, strict_min=True),
    _e("column_values_to_be_between", column="x", min_value=0, max_value=2),
    _e("column_values_to_be_between", column="y", max_value=1, strict_max=True),
    _e("column_values_to_be_between", column="x", min_value=-1, max_value=1, strict_min=True, strict_max=True),
    _e("column_values_to_be_between", column="i", min_value=0.5, max_value=2),
    _e("column_pair_values_a_to_be_greater_than_b", column_A="x", column_B="y"),
    _e("column_pair_values_a_to_be_greater_than_b", column_A="x", column_B="y", or_equal=True),
    _e("column_pair_values_a_to_be_greater_than_b", column_A="i", column_B="x"),
    _e("column_values_to_be_in_set", column="i", value_set=[0, 1, 2]),
    _e("column_values_to_be_in_set", column="s", value_set=["a", "b"]),
    _e("column_values_to_be_in_set", column="x", value_set=[0.0, 1.0]),
    _e("column_values_to_not_be_in_set", column="i", value_set=[0]),
    _e("column_values_to_not_be_in_set", column="s", value_set=["a", ""]),
]
WARNING = [  # the same shapes, judged by fraction
    {**e, "kwargs": {**e["kwargs"], "mostly": m}} for e, m in zip(CRITICAL, [0.5, 0.8, 0.9, 0.6] * 4, strict=True)
]


def _write(directory: Path, severity: str, expectations: list[dict]) -> None:
    spec = {"name": f"quotes.{severity}", "meta": {"severity": severity}, "expectations": expectations}
    (directory / f"quotes.{severity}.json").write_text(json.dumps(spec))


def _batch(rng: np.random.Generator, n: int) -> pl.DataFrame:
    pick = lambda pool: [pool[k] for k in rng.integers(0, len(pool), n)]
    y = pick(FLOATS)
    x = [y[k] if rng.random() < 0.3 else v for k, v in enumerate(pick(FLOATS))]  # planted equal pairs
    return pl.DataFrame(
        {"x": x, "y": y, "i": pick(INTS), "s": pick(STRINGS)},
        schema={"x": pl.Float64, "y": pl.Float64, "i": pl.Int64, "s": pl.String},
    )


@pytest.fixture(scope="module")
def gates(tmp_path_factory: pytest.TempPathFactory) -> tuple[QualityGate, CompiledGate]:
    directory = tmp_path_factory.mktemp("fuzz_suites")
    _write(directory, "critical", CRITICAL)
    _write(directory, "warning", WARNING)
    return QualityGate(directory), CompiledGate(directory, probe=_batch(np.random.default_rng(0), 0))


def test_the_fuzz_suites_cover_every_expectation_type_the_compiler_supports() -> None:
    assert {e["type"] for e in CRITICAL} == set(COMPILERS)


@pytest.mark.parametrize("seed", range(12))
def test_compiled_verdicts_equal_gx_row_for_row_on_fuzzed_batches(gates, seed: int) -> None:
    gx_gate, compiled = gates
    rng = np.random.default_rng(seed)
    n = [0, 1, 3][seed] if seed < 3 else int(rng.integers(4, 60))
    frame = _batch(rng, n)
    if seed == 3:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("x"))  # a column wholly missing
    fused = evaluate_suites(compiled.suites, frame, compile_suites(compiled.suites, frame.schema))  # validate's path
    for suite, verdicts in zip(compiled.suites, fused, strict=True):
        ours = [(v.success, v.unexpected.arg_true().to_list()) for v in verdicts]
        alone = [(v.success, v.unexpected.arg_true().to_list()) for v in evaluate(suite, frame)]
        assert ours == alone  # one select for every suite = one per suite
        theirs = gx_gate.verdicts(suite.name, frame)
        for exp, mine, gx in zip(suite.expectations, ours, theirs, strict=True):
            assert mine == gx, f"{suite.name} {exp} on\n{frame}"


def test_the_shipped_suites_give_the_same_quarantine_and_runs_with_either_engine() -> None:
    from tests.core.test_quality_gate import _quotes

    quotes = _quotes([100.01, 99.0, float("nan"), float("inf"), 100.0, -1.0]).with_columns(
        pl.Series("bid_qty", [1.0, None, 1.0, 0.0, 1.0, 1.0])
    )
    gx_result = QualityGate().validate("p/0", 0, quotes)
    compiled = CompiledGate().validate("p/0", 0, quotes)
    assert compiled.failed.equals(gx_result.failed)
    assert compiled.passed.equals(gx_result.passed)
    assert compiled.runs.drop("engine").equals(gx_result.runs.drop("engine"))
    assert compiled.runs["engine"].unique().to_list() == ["compiled"]


def test_an_unsupported_expectation_is_a_startup_error_naming_suite_file_expectation_and_supported(
    tmp_path: Path,
) -> None:
    for suite in SUITES_DIR.glob("quotes.*.json"):
        (tmp_path / suite.name).write_text(suite.read_text())
    spec = json.loads((tmp_path / "quotes.warning.json").read_text())
    spec["expectations"].append(_e("column_values_to_match_regex", column="symbol", regex="^[A-Z]+/USDT$"))
    (tmp_path / "quotes.warning.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="suite quotes.warning") as err:
        CompiledGate(tmp_path)
    text = str(err.value)
    assert str(tmp_path) in text and "expect_column_values_to_match_regex" in text
    assert "supported: expect_column_values_to_not_be_null" in text


def test_an_unsupported_kwarg_is_a_startup_error(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "critical",
        [_e("column_values_to_be_between", column="x", min_value=0, parse_strings_as_datetimes=True)],
    )
    with pytest.raises(ValueError, match=r"unsupported kwargs \['parse_strings_as_datetimes'\]"):
        CompiledGate(tmp_path)


def test_the_reason_is_the_first_failing_expectation_in_gx_evaluation_order_not_file_order(tmp_path: Path) -> None:
    """GX groups a suite's expectations by column before it evaluates them; the GX gate took the first failure it
    reported as a row's reason, so the compiled gate must name the same one."""
    from tests.core.test_quality_gate import _quotes

    _write(
        tmp_path,
        "critical",
        [
            _e("column_values_to_not_be_null", column="bid_px"),
            _e("column_values_to_be_between", column="ask_px", min_value=0, strict_min=True),
            _e("column_values_to_be_between", column="bid_px", max_value=1000),
        ],
    )
    _write(tmp_path, "warning", [_e("column_values_to_not_be_null", column="ts_recv")])
    quotes = _quotes([-1.0, 5.0]).with_columns(pl.Series("bid_px", [2000.0, 1.0]))  # row 0 fails both, ask_px first
    gx_result, compiled = (
        QualityGate(tmp_path).validate("p/0", 0, quotes),
        CompiledGate(tmp_path).validate("p/0", 0, quotes),
    )
    assert gx_result.failed["reason"].to_list() == ["gx:expect_column_values_to_be_between:bid_px"]
    assert compiled.failed.equals(gx_result.failed)


def test_a_suite_naming_a_column_the_quotes_lack_is_a_startup_error(tmp_path: Path) -> None:
    _write(tmp_path, "critical", [_e("column_values_to_not_be_null", column="bid_size")])
    with pytest.raises(ValueError, match="do not compile against the quote columns"):
        CompiledGate(tmp_path)


def test_between_on_a_non_numeric_column_is_a_startup_error(tmp_path: Path) -> None:
    _write(tmp_path, "critical", [_e("column_values_to_be_between", column="symbol", min_value="A")])
    with pytest.raises(ValueError, match="only numeric columns"):
        CompiledGate(tmp_path)
