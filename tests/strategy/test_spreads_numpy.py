"""flows/cross/spreads.py ``evaluate`` (NumPy): which (update, route) rows exist, which legs they pair, the rising edge per
route across batches, the book carried between batches, and the live-only feed-down gate; on hand-built books."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from arbflow.settings import load_settings
from connectors.simulator import simulate
from flows.common.rejections import Gates
from flows.cross import spreads
from flows.cross.episodes import cross_tables

T0 = datetime(2024, 8, 8, 12, 0, tzinfo=UTC)
FEES_BPS = {"binance": 10.0, "okx": 10.0, "htx": 20.0}
PARAMS = spreads.SpreadParams(FEES_BPS, min_net_edge_bps=30.0, max_quote_age_ms=1000.0, max_skew_ms=500.0,
                              max_position_usdt=50_000.0)  # fmt: skip
B_H, B_O, H_B, H_O, O_B, O_H = (
    ("binance", "htx"),
    ("binance", "okx"),
    ("htx", "binance"),
    ("htx", "okx"),
    ("okx", "binance"),
    ("okx", "htx"),
)
INDEXES: list[tuple[str, pl.DataType]] = [(c, pl.UInt32()) for c in ("_pos", "_route", "_buy", "_sell")]
FLOATS = ("buy_px", "sell_px", "age_ms", "skew_ms", "qty", "gross_edge_bps", "net_edge_bps", "expected_profit_quote")
LEAN_SCHEMA = pl.Schema(
    [*INDEXES, ("ts_eval", pl.Datetime("us", "UTC"))]
    + [(c, pl.Float64()) for c in FLOATS]
    + [(c, pl.Boolean()) for c in ("fresh", "is_signal")]
)


def quotes(rows: list[tuple], start: int = 0) -> pl.DataFrame:
    """(exchange, bid, ask, receive ms[, event ms]) -> clean quotes with ids ``q/<start + i>``."""
    return pl.DataFrame(
        [
            {"exchange": r[0], "symbol": "BTC/USDT", "bid_px": r[1], "bid_qty": 1.0, "ask_px": r[2], "ask_qty": 2.0,
             "ts_recv": T0 + timedelta(milliseconds=r[3]),
             "ts_event": T0 + timedelta(milliseconds=r[4] if len(r) > 4 else r[3]), "quote_id": f"q/{start + i}"}
            for i, r in enumerate(rows)
        ],
        schema_overrides={"ts_recv": pl.Datetime("us", "UTC"), "ts_event": pl.Datetime("us", "UTC")},
    )  # fmt: skip


def net_bps(sell_bid: float, sell_fee_bps: float, buy_ask: float, buy_fee_bps: float) -> float:
    return (sell_bid * (1 - sell_fee_bps / 1e4) / (buy_ask * (1 + buy_fee_bps / 1e4)) - 1) * 1e4


def cells(ev: spreads.Evaluation, *columns: str, route: tuple[str, str] | None = None) -> list[tuple]:
    """(update row, route, *columns) per lean row, optionally of one route only."""
    out = [(pos, ev.routes[r], *rest) for pos, r, *rest in ev.lean.select("_pos", "_route", *columns).rows()]
    return [row for row in out if route in (None, row[1])]


def test_legs_unknown_until_mid_batch_give_rows_only_once_both_venues_have_quoted() -> None:
    ev_state, ev = spreads.evaluate(
        spreads.BookState(),
        quotes(
            [
                ("binance", 60000.0, 60010.0, 0),
                ("okx", 60400.0, 60410.0, 100),  # binance -> okx: ~44.9 bps net, opens
                ("binance", 60005.0, 60015.0, 200),  # still open
                ("htx", 60100.0, 60110.0, 300),  # the third venue's first quote: its routes start here
                ("okx", 60390.0, 60400.0, 400),  # still open: not a new signal
            ]
        ),
        PARAMS,
    )
    assert ev.lean.schema == LEAN_SCHEMA
    assert ev.routes == [("binance", "htx"), ("binance", "okx"), ("htx", "binance"), ("htx", "okx"),
                         ("okx", "binance"), ("okx", "htx")]  # fmt: skip
    assert cells(ev, "_buy", "_sell", "is_signal") == [
        (1, B_O, 0, 1, True),
        (1, O_B, 1, 0, False),
        (2, B_O, 2, 1, True),
        (2, O_B, 1, 2, False),
        (3, B_H, 2, 3, False),
        (3, H_B, 3, 2, False),
        (3, H_O, 3, 1, False),
        (3, O_H, 1, 3, False),
        (4, B_O, 2, 4, True),
        (4, H_O, 3, 4, False),
        (4, O_B, 4, 2, False),
        (4, O_H, 4, 3, False),
    ]
    first = ev.lean.row(0, named=True)
    assert first["ts_eval"] == T0 + timedelta(milliseconds=100)
    assert (first["buy_px"], first["sell_px"]) == (60010.0, 60400.0)
    assert first["qty"] == pytest.approx(50_000.0 / 60010.0, rel=1e-12)  # the position cap: below ask 2, bid 1
    assert first["net_edge_bps"] == pytest.approx(net_bps(60400.0, 10, 60010.0, 10), rel=1e-12)
    assert first["gross_edge_bps"] == pytest.approx((60400.0 / 60010.0 - 1) * 1e4, rel=1e-12)
    assert first["expected_profit_quote"] == pytest.approx(
        first["qty"] * (60400.0 * 0.999 - 60010.0 * 1.001), rel=1e-12
    )
    assert (first["age_ms"], first["skew_ms"]) == pytest.approx((100.0, 100.0))
    assert ev_state.last is not None and ev_state.last["quote_id"].to_list() == ["q/2", "q/3", "q/4"]
    assert ev.rows()["spread_id"][0] == "q/1/binance/okx"


def signal_starts(batches: list[list[tuple]], gap_ms: float = 1000.0) -> list[list[tuple]]:
    """Evaluate batch after batch and run the episode state machine that decides signals: per batch, the cells
    ``(_pos, route, is_signal, starts)`` of binance -> okx."""
    book, crossed_state, out, n = spreads.BookState(), None, [], 0
    gates = Gates(PARAMS.min_net_edge_bps, PARAMS.max_quote_age_ms, PARAMS.max_skew_ms)
    for rows in batches:
        book, ev = spreads.evaluate(book, quotes(rows, n), PARAMS)
        n += len(rows)
        crossed_state, crossed = cross_tables(
            crossed_state, ev.rows(), gates, timedelta(milliseconds=gap_ms), timedelta(0)
        )
        ev = replace(ev, lean=ev.lean.with_columns(crossed.starts.alias("starts")))
        out.append(cells(ev, "is_signal", "starts", route=B_O))
    return out


def test_route_open_at_batch_start_that_keeps_qualifying_is_not_a_new_signal() -> None:
    assert signal_starts(
        [
            [("binance", 60000.0, 60010.0, 0), ("okx", 60400.0, 60410.0, 100)],
            [("okx", 60405.0, 60415.0, 200)],  # open since the last batch
            [("binance", 60005.0, 60015.0, 400)],
            [("okx", 60100.0, 60110.0, 500)],  # closes (fresh, edge gone)
            [("okx", 60400.0, 60410.0, 600)],  # opens again: a new signal
        ]
    ) == [[(1, B_O, True, True)], [(2, B_O, True, False)], [(2, B_O, True, False)], [(2, B_O, False, False)],
          [(2, B_O, True, True)]]  # fmt: skip


def test_open_route_survives_a_batch_that_does_not_touch_it() -> None:
    """A batch from the third venue only evaluates none of the open route's rows: it stays open, and its next
    qualifying row is no new signal."""
    out = signal_starts(
        [
            [("binance", 60000.0, 60010.0, 0), ("okx", 60400.0, 60410.0, 100)],
            [("htx", 60100.0, 60110.0, 200)],
            [("binance", 60005.0, 60015.0, 300)],
        ]
    )
    assert out == [[(1, B_O, True, True)], [], [(3, B_O, True, False)]]


def test_batch_where_one_venue_sends_nothing_pairs_with_its_quote_from_the_state() -> None:
    first = [("binance", 60000.0, 60010.0, 0), ("htx", 60100.0, 60110.0, 50), ("okx", 60050.0, 60060.0, 100)]
    state, _ = spreads.evaluate(spreads.BookState(), quotes(first), PARAMS)
    assert state.last is not None
    assert state.last.select("exchange", "quote_id").rows() == [("binance", "q/0"), ("htx", "q/1"), ("okx", "q/2")]
    after, ev = spreads.evaluate(
        state, quotes([("okx", 60060.0, 60070.0, 200), ("binance", 60010.0, 60020.0, 300)], 3), PARAMS
    )
    # batch rows 0-2 are the state's quotes (binance, htx, okx); htx's only leg is row 1, its q/1
    assert cells(ev, "_buy", "_sell") == [
        (3, B_O, 0, 3), (3, H_O, 1, 3), (3, O_B, 3, 0), (3, O_H, 3, 1),
        (4, B_H, 4, 1), (4, B_O, 4, 3), (4, H_B, 1, 4), (4, O_B, 3, 4),
    ]  # fmt: skip
    rows = ev.rows()
    assert rows.filter(pl.col("buy_exchange") == "htx")["buy_quote_id"].to_list() == ["q/1", "q/1"]
    assert rows["age_ms"].to_list() == pytest.approx([200.0, 150.0, 200.0, 150.0, 250.0, 100.0, 250.0, 100.0])
    assert after.last is not None
    assert after.last.select("exchange", "quote_id").rows() == [("binance", "q/4"), ("htx", "q/1"), ("okx", "q/3")]


def test_single_row_batches() -> None:
    alone, ev = spreads.evaluate(spreads.BookState(), quotes([("okx", 60400.0, 60410.0, 0)]), PARAMS)
    assert ev.lean.height == 0 and ev.lean.schema == LEAN_SCHEMA and ev.routes == []
    assert ev.rows().height == 0
    assert alone.last is not None and alone.last["quote_id"].to_list() == ["q/0"]
    state, _ = spreads.evaluate(
        alone, quotes([("binance", 60000.0, 60010.0, 10), ("htx", 60100.0, 60110.0, 20)], 1), PARAMS
    )
    state, ev = spreads.evaluate(state, quotes([("htx", 60120.0, 60130.0, 30)], 3), PARAMS)
    assert cells(ev, "_buy", "_sell") == [(3, B_H, 0, 3), (3, H_B, 3, 0), (3, H_O, 3, 2), (3, O_H, 2, 3)]
    assert ev.lean.schema == LEAN_SCHEMA


def test_feed_down_between_a_legs_receipt_and_the_evaluation_makes_it_stale() -> None:
    """Live only: binance's feed goes down at 150 ms; its 0 ms quote pairs at 100 ms (before), not at 200 ms."""
    downs = pl.DataFrame(
        {"exchange": ["binance"], "down_ts": [T0 + timedelta(milliseconds=150)]},
        schema={"exchange": pl.String, "down_ts": pl.Datetime("us", "UTC")},
    )
    batch = quotes([("binance", 60000.0, 60010.0, 0), ("okx", 60400.0, 60410.0, 100), ("okx", 60401.0, 60411.0, 200)])
    state, ev = spreads.evaluate(spreads.BookState(), batch, PARAMS, downs)
    assert cells(ev, "fresh", "is_signal") == [
        (1, B_O, True, True),
        (1, O_B, True, False),
        (2, B_O, False, False),
        (2, O_B, False, False),
    ]
    state, ev = spreads.evaluate(state, quotes([("binance", 60001.0, 60011.0, 300)], 3), PARAMS, downs)
    assert cells(ev, "fresh", "is_signal")[0] == (2, B_O, True, True)  # a quote after the down


