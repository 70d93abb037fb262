"""The stale-venue contract: a quote received before its venue's feed went down pairs with nothing after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from connectors.exchanges.feed_state import down_events, stale_leg

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_leg_is_stale_only_when_its_venue_went_down_between_its_quote_and_the_evaluation() -> None:
    events = pl.DataFrame({
        "exchange": ["okx", "okx", "okx", "htx"], "kind": ["live", "stall", "live", "bad_frame"],
        "feed_up": [True, False, True, True], "ts_recv": [t(0), t(10), t(12), t(11)],
    })  # fmt: skip
    pairs = pl.DataFrame({
        "leg": ["okx", "okx", "okx", "okx", "binance", "htx"],
        "leg_ts": [t(5), t(5), t(13), t(10), t(5), t(5)],
        "at": [t(9), t(11), t(14), t(10), t(11), t(20)],
    })  # fmt: skip
    stale = stale_leg(pairs, down_events(events), "leg", "leg_ts", "at").to_list()
    # before the stall; across the stall; fresh quote after recovery; quote at the stall instant (not after it);
    # another venue; htx's bad_frame keeps its feed up
    assert stale == [False, True, False, False, False, False]


def test_no_feed_events_means_nothing_is_stale() -> None:
    empty = pl.DataFrame(
        {"exchange": [], "feed_up": [], "ts_recv": []},
        schema={"exchange": pl.String, "feed_up": pl.Boolean, "ts_recv": pl.Datetime("us", "UTC")},
    )
    pairs = pl.DataFrame({"leg": ["okx"], "leg_ts": [t(1)], "at": [t(2)]})
    assert stale_leg(pairs, down_events(empty), "leg", "leg_ts", "at").to_list() == [False]
