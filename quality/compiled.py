"""The suites compiled to Polars expressions: the same verdicts as Great Expectations, row for row, at a cost per row.

GX validates a pandas frame, so its semantics are pandas': a float NaN is *missing*, exactly like a null. Column-map
expectations ignore missing rows (they are neither expected nor unexpected, and do not count towards ``mostly``);
``expect_column_values_to_not_be_null`` counts them as unexpected; column-pair expectations ignore a row only when both
values are missing (GX's default ``ignore_row_if``). Polars orders NaN above every number, so every comparison here
masks missing values explicitly. An expectation is successful when no considered row is unexpected or, with
``mostly``, when the expected fraction of considered rows reaches it (vacuously true with no considered rows).

The suite files stay the single source of truth; an expectation type or kwarg the compiler cannot reproduce exactly
is a start-up error, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from connectors.schema import empty_quotes
from quality.gate import (
    SUITES_DIR,
    GateResult,
    Suite,
    assemble,
    columns_of,
    evaluation_order,
    gx_frame,
    load_suites,
    run_row,
)

Verdict = tuple[pl.Expr, pl.Expr | None]  # (unexpected row, considered row or None = every row), no nulls


def _missing(column: str, schema: pl.Schema) -> pl.Expr:
    """pandas' isnull: null, and NaN in a float column."""
    col = pl.col(column)
    return col.is_null() | col.is_nan() if schema[column].is_float() else col.is_null()


def _not_null(kw: dict[str, Any], schema: pl.Schema) -> Verdict:
    return _missing(kw["column"], schema), None


def _between(kw: dict[str, Any], schema: pl.Schema) -> Verdict:
    col, lo, hi = pl.col(kw["column"]), kw.get("min_value"), kw.get("max_value")
    if not schema[kw["column"]].is_numeric():  # GX would compare parsed dates or strings: not reproduced here
        msg = f"expect_column_values_to_be_between on {kw['column']} ({schema[kw['column']]}): only numeric columns"
        raise ValueError(msg)
    if lo is None and hi is None:
        msg = "expect_column_values_to_be_between needs min_value or max_value"
        raise ValueError(msg)
    inside = pl.lit(True)
    if lo is not None:
        inside &= col > lo if kw.get("strict_min") else col >= lo
    if hi is not None:
        inside &= col < hi if kw.get("strict_max") else col <= hi
    considered = ~_missing(kw["column"], schema)
    return considered & ~inside.fill_null(False), considered


def _in_set(kw: dict[str, Any], schema: pl.Schema, *, negate: bool = False) -> Verdict:
    considered = ~_missing(kw["column"], schema)
    member = pl.col(kw["column"]).is_in(list(kw["value_set"])).fill_null(False)
    return considered & (member if negate else ~member), considered


def _a_greater_than_b(kw: dict[str, Any], schema: pl.Schema) -> Verdict:
    a, b = kw["column_A"], kw["column_B"]
    miss_a, miss_b = _missing(a, schema), _missing(b, schema)
    above = pl.col(a) >= pl.col(b) if kw.get("or_equal") else pl.col(a) > pl.col(b)
    holds = above.fill_null(False) & ~miss_a & ~miss_b
    considered = ~(miss_a & miss_b)
    return considered & ~holds, considered


COMMON = {"mostly", "result_format", "catch_exceptions", "meta"}
COMPILERS: dict[str, tuple[Callable[[dict[str, Any], pl.Schema], Verdict], frozenset[str]]] = {
    "expect_column_values_to_not_be_null": (_not_null, frozenset({"column"})),
    "expect_column_values_to_be_between": (
        _between,
        frozenset({"column", "min_value", "max_value", "strict_min", "strict_max"}),
    ),
    "expect_column_values_to_be_in_set": (_in_set, frozenset({"column", "value_set"})),
    "expect_column_values_to_not_be_in_set": (
        lambda kw, schema: _in_set(kw, schema, negate=True),
        frozenset({"column", "value_set"}),
    ),
    "expect_column_pair_values_a_to_be_greater_than_b": (
        _a_greater_than_b,
        frozenset({"column_A", "column_B", "or_equal", "ignore_row_if"}),
    ),
}


def check_supported(suites: list[Suite], source: str) -> None:
    """Fail at start-up, naming the suite, the expectation and what is supported, if a suite cannot be compiled."""
    for suite in suites:
        for i, exp in enumerate(suite.expectations):
            where = f"suite {suite.name} ({source}), expectation #{i} {exp['type']}"
            if exp["type"] not in COMPILERS:
                msg = f"{where}: the compiled quality gate does not support it; supported: {', '.join(COMPILERS)}"
                raise ValueError(msg)
            allowed = COMPILERS[exp["type"]][1] | COMMON
            if unknown := sorted(set(exp["kwargs"]) - allowed):
                msg = f"{where}: unsupported kwargs {unknown}; supported: {sorted(allowed)}"
                raise ValueError(msg)
            if exp["kwargs"].get("ignore_row_if", "both_values_are_missing") != "both_values_are_missing":
                msg = f"{where}: only ignore_row_if='both_values_are_missing' (GX's default) is supported"
                raise ValueError(msg)
            mostly = exp["kwargs"].get("mostly", 1.0)
            if not isinstance(mostly, int | float) or not 0 <= mostly <= 1:
                msg = f"{where}: mostly must be a number in [0, 1], not {mostly!r}"
                raise ValueError(msg)


