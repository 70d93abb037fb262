"""Why a would-be opportunity did not become a signal.

A *would-be opportunity* is any evaluated spread or cycle with a positive gross edge (before fees). Traders distrust
tools that show such edges without saying why they are not tradable, so each one that does not become a signal gets a
reason code. The codes are checked in a fixed precedence, most fundamental first; ``reason`` is the first that
applies and ``reasons`` lists them all:

- ``quarantined_input``: a leg's latest update was quarantined, so its last clean price is not current.
- ``stale_leg``: a leg's quote is older (receive clock) than the age limit.
- ``skew``: the legs' event times are further apart than the skew limit.
- ``fees``: the edge after taker fees is below the net-edge threshold.
- ``thin_size``: the executable size is zero or below a leg's minimum lot.
- ``min_notional``: a leg's order value is below the venue's minimum notional.
- ``risk_block``: risk limits refuse the trade (or its value in USDT cannot be checked against them).

A would-be opportunity usually persists for many updates with the same verdict; the table keeps one row when a
route's reason starts or changes (:func:`reason_marks`), not one per tick.

Pure functions over Polars frames: the same gates decide signals and rejections, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from connectors.schema import polars_schema
from flows.common.edges import route_groups

REASONS: tuple[str, ...] = (
    "quarantined_input",
    "stale_leg",
    "skew",
    "fees",
    "thin_size",
    "min_notional",
    "risk_block",
)
CODES: dict[str | None, int] = {code: i + 1 for i, code in enumerate(REASONS)}  # 0: no reason

REJECTION_SCHEMA = polars_schema("rejections")


@dataclass(frozen=True)
class Gates:
    """The thresholds a would-be opportunity must clear to become a signal."""

    min_net_edge_bps: float
    max_quote_age_ms: float
    max_skew_ms: float


def _flag(frame: pl.DataFrame, name: str, default: bool) -> pl.Expr:
    """A boolean input column, or a constant when the caller's evaluation has no such check."""
    if name in frame.columns:
        return pl.col(name).fill_null(not default)
    return pl.lit(default)


def _failing(frame: pl.DataFrame, gates: Gates) -> dict[str, pl.Expr]:
    """Per reason code, in precedence order: the expression that is true when that gate fails."""
    if "lot_ok" in frame.columns or "qty" not in frame.columns:
        lot_ok = _flag(frame, "lot_ok", True)
    else:
        lot_ok = pl.col("qty").fill_null(0.0) > 0
    return {
        "quarantined_input": _flag(frame, "quarantined", False),
        "stale_leg": ~(pl.col("age_ms") <= gates.max_quote_age_ms).fill_null(False),
        "skew": ~(pl.col("skew_ms") <= gates.max_skew_ms).fill_null(False),
        "fees": ~(pl.col("net_edge_bps") >= gates.min_net_edge_bps).fill_null(False),
        "thin_size": ~lot_ok,
        "min_notional": ~_flag(frame, "notional_ok", True),
        "risk_block": ~_flag(frame, "risk_ok", True),
    }


def classify(frame: pl.DataFrame, gates: Gates) -> pl.DataFrame:
    """Add ``is_signal`` and ``reason`` to evaluated spreads or cycles.

    Args:
        frame: needs ``gross_edge_bps``, ``net_edge_bps``, ``age_ms``, ``skew_ms``; optional boolean columns
            ``quarantined`` (default False), ``lot_ok``, ``notional_ok``, ``risk_ok`` (default True). Without
            ``lot_ok``, a ``qty`` column is used: ``qty > 0`` passes. A null optional flag counts as failing, so
            missing information never produces a signal.
        gates: thresholds.

    Returns:
        The frame plus ``is_signal`` (every gate passes) and ``reason`` (the first failing code, for rows with a
        positive gross edge; null otherwise). :func:`with_reasons` lists every failing code.
    """
    failing = _failing(frame, gates)
    first: Any = pl  # pl -> When -> Then chain
    for code, expr in failing.items():
        first = first.when(expr).then(pl.lit(code))
    return frame.with_columns(
        ~pl.any_horizontal(list(failing.values())).alias("is_signal"),
        pl.when(pl.col("gross_edge_bps") > 0).then(first.otherwise(None)).alias("reason"),
    )


def with_reasons(frame: pl.DataFrame, gates: Gates) -> pl.DataFrame:
    """Add ``reasons``: every failing code in precedence order (build it on the few rejected rows only)."""
    failing = _failing(frame, gates)
    codes = pl.concat_list([pl.when(expr).then(pl.lit(code)).otherwise(None) for code, expr in failing.items()])
    return frame.with_columns(codes.list.drop_nulls().alias("reasons"))


def verdicts(frame: pl.DataFrame, gates: Gates) -> tuple[np.ndarray, np.ndarray]:
    """:func:`classify` as arrays, with no strings per row: per row whether every gate passes (``is_signal``), and
    the index + 1 in :data:`REASONS` of the first failing gate where the gross edge is positive, else 0 (``reason``),
    for :func:`reason_marks`."""
    failing = _failing(frame, gates)
    flags = frame.select(pl.col("gross_edge_bps") > 0, *[e.alias(c) for c, e in failing.items()]).to_numpy()
    positive, fails = flags[:, 0].astype(bool), flags[:, 1:].astype(bool)
    failed = fails.any(axis=1)
    first = np.where(failed, fails.argmax(axis=1) + 1, 0)
    return ~failed, np.where(positive, first, 0).astype(np.int8)


