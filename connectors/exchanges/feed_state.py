"""Which venue quotes are fit for signals, from the feed_events a live source emits.

Contract (also in sql/schema/feeds.sql): an event with ``feed_up = False`` (connect, connect_failed, disconnect,
stall, resubscribe) means the venue's feed was not trustworthy from that event's ``ts_recv`` on. A quote received
before such an event must not be paired with anything evaluated after it: the venue may have moved while we were
deaf. The first quote received after the feed recovers is fresh again, so no "up" bookkeeping is needed: a leg is
stale exactly when some down event of its venue lies in ``(leg ts_recv, evaluation ts_recv]``.

Both times are on the receive clock (the only clock the events and every quote share).
"""

from __future__ import annotations

import polars as pl

from connectors.schema import PL_TS


def down_events(feed_events: pl.DataFrame) -> pl.DataFrame:
    """``exchange``, ``down_ts`` (receive clock) of every event that marks a venue's feed unfit, sorted."""
    return (
        feed_events.filter(~pl.col("feed_up"))
        .select("exchange", pl.col("ts_recv").cast(PL_TS).alias("down_ts"))
        .sort("exchange", "down_ts")
    )


def stale_leg(frame: pl.DataFrame, downs: pl.DataFrame, exchange_col: str, leg_ts_col: str,
              at_ts_col: str) -> pl.Series:  # fmt: skip
    """Per row of ``frame``: did the leg's venue go down after the leg's quote arrived and by ``at_ts_col``?

    Args:
        frame: e.g. evaluated cross-exchange pairs, one leg's exchange and receive time per row.
        downs: ``down_events(...)`` of the feed_events seen so far.
        exchange_col: the leg's venue column.
        leg_ts_col: the leg quote's ``ts_recv``.
        at_ts_col: when the pair is evaluated (the newer leg's ``ts_recv``).

    Returns:
        A Boolean Series named ``stale`` aligned with ``frame`` (True = the leg must not contribute).
    """
    keyed = frame.select(
        pl.int_range(pl.len()).alias("_row"),
        pl.col(exchange_col).alias("exchange"),
        pl.col(leg_ts_col).cast(PL_TS).alias("_leg"),
        pl.col(at_ts_col).cast(PL_TS).alias("_at"),
    ).sort("_at")
    last_down = keyed.join_asof(
        downs.sort("down_ts"),
        left_on="_at",
        right_on="down_ts",
        by="exchange",
        strategy="backward",
        check_sortedness=False,
    )  # both sides sorted on the time key
    stale = (pl.col("down_ts") > pl.col("_leg")).fill_null(False)
    return last_down.sort("_row").select(stale.alias("stale")).to_series()