@dataclass(frozen=True)
class ExpectationVerdict:
    """One expectation over one frame, as GX would report it."""

    name: str  # "<expectation type>:<column or column_A>", the quarantine reason after "gx:"
    success: bool
    unexpected: pl.Series  # boolean per row


def evaluate(suite: Suite, frame: pl.DataFrame) -> list[ExpectationVerdict]:
    """Every expectation of ``suite`` over ``frame``, in suite order."""
    return evaluate_suites([suite], frame)[0]


Compiled = tuple[list[pl.Expr], list[str]]  # the select's expressions, the verdict names


def compile_suites(suites: list[Suite], schema: pl.Schema) -> Compiled:
    """Per expectation of every suite: its row flag ``u<s>_<i>`` and counts ``c<s>_<i>``, ``n<s>_<i>``, and names."""
    exprs, names = [], []
    for s, suite in enumerate(suites):
        for i, exp in enumerate(suite.expectations):
            kw = exp["kwargs"]
            unexpected, considered = COMPILERS[exp["type"]][0](kw, schema)
            exprs += [
                unexpected.alias(f"u{s}_{i}"),
                (pl.len() if considered is None else considered.sum()).alias(f"c{s}_{i}"),
                unexpected.sum().alias(f"n{s}_{i}"),
            ]
            names.append(f"{exp['type']}:{kw.get('column') or kw.get('column_A')}")
    return exprs, names


def evaluate_suites(
    suites: list[Suite], frame: pl.DataFrame, compiled: Compiled | None = None
) -> list[list[ExpectationVerdict]]:
    """Every expectation of every suite over ``frame``, per suite in suite order, in ONE Polars select: each row's
    unexpected flag and the counts (broadcast) side by side. A live batch is a few rows, so the fixed cost of a query
    is what a batch pays: one for all suites, not two per suite (``compiled``: from ``compile_suites`` for this
    frame's schema, built once)."""
    exprs, names = compiled or compile_suites(suites, frame.schema)
    out = frame.select(exprs)
    totals = out.row(0, named=True) if frame.height else {}
    verdicts: list[list[ExpectationVerdict]] = []
    k = 0
    for s, suite in enumerate(suites):
        verdicts.append([])
        for i, exp in enumerate(suite.expectations):
            considered, unexpected = totals.get(f"c{s}_{i}", 0), totals.get(f"n{s}_{i}", 0)
            mostly = exp["kwargs"].get("mostly", 1.0)
            success = (
                unexpected == 0 if mostly >= 1 else considered == 0 or (considered - unexpected) / considered >= mostly
            )
            verdicts[-1].append(ExpectationVerdict(names[k], bool(success), out[f"u{s}_{i}"]))
            k += 1
    return verdicts


class CompiledGate:
    """The hot-path gate: the suites as Polars expressions, the same quarantine reasons and runs as the GX gate."""

    def __init__(self, suites_dir: str | Path | None = None, probe: pl.DataFrame | None = None) -> None:
        """``probe``: an empty frame of the columns the suites judge (default: the quote columns and derived ones)."""
        directory = Path(suites_dir or SUITES_DIR)
        self.suites = load_suites(directory)
        check_supported(self.suites, str(directory))
        self.columns = columns_of(self.suites)
        self._compiled: dict[tuple[tuple[str, pl.DataType], ...], Compiled] = {}
        probe = gx_frame(empty_quotes(), self.columns) if probe is None else probe
        try:  # a dry run on an empty batch: a missing column or an unsupported dtype fails here, at start-up
            evaluate_suites(self.suites, probe)
        except (pl.exceptions.PolarsError, KeyError, ValueError) as exc:
            msg = f"quality suites in {directory} do not compile against the quote columns: {exc}"
            raise ValueError(msg) from exc

    def validate(self, batch_id: str, batch_seq: int, quotes: pl.DataFrame) -> GateResult:
        """Quarantine rows failing a failing critical expectation (first in suite order names the reason)."""
        frame = gx_frame(quotes, self.columns)
        runs, reasons = [], None
        key = tuple(frame.schema.items())
        if key not in self._compiled:  # one schema in practice (the quote columns): compiled once
            self._compiled[key] = compile_suites(self.suites, frame.schema)
        verdicts_per_suite = evaluate_suites(self.suites, frame, self._compiled[key])
        for suite, verdicts in zip(self.suites, verdicts_per_suite, strict=True):
            failing = [verdicts[i] for i in evaluation_order(suite) if not verdicts[i].success]
            if suite.severity == "critical" and failing:
                prior = [pl.lit(reasons)] if reasons is not None else []  # an earlier suite's reason stays
                reasons = pl.select(
                    pl.coalesce(*prior, *(pl.when(pl.lit(v.unexpected)).then(pl.lit(f"gx:{v.name}")) for v in failing))
                    .cast(pl.String)
                    .alias("reason")
                ).to_series()
                n_unexpected = int(pl.select(pl.any_horizontal(pl.lit(v.unexpected) for v in failing).sum()).item())
            else:
                n_unexpected = max((int(v.unexpected.sum()) for v in failing), default=0)
            outcome = {
                "success": not failing,
                "failed_expectations": sorted(v.name for v in failing),
                "rows_unexpected": n_unexpected,
            }
            runs.append(run_row(batch_id, batch_seq, suite, quotes, outcome))
        return assemble(quotes, reasons, runs, "compiled")