def reason_marks(
    groups: list[tuple[str, np.ndarray]], codes: np.ndarray, before: Mapping[str, str]
) -> tuple[np.ndarray, dict[str, str]]:
    """Where a route's reason starts or changes (``codes`` from :func:`verdicts`; ``groups``: each route's rows
    in processing order, flows/common/edges.py ``route_groups``), and each route's last reason after the batch."""
    starts = np.zeros(codes.size, dtype=bool)
    after = dict(before)
    for route, rows in groups:
        reason = codes.take(rows)
        previous = np.concatenate([[CODES.get(before.get(route), 0)], reason[:-1]])
        starts[rows] = (reason != 0) & (reason != previous)
        if reason[-1]:
            after[route] = REASONS[reason[-1] - 1]
        else:
            after.pop(route, None)
    return starts, after


CROSS_ROUTE = pl.format("{}/{}/{}", "symbol", "buy_exchange", "sell_exchange")


def with_checks(
    spreads: pl.DataFrame,
    min_qty_base: float = 0.0,
    min_notional_quote: float = 0.0,
    risk_ok: pl.Series | None = None,
    quarantined: pl.Series | None = None,
) -> pl.DataFrame:
    """Cross-exchange spreads with the size checks (``lot_ok``, ``notional_ok``) and optional verdicts that
    :func:`classify` reads."""
    frame = spreads.with_columns(
        (pl.col("qty") >= max(min_qty_base, 0.0)).and_(pl.col("qty") > 0).alias("lot_ok"),
        (pl.col("qty") * pl.col("buy_px") >= min_notional_quote).alias("notional_ok"),
    )
    if risk_ok is not None:
        frame = frame.with_columns(risk_ok.alias("risk_ok"))
    if quarantined is not None:
        frame = frame.with_columns(quarantined.alias("quarantined"))
    return frame


def rejections_from_spreads(
    spreads: pl.DataFrame,
    gates: Gates,
    before: Mapping[str, str] | None = None,
    min_qty_base: float = 0.0,
    min_notional_quote: float = 0.0,
    risk_ok: pl.Series | None = None,
    quarantined: pl.Series | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Rejection rows for cross-exchange spreads (``spreads`` table columns, see sql/schema/core.sql).

    Args:
        spreads: one symbol's evaluated venue pairs in processing order, with at least ``spread_id, symbol,
            buy_exchange, sell_exchange, ts_eval, buy_px, qty, gross_edge_bps, net_edge_bps, age_ms, skew_ms``.
        gates: the cross-exchange thresholds ([cross] section).
        before: state from the previous batch (``<symbol>/<buy>/<sell>`` -> last reason); None at start.
        min_qty_base: the smaller of both venues' minimum lot, base units.
        min_notional_quote: the larger of both venues' minimum order value, quote currency.
        risk_ok: per row, whether risk limits allow the trade (None = no risk verdict yet: allowed).
        quarantined: per row, whether a leg's latest update was quarantined (None = none was).

    Returns:
        ``(rows, after)``: ``rejections`` rows where a route's reason starts or changes, and the state to carry.
    """
    frame = with_checks(spreads, min_qty_base, min_notional_quote, risk_ok, quarantined)
    groups = route_groups(frame.select(CROSS_ROUTE.alias("route"))["route"])
    starts, after = reason_marks(groups, verdicts(frame, gates)[1], before or {})
    return cross_rejection_rows(frame.filter(pl.Series(starts)), gates), after


def cross_rejection_rows(starting: pl.DataFrame, gates: Gates) -> pl.DataFrame:
    """``rejections`` rows of the spreads (:func:`with_checks`) where a route's reason starts or changes."""
    if not starting.height:  # the usual case: a batch changes no route's reason
        return pl.DataFrame(schema=REJECTION_SCHEMA)
    return rejection_rows(
        classify(starting, gates).with_columns(
            pl.col("symbol").alias("route"),
            (pl.col("qty") * pl.col("buy_px")).alias("notional_quote"),
            pl.col("spread_id").alias("trigger_id"),
        ),
        gates,
        strategy="cross",
        id_column="spread_id",
    )


def rejection_rows(classified: pl.DataFrame, gates: Gates, strategy: str, id_column: str) -> pl.DataFrame:
    """Rows of the ``rejections`` table: classified evaluations with a positive gross edge that are not signals.

    Args:
        classified: output of :func:`classify` (usually filtered by :func:`reason_marks`) with ``route,
            buy_exchange, sell_exchange, ts_eval, qty, notional_quote, trigger_id`` and the id column.
        gates: the thresholds ``classified`` was classified with (to list every failing code).
        strategy: ``cross`` or ``triangular``; prefixes the deterministic ``rejection_id``.
        id_column: the evaluation's own deterministic id (spread id, cycle evaluation id).
    """
    rejected = with_reasons(classified.filter(pl.col("reason").is_not_null() & ~pl.col("is_signal")), gates)
    return rejected.select(
        (pl.lit(f"{strategy}/") + pl.col(id_column)).alias("rejection_id"),
        pl.lit(strategy).alias("strategy"),
        *[
            pl.col(name).cast(dtype)
            for name, dtype in REJECTION_SCHEMA.items()
            if name not in ("rejection_id", "strategy")
        ],
    )