def test_null_leg_is_a_clear_error() -> None:
    batch = quotes([("binance", 60000.0, 60010.0, 0)]).with_columns(
        pl.lit(None, pl.Datetime("us", "UTC")).alias("ts_event")
    )
    with pytest.raises(ValueError, match="null ts_event"):
        spreads.evaluate(spreads.BookState(), batch, PARAMS)


@pytest.mark.parametrize("seed", [1, 2])
def test_any_cut_into_batches_gives_the_same_rows_and_signals_as_one_batch(seed: int) -> None:
    """The book carried between batches makes the cut invisible: every spread row and the final state match one evaluation of the whole market (gates loose enough to flip often)."""
    cfg = load_settings(environ={}).simulator.model_copy(
        update={"duration_s": 60.0, "rate_hz": 8.0, "anomaly_rate": 0.0, "seed": seed, "cross_opportunities": 4}
    )
    market = simulate(cfg, FEES_BPS, 30.0).quotes.filter(pl.col("symbol") == "BTC/USDT")
    market = market.with_row_index("i").select(
        pl.exclude("i"),
        pl.coalesce("ts_exchange", "ts_recv").alias("ts_event"),
        pl.format("sim/{}", "i").alias("quote_id"),
    )
    params = spreads.SpreadParams(FEES_BPS, min_net_edge_bps=-22.0, max_quote_age_ms=300.0, max_skew_ms=200.0,
                                  max_position_usdt=50_000.0)  # fmt: skip

    def run(cuts: list[int]) -> tuple[pl.DataFrame, spreads.BookState]:
        state, out = spreads.BookState(), []
        for lo, hi in zip([0, *cuts], [*cuts, market.height], strict=True):
            state, ev = spreads.evaluate(state, market.slice(lo, hi - lo), params)
            out.append(ev.rows())
        return pl.concat(out), state

    whole, whole_state = run([])
    rng = random.Random(seed)
    cut, cut_state = run(sorted(rng.sample(range(1, market.height), 40)))
    assert whole["is_signal"].sum() > 10 and whole.height > 3 * market.height - 10
    assert_frame_equal(cut, whole)
    assert whole_state.last is not None and cut_state.last is not None
    assert_frame_equal(cut_state.last, whole_state.last)
