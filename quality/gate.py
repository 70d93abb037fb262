"""The Great Expectations gate: the suites stored as files in quality/, run by GX itself.

Suites are JSON files named ``<dataset>.<severity>.json``. Rows failing a *critical* expectation are quarantined with
reason ``gx:<expectation>:<column>`` (the first failing one in GX's evaluation order); *warning* suites are only
recorded. Each (batch, suite) gives one ``validation_runs`` row. GX has no Polars backend, so the batch goes to pandas.

GX costs ~50-100 ms per suite per call whatever the batch size, so the hot path runs the same suites compiled to
Polars expressions (quality/compiled.py) and this gate is the reference: the asynchronous audit (quality/audit.py)
and the parity tests hold the compiled gate to its verdicts. It validates with BOOLEAN_ONLY first and re-runs with
COMPLETE (to learn *which* rows failed) only when a critical suite fails.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from connectors.schema import polars_schema

SUITES_DIR = Path(__file__).resolve().parent
RUNS_SCHEMA = polars_schema("validation_runs")  # engine: compiled (hot path) | gx (the audit, quality/audit.py)


@dataclass(frozen=True)
class Suite:
    """One suite file."""

    name: str
    severity: str
    expectations: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class GateResult:
    """What the gate decided for one batch."""

    passed: pl.DataFrame  # input rows not failing any critical expectation (same columns as the input)
    failed: pl.DataFrame  # input rows + "reason", "detail"
    runs: pl.DataFrame  # validation_runs rows


def load_suites(directory: str | Path, dataset: str = "quotes") -> list[Suite]:
    """Read ``<dataset>.*.json`` suites; a malformed file is a configuration error naming the file."""
    suites = []
    for path in sorted(Path(directory).glob(f"{dataset}.*.json")):
        try:
            spec = json.loads(path.read_text())
            severity = spec["meta"]["severity"]
            expectations = tuple({"type": e["type"], "kwargs": e["kwargs"]} for e in spec["expectations"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            msg = f"suite file {path} is malformed ({exc!r}); expected name, meta.severity, expectations[type, kwargs]"
            raise ValueError(msg) from None
        if severity not in ("critical", "warning"):
            msg = f"suite file {path}: meta.severity must be 'critical' or 'warning', not {severity!r}"
            raise ValueError(msg)
        suites.append(Suite(spec["name"], severity, expectations))
    if not suites:
        msg = f"no {dataset}.*.json suites in {directory}"
        raise ValueError(msg)
    return suites


def gx_frame(quotes: pl.DataFrame, columns: set[str] | None = None) -> pl.DataFrame:
    """The columns the suites speak about, including derived ones (spread, exchange latency).

    Only ``columns`` are kept: the suites need no others, and pandas conversion is paid per column.
    """
    mid = (pl.col("bid_px") + pl.col("ask_px")) / 2
    frame = quotes.select(
        "exchange",
        "symbol",
        "bid_px",
        "bid_qty",
        "ask_px",
        "ask_qty",
        "ts_recv",
        ((pl.col("ask_px") - pl.col("bid_px")) / mid * 1e4).alias("spread_bps"),
        ((pl.col("ts_recv") - pl.col("ts_exchange")).dt.total_microseconds() / 1000).alias("latency_ms"),
    )
    return frame if columns is None else frame.select([c for c in frame.columns if c in columns])


def evaluation_order(suite: Suite) -> list[int]:
    """The order GX evaluates and reports a suite's expectations: grouped by ``column`` kwarg in order of first
    appearance, expectations without one (column pairs) forming one group (GX 1.x,
    ``Validator.process_expectations_for_validation``). The first failing expectation in this order names a row's
    quarantine reason."""
    groups: dict[str | None, list[int]] = {}
    for i, exp in enumerate(suite.expectations):
        column = exp["kwargs"].get("column")
        groups.setdefault(column if isinstance(column, str) else None, []).append(i)
    return [i for group in groups.values() for i in group]


def columns_of(suites: list[Suite]) -> set[str]:
    keys = ("column", "column_A", "column_B")
    return {e["kwargs"][k] for suite in suites for e in suite.expectations for k in keys if k in e["kwargs"]}


class QualityGate:
    """Validates batches; builds its (unpicklable) GX context lazily, once per process."""

    def __init__(self, suites_dir: str | Path | None = None) -> None:
        self.suites = load_suites(suites_dir or SUITES_DIR)
        self._validations: dict[str, Any] | None = None
        self._building = threading.Lock()

    def warm_up(self) -> None:
        """Import GX and build the context (~5 s) on a background thread while the flow starts and reads its input.

        The first ``validate`` waits for it; if it failed, ``validate`` builds again and raises the error itself.
        """
        threading.Thread(target=self._warm, name="gx-warm-up", daemon=True).start()

    def _warm(self) -> None:
        with contextlib.suppress(Exception):  # validate() builds again and raises it on the worker, with context
            self._context()

    def _context(self) -> dict[str, Any]:
        with self._building:
            if self._validations is None:
                self._validations = self._build()
            return self._validations

    def _build(self) -> dict[str, Any]:
        logging.getLogger("great_expectations").setLevel(logging.WARNING)  # before the import: it logs at import
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        for name, logger in logging.root.manager.loggerDict.items():  # some GX modules force INFO on themselves
            if name.startswith("great_expectations.") and isinstance(logger, logging.Logger):
                logger.setLevel(logging.NOTSET)  # inherit WARNING from "great_expectations"

        # GX fingerprints every in-memory batch smaller than HASH_THRESHOLD bytes with an md5 over pandas' row hashes
        # (a third of its cost per batch here). Our batches are named by batch_id, so the fingerprint is never read.
        pandas_execution_engine.HASH_THRESHOLD = 0
        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        batch_def = ctx.data_sources.add_pandas("arbflow").add_dataframe_asset("quotes")
        batch_def = batch_def.add_batch_definition_whole_dataframe("micro_batch")
        validations = {}
        for suite in self.suites:
            configs = [ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"]) for e in suite.expectations]
            try:
                gx_suite = ctx.suites.add(
                    gx.ExpectationSuite(name=suite.name, expectations=[c.to_domain_obj() for c in configs])
                )
            except Exception as exc:  # GX raises several types for an unknown expectation or bad kwargs
                msg = f"suite {suite.name}: GX rejected an expectation: {exc}"
                raise ValueError(msg) from exc
            validations[suite.name] = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=suite.name, data=batch_def, suite=gx_suite)
            )
        return validations

    def verdicts(self, suite_name: str, frame: pl.DataFrame) -> list[tuple[bool, list[int]]]:
        """GX's own (success, unexpected row indexes) per expectation of one suite over ``frame``, in suite order.

        The reference the compiled gate is held to (tests, the audit); costs a COMPLETE run.
        """
        detail = {"result_format": "COMPLETE", "unexpected_index_column_names": []}
        result = self._context()[suite_name].run(
            batch_parameters={"dataframe": frame.to_pandas()}, result_format=detail
        )
        suite = next(s for s in self.suites if s.name == suite_name)
        order = evaluation_order(suite)
        if [r.expectation_config.type for r in result.results] != [suite.expectations[i]["type"] for i in order]:
            msg = f"suite {suite_name}: GX reported its expectations in an order evaluation_order does not predict"
            raise RuntimeError(msg)
        by_position = dict(zip(order, result.results, strict=True))
        return [
            (bool(r.success), [int(i) for i in r.result.get("unexpected_index_list") or []])
            for r in (by_position[k] for k in range(len(order)))
        ]

    def validate(self, batch_id: str, batch_seq: int, quotes: pl.DataFrame) -> GateResult:
        """Run every suite on the batch (``batch_id`` names it uniquely, e.g. "<partition>/<batch_seq>");
        quarantine rows failing critical expectations."""
        validations = self._context()
        frame = gx_frame(quotes, columns_of(self.suites))
        pdf = frame.to_pandas()
        bad_reason: dict[int, str] = {}
        runs = []
        for suite in self.suites:
            validation = validations[suite.name]
            result = validation.run(batch_parameters={"dataframe": pdf}, result_format="BOOLEAN_ONLY")
            failed_names: list[str] = []
            unexpected: set[int] = set()
            n_unexpected = 0  # warning suites: rows flagged by the expectation that flagged most
            if not result.success:
                # Which rows failed matters only where they get quarantined; warnings need just the counts.
                detail = {"result_format": "COMPLETE", "unexpected_index_column_names": []}
                result = validation.run(
                    batch_parameters={"dataframe": pdf},
                    result_format=detail if suite.severity == "critical" else "SUMMARY",
                )
                for res in result.results:
                    if res.success:
                        continue
                    cfg = res.expectation_config
                    name = f"{cfg.type}:{cfg.kwargs.get('column') or cfg.kwargs.get('column_A')}"
                    failed_names.append(name)
                    if suite.severity == "critical":
                        rows = [int(i) for i in res.result.get("unexpected_index_list") or []]
                        unexpected.update(rows)
                        for i in rows:
                            bad_reason.setdefault(i, f"gx:{name}")
                    else:
                        n_unexpected = max(n_unexpected, int(res.result.get("unexpected_count") or 0))
            outcome = {
                "success": bool(result.success),
                "failed_expectations": sorted(failed_names),
                "rows_unexpected": max(len(unexpected), n_unexpected),
            }
            runs.append(run_row(batch_id, batch_seq, suite, quotes, outcome))
        reasons = pl.Series("reason", [bad_reason.get(i) for i in range(quotes.height)], dtype=pl.String)
        return assemble(quotes, reasons if bad_reason else None, runs, "gx")


def run_row(batch_id: str, batch_seq: int, suite: Suite, quotes: pl.DataFrame, outcome: dict[str, Any]) -> dict:
    """One validation_runs row; ``outcome`` holds success, failed_expectations and rows_unexpected."""
    return {
        "run_id": f"{batch_id}/{suite.name}",
        "batch_seq": batch_seq,
        "suite": suite.name,
        "severity": suite.severity,
        "evaluated": len(suite.expectations),
        "rows_in": quotes.height,
        "ts_recv_min": quotes["ts_recv"].min(),
        "ts_recv_max": quotes["ts_recv"].max(),
        **outcome,
    }


def assemble(quotes: pl.DataFrame, reasons: pl.Series | None, runs: list[dict], engine: str) -> GateResult:
    """Split the batch by quarantine reason (null = passed) and frame the runs; shared by both engines."""
    if reasons is not None and reasons.null_count() < quotes.height:
        flagged = quotes.with_columns(reasons.alias("reason"))
        failed = flagged.filter(pl.col("reason").is_not_null())
        passed = flagged.filter(pl.col("reason").is_null()).drop("reason")
    else:  # the common case: no filter over the whole batch
        failed = quotes.clear().with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
        passed = quotes
    failed = failed.with_columns(pl.lit("failed a critical Great Expectations expectation").alias("detail"))
    runs_frame = pl.DataFrame(
        [{**run, "engine": engine, "compiled_agrees": None} for run in runs],
        schema=RUNS_SCHEMA,
    )
    return GateResult(passed, failed, runs_frame)
