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


def test_a_stalled_venue_from_a_real_live_run_contributes_no_leg_until_it_is_live_again() -> None:
    from connectors.live import LiveVenue
    from tests.connectors.conftest import FAST, binance_recording, jsonl, run_live
    from tests.fakes.exchanges import FakeBinance, FakeOkx

    snapshot, after, _ = binance_recording()
    binance = [s for m in after if m["stream"].endswith("@bookTicker") for s in (("sleep", 0.012), ("send", m))]
    okx = jsonl("okx/btcusdt_tickers.jsonl")
    okx_scripts = [[("send", m) for m in okx[:5]], [("send", m) for m in okx[5:]]]  # silent until a reconnect
    with FakeBinance([binance], snapshot) as fb, FakeOkx(okx_scripts, speed=60.0) as fo:
        venues = [
            LiveVenue("binance", ["BTC/USDT"], ws_url=fb.url),
            LiveVenue("okx", ["BTC/USDT"], ws_url=fo.url, options={"quote_channel": "tickers"}),
        ]
        out = run_live(venues, run_for_s=8.0, settings=FAST, until=[fb, fo])
    quotes, events = out["quotes"], out["feed_events"]
    okx_events = events.filter(pl.col("exchange") == "okx")
    stall_at = okx_events.filter(pl.col("kind") == "stall")["ts_recv"][0]
    back_at = okx_events.filter((pl.col("kind") == "live") & (pl.col("ts_recv") > stall_at))["ts_recv"][0]
    okx_q = quotes.filter(pl.col("exchange") == "okx").select(pl.col("ts_recv").alias("okx_ts")).sort("okx_ts")
    pairs = (
        quotes.filter(pl.col("exchange") == "binance")
        .select(pl.col("ts_recv").alias("at"))
        .sort("at")
        .join_asof(okx_q, left_on="at", right_on="okx_ts", strategy="backward")
        .drop_nulls()
        .with_columns(pl.lit("okx").alias("leg"))
    )
    pairs = pairs.with_columns(stale=stale_leg(pairs, down_events(events), "leg", "okx_ts", "at"))
    during = pairs.filter((pl.col("at") >= stall_at) & (pl.col("at") < back_at))
    before = pairs.filter(pl.col("at") < stall_at)
    assert during.height > 10 and during["stale"].all()  # binance kept ticking; okx's old quote never paired
    assert before.height > 0 and not before["stale"].any()
    next_down = okx_events.filter(~pl.col("feed_up") & (pl.col("ts_recv") > back_at))["ts_recv"].min()
    fresh_after = pairs.filter((pl.col("okx_ts") > back_at) & (pl.col("at") < next_down))
    assert fresh_after.height > 0 and not fresh_after["stale"].any()  # usable again after recovery...
    assert pairs.filter(pl.col("at") >= next_down)["stale"].all()  # ...until okx's feed falls silent once more
