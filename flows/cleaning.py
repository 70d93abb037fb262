"""QingXi, the cleaning module: which typed quotes are fit to trade on, and why the others are not.

Two kinds of check, both vectorized over a micro-batch:

* row checks (``check_rows``) need nothing but the row: NaN, non-positive price or size, crossed or locked book,
  unknown symbol or venue, stale (the venue stamped it more than ``max_latency_ms`` before we received it);
* stream checks (``clean_stream``) need the venue's recent history, carried as state per symbol: duplicate and
  out-of-order updates (by venue sequence id, or venue time when there is none) and price outliers against the rolling
  median of the venue's own previous ``outlier_window - 1`` mids.

Every row leaves as clean or rejected with exactly one reason (the first failing check, in the order listed). The
stream state depends only on the rows, never on how they were cut into batches, so any batching gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from connectors.config import CleaningConfig
from connectors.schema import event_time

TAIL_COLUMNS = ("exchange", "seq", "ts_event", "bid_px", "bid_qty", "ask_px", "ask_qty", "mid")


def _text(*parts: str | pl.Expr) -> pl.Expr:
    """Concatenate literal strings and expressions (``pl.format`` panics on filtered frames in polars 2.1)."""
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p.cast(pl.String) for p in parts]).fill_null("null")


def _first_failure(checks: list[tuple[pl.Expr, str, pl.Expr]]) -> tuple[pl.Expr, pl.Expr]:
    """(reason, detail) expressions naming the first check that fails for each row."""
    reason: pl.Expr | pl.When | pl.Then = pl
    detail: pl.Expr | pl.When | pl.Then = pl
    for cond, name, text in checks:
        reason = reason.when(cond).then(pl.lit(name))  # type: ignore[union-attr]
        detail = detail.when(cond).then(text)  # type: ignore[union-attr]
    return reason.otherwise(None), detail.otherwise(None)  # type: ignore[union-attr]


def _split(frame: pl.DataFrame, checks: list[tuple[pl.Expr, str, pl.Expr]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows passing every check, failing rows + reason/detail).

    Conditions are evaluated on the whole frame (they may look at neighbouring rows); the texts only for failing rows.
    """
    names = [f"_check{i}" for i in range(len(checks))]
    flagged = frame.with_columns([cond.fill_null(False).alias(n) for n, (cond, _, _) in zip(names, checks)])
    mask = flagged.select(pl.any_horizontal(names)).to_series()
    reason, detail = _first_failure([(pl.col(n), name, text) for n, (_, name, text) in zip(names, checks)])
    rejected = flagged.filter(mask).with_columns(reason.alias("reason"), detail.alias("detail")).drop(names)
    return flagged.filter(~mask).drop(names), rejected


