"""What the triangular evaluator carries between batches, and the latest quotes of its legs at any row.

The state is one small frame (the latest quote per symbol) plus the open routes and their last rejection reasons,
picklable so a bytewax stateful step can snapshot it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from connectors.schema import PL_TS
from flows.triangular.markets import CycleBook

PRICE_STATE = ("bid_px", "bid_qty", "ask_px", "ask_qty", "ts_event", "ts_recv", "quote_id")
STATE_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "bid_px": pl.Float64(),
    "bid_qty": pl.Float64(),
    "ask_px": pl.Float64(),
    "ask_qty": pl.Float64(),
    "ts_event": PL_TS,
    "ts_recv": PL_TS,
    "quote_id": pl.String(),
    "quarantined": pl.Boolean(),
}


@dataclass(frozen=True)
class TriangularState:
    """What one exchange's evaluator carries between batches (picklable, for a bytewax ``stateful_map``).

    Attributes:
        last: latest quote per symbol (:data:`STATE_SCHEMA`); a quarantined update keeps the last clean prices and
            raises ``quarantined`` until the next clean one.
        open: routes with an open opportunity -> receive time of its last qualifying evaluation (a signal is
            emitted only when an opportunity starts, see flows/common/episodes.py).
        reasons: each route's rejection reason at its latest evaluation (a rejection row is written when it
            starts or changes).
    """

    last: pl.DataFrame
    open: dict[str, datetime] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def empty_state() -> TriangularState:
    """The evaluator's state before any quote: no symbol seen, no route qualifying."""
    return TriangularState(pl.DataFrame(schema=STATE_SCHEMA))


def history(quotes: pl.DataFrame, state: pl.DataFrame) -> pl.DataFrame:
    """State rows (pos -1) then the batch in processing order; a quarantined row keeps the last clean prices of its
    symbol but raises the symbol's ``quarantined`` flag until the next clean update."""
    batch = quotes.select(
        "pos",
        "symbol",
        *[
            pl.when(pl.col("quarantined")).then(None).otherwise(pl.col(c)).cast(STATE_SCHEMA[c]).alias(c)
            for c in PRICE_STATE
        ],
        "quarantined",
    )
    hist = pl.concat([state.select(pl.lit(-1, pl.Int64).alias("pos"), *STATE_SCHEMA), batch], how="vertical")
    return hist.sort("pos", maintain_order=True).with_columns(pl.col(PRICE_STATE).forward_fill().over("symbol"))


def positioned(quotes: pl.DataFrame, book: CycleBook) -> pl.DataFrame:
    """Rows of the cycles' symbols with their processing position ``pos``, event time and quarantine flag."""
    q = quotes.with_row_index("pos").with_columns(
        pl.col("pos").cast(pl.Int64),
        pl.coalesce(pl.col("ts_exchange"), pl.col("ts_recv")).alias("ts_event"),
        (pl.col("quarantined").fill_null(False) if "quarantined" in quotes.columns else pl.lit(False)).alias(
            "quarantined"
        ),
    )
    return q.join(book.touch.select("symbol").unique(), on="symbol", how="semi")


def latest_at(quotes: pl.DataFrame, state: TriangularState, book: CycleBook, positions: Sequence[int]) -> pl.DataFrame:
    """The evaluator's latest quote per symbol right after each row position of ``quotes`` (same input as
    :func:`evaluate_batch`, same semantics as ``TriangularOut.state.last``), stacked: ``snap`` (index into
    ``positions``) plus :data:`STATE_SCHEMA`, sorted by snap and symbol. Snapshots for periodic scans, in one join."""
    hist = history(positioned(quotes, book), state.last)
    grid = (
        pl.DataFrame(
            {"snap": range(len(positions)), "pos": list(positions)}, schema={"snap": pl.Int64, "pos": pl.Int64}
        )
        .join(hist.select("symbol").unique(), how="cross")
        .sort("pos", "snap", "symbol")
    )
    snaps = grid.join_asof(hist, on="pos", by="symbol", strategy="backward", check_sortedness=False)
    seen = pl.col("ts_recv").is_not_null() | pl.col("quarantined").is_not_null()  # the symbol had a row by then
    return snaps.filter(seen).select("snap", *STATE_SCHEMA).sort("snap", "symbol")
