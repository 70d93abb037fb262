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


def _first_failure(checks: list[tuple[pl.Expr, str, pl.Expr]]) -> tuple[pl.Expr, pl.Expr]:
    """(reason, detail) expressions naming the first check that fails for each row."""
    reason: pl.Expr | pl.When | pl.Then = pl
    detail: pl.Expr | pl.When | pl.Then = pl
    for cond, name, text in checks:
        reason = reason.when(cond).then(pl.lit(name))  # type: ignore[union-attr]
        detail = detail.when(cond).then(text)  # type: ignore[union-attr]
    return reason.otherwise(None), detail.otherwise(None)  # type: ignore[union-attr]


def check_rows(quotes: pl.DataFrame, cfg: CleaningConfig, venues: set[str]) -> pl.DataFrame:
    """Add ``reason``/``detail`` (null when the row passes) and ``ts_event`` to typed quotes."""
    px = ("bid_px", "ask_px")
    qty = ("bid_qty", "ask_qty")
    latency_ms = (pl.col("ts_recv") - pl.col("ts_exchange")).dt.total_microseconds() / 1000
    checks = [
        (pl.any_horizontal([pl.col(c).is_nan() for c in px]), "nan_price", pl.format("bid_px={} ask_px={}", *px)),
        (pl.any_horizontal([pl.col(c).is_nan() for c in qty]), "nan_size", pl.format("bid_qty={} ask_qty={}", *qty)),
        (pl.any_horizontal([pl.col(c) <= 0 for c in px]), "non_positive_price", pl.format("bid_px={} ask_px={}", *px)),
        (pl.any_horizontal([pl.col(c) <= 0 for c in qty]), "non_positive_size", pl.format("bid_qty={} ask_qty={}", *qty)),
        (pl.any_horizontal([pl.col(c).is_infinite() for c in (*px, *qty)]), "infinite_value", pl.lit("inf")),
        (pl.col("bid_px") >= pl.col("ask_px"), "crossed_book", pl.format("bid_px={} >= ask_px={}", *px)),
        (~pl.col("exchange").is_in(sorted(venues)), "unknown_exchange", pl.col("exchange")),
        (~pl.col("symbol").is_in(cfg.symbols), "unknown_symbol", pl.col("symbol")),
        (latency_ms > cfg.max_latency_ms, "stale", pl.format("ts_recv - ts_exchange = {} ms", latency_ms.round(3))),
    ]
    reason, detail = _first_failure(checks)
    return quotes.with_columns(reason.alias("reason"), detail.alias("detail"), event_time())


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
    prior_max = key.cum_max().shift(1).over("exchange", order_by="_pos")
    same_book = pl.all_horizontal(
        [pl.col(c) == pl.col(c).shift(1).over("exchange", order_by="_pos") for c in TAIL_COLUMNS[3:7]]
    )
    is_dup = (key == prior_max) & (pl.col("seq").is_not_null() | same_book)
    is_ooo = key < prior_max
    hist = hist.with_columns(
        pl.when(is_ooo)
        .then(pl.lit("out_of_order"))
        .when(is_dup)
        .then(pl.lit("duplicate"))
        .alias("_order_reason"),
        pl.format("key {} after {}", key, prior_max).alias("_order_detail"),
    )
    in_order = hist.filter(pl.col("_order_reason").is_null())
    reference = (
        pl.col("mid")
        .rolling_median(window_size=cfg.outlier_window - 1, min_samples=3)
        .shift(1)
        .over("exchange", order_by="_pos")
    )
    deviation_bps = ((pl.col("mid") / reference - 1) * 1e4).abs()
    in_order = in_order.with_columns(
        pl.when(deviation_bps > cfg.outlier_bps).then(pl.lit("price_outlier")).alias("_outlier"),
        pl.format("mid {} is {} bps from rolling median {}", "mid", deviation_bps.round(1), reference).alias(
            "_outlier_detail"
        ),
    )
    new_tail = in_order.group_by("exchange", maintain_order=True).tail(cfg.outlier_window - 1).sort("_pos")
    outliers = in_order.filter(~pl.col("_hist") & pl.col("_outlier").is_not_null())
    disordered = hist.filter(~pl.col("_hist") & pl.col("_order_reason").is_not_null())
    clean = in_order.filter(~pl.col("_hist") & pl.col("_outlier").is_null())
    out_cols = list(quotes.columns)
    rej_cols = [*out_cols, "reason", "detail"]
    rejected = pl.concat(
        [
            disordered.with_columns(
                pl.col("_order_reason").alias("reason"), pl.col("_order_detail").alias("detail")
            ).select(rej_cols),
            outliers.with_columns(pl.col("_outlier").alias("reason"), pl.col("_outlier_detail").alias("detail")).select(
                rej_cols
            ),
        ]
    )
    return StreamState(new_tail.select(TAIL_COLUMNS)), clean.select(out_cols), rejected