def check_rows(quotes: pl.DataFrame, cfg: CleaningConfig, venues: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Row checks. Returns (passing rows, rejected rows with ``reason``/``detail``), both with ``ts_event``."""
    px = ("bid_px", "ask_px")
    qty = ("bid_qty", "ask_qty")
    latency_ms = (pl.col("ts_recv") - pl.col("ts_exchange")).dt.total_microseconds() / 1000
    checks = [
        (
            pl.any_horizontal([pl.col(c).is_nan() for c in px]),
            "nan_price",
            _text("bid_px=", pl.col("bid_px"), " ask_px=", pl.col("ask_px")),
        ),
        (
            pl.any_horizontal([pl.col(c).is_nan() for c in qty]),
            "nan_size",
            _text("bid_qty=", pl.col("bid_qty"), " ask_qty=", pl.col("ask_qty")),
        ),
        (
            pl.any_horizontal([pl.col(c) <= 0 for c in px]),
            "non_positive_price",
            _text("bid_px=", pl.col("bid_px"), " ask_px=", pl.col("ask_px")),
        ),
        (
            pl.any_horizontal([pl.col(c) <= 0 for c in qty]),
            "non_positive_size",
            _text("bid_qty=", pl.col("bid_qty"), " ask_qty=", pl.col("ask_qty")),
        ),
        (pl.any_horizontal([pl.col(c).is_infinite() for c in (*px, *qty)]), "infinite_value", pl.lit("inf")),
        (
            pl.col("bid_px") >= pl.col("ask_px"),
            "crossed_book",
            _text("bid_px=", pl.col("bid_px"), " >= ask_px=", pl.col("ask_px")),
        ),
        (~pl.col("exchange").is_in(sorted(venues)), "unknown_exchange", pl.col("exchange")),
        (~pl.col("symbol").is_in(cfg.symbols), "unknown_symbol", pl.col("symbol")),
        (latency_ms > cfg.max_latency_ms, "stale", _text("ts_recv - ts_exchange = ", latency_ms.round(3), " ms")),
    ]
    return _split(quotes.with_columns(event_time()), checks)


@dataclass(frozen=True)
class StreamState:
    """Per symbol: the last ``outlier_window - 1`` in-order rows of each venue (TAIL_COLUMNS)."""

    tail: pl.DataFrame

    @staticmethod
    def empty(schema: dict[str, pl.DataType]) -> StreamState:
        return StreamState(pl.DataFrame(schema={c: schema[c] for c in TAIL_COLUMNS}))


def clean_stream(
    state: StreamState | None, quotes: pl.DataFrame, cfg: CleaningConfig
) -> tuple[StreamState, pl.DataFrame, pl.DataFrame]:
    """Stream checks for one symbol's rows (in processing order) that passed ``check_rows``.

    Returns (new state, clean rows, rejected rows with reason/detail). Rows keep their input columns.
    """
    rows = quotes.with_columns(((pl.col("bid_px") + pl.col("ask_px")) / 2).alias("mid"))
    if state is None:
        state = StreamState.empty(rows.schema)
    hist = pl.concat(
        [state.tail.with_columns(pl.lit(True).alias("_hist")), rows.with_columns(pl.lit(False).alias("_hist"))],
        how="diagonal_relaxed",
    ).with_row_index("_pos")
    # Order key: the venue's update id when it sends one, else its clock.
    key = pl.coalesce(pl.col("seq"), pl.col("ts_event").dt.epoch("us"))
    hist = hist.with_columns(
        key.alias("_key"), key.cum_max().shift(1).over("exchange", order_by="_pos").alias("_prior")
    )
    same_book = pl.all_horizontal(
        [pl.col(c) == pl.col(c).shift(1).over("exchange", order_by="_pos") for c in TAIL_COLUMNS[3:7]]
    )
    is_ooo = pl.col("_key") < pl.col("_prior")
    is_dup = (pl.col("_key") == pl.col("_prior")) & (pl.col("seq").is_not_null() | same_book)
    order_detail = _text("update key ", pl.col("_key"), " after ", pl.col("_prior"))
    in_order, disordered = _split(hist, [(is_ooo, "out_of_order", order_detail), (is_dup, "duplicate", order_detail)])
    reference = (
        pl.col("mid")
        .rolling_median(window_size=cfg.outlier_window - 1, min_samples=3)
        .shift(1)
        .over("exchange", order_by="_pos")
    )
    in_order = in_order.with_columns(reference.alias("_ref")).with_columns(
        ((pl.col("mid") / pl.col("_ref") - 1).abs() * 1e4).alias("_dev_bps")
    )
    outlier_detail = _text(
        "mid ", pl.col("mid"), " is ", pl.col("_dev_bps").round(1), " bps from rolling median ", pl.col("_ref")
    )
    kept, outliers = _split(in_order, [(pl.col("_dev_bps") > cfg.outlier_bps, "price_outlier", outlier_detail)])
    # The reference history holds outliers too, so it does not depend on how rows were cut into batches.
    new_tail = in_order.group_by("exchange", maintain_order=True).tail(cfg.outlier_window - 1).sort("_pos")
    out_cols = list(quotes.columns)
    rej_cols = [*out_cols, "reason", "detail"]
    rejected = pl.concat(
        [disordered.filter(~pl.col("_hist")).select(rej_cols), outliers.filter(~pl.col("_hist")).select(rej_cols)]
    )
    clean = kept.filter(~pl.col("_hist"))
    return StreamState(new_tail.select(TAIL_COLUMNS)), clean.select(out_cols), rejected
