"""QingXi's stream checks (flows/common/cleaning.py ``clean_stream``): duplicates, out-of-order updates and price outliers
per venue, with history carried between batches; any cut of the same rows gives the same rows out and the same state.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from arbflow.settings import CleaningConfig, load_settings
from connectors.schema import POLARS_QUOTE_SCHEMA, event_time
from connectors.simulator import simulate
from flows.common import cleaning

T0 = datetime(2024, 8, 8, 12, 0, tzinfo=UTC)
CFG = load_settings(environ={}).cleaning  # outlier_window 21, outlier_bps 500
VENUES = ["binance", "okx", "htx"]


def quotes(rows: list[tuple], start: int = 0) -> pl.DataFrame:
    """(exchange, seq or None, venue ms, bid, ask) -> rows as ``check_rows`` passes them, ids ``q/<start + i>``."""
    frame = pl.DataFrame(
        {
            "exchange": [r[0] for r in rows],
            "symbol": "BTC/USDT",
            "bid_px": [float(r[3]) for r in rows],
            "bid_qty": 1.0,
            "ask_px": [float(r[4]) for r in rows],
            "ask_qty": 2.0,
            "ts_exchange": [T0 + timedelta(milliseconds=r[2]) for r in rows],
            "ts_recv": [T0 + timedelta(milliseconds=r[2] + 5) for r in rows],
            "seq": [r[1] for r in rows],
            "source": "test",
            "quote_id": [f"q/{start + i}" for i in range(len(rows))],
        },
        schema={**POLARS_QUOTE_SCHEMA, "quote_id": pl.String},
    )
    return frame.with_columns(event_time())


def stream(
    frame: pl.DataFrame, cuts: list[int], cfg: CleaningConfig = CFG
) -> tuple[cleaning.StreamState, pl.DataFrame, pl.DataFrame]:
    """``clean_stream`` over ``frame`` cut before each row offset in ``cuts``, state carried: (state, clean, rejected)."""
    state, clean, rejected = None, [], []
    for lo, hi in zip([0, *cuts], [*cuts, frame.height], strict=True):
        state, kept, bad = cleaning.clean_stream(state, frame.slice(lo, hi - lo), cfg)
        clean.append(kept)
        rejected.append(bad)
    assert state is not None
    return state, pl.concat(clean), pl.concat(rejected)


def verdicts(rejected: pl.DataFrame) -> list[tuple[str, str, str]]:
    return rejected.select("quote_id", "reason", "detail").rows()


def us(ms: int) -> int:
    """Venue clock in µs since the epoch: the order key of a venue without update ids."""
    return int((T0 + timedelta(milliseconds=ms)).timestamp() * 1_000_000)


@pytest.fixture(scope="module")
def market() -> pl.DataFrame:
    """One symbol on three venues with injected duplicates, late retransmits and outliers, after the row checks;
    okx sends no update ids (its order key is its clock)."""
    sim = load_settings(environ={}).simulator.model_copy(
        update={"venues": VENUES, "symbols": ["BTC/USDT"], "duration_s": 300.0, "rate_hz": 10.0, "anomaly_rate": 0.02}
    )
    raw = simulate(sim, dict.fromkeys(VENUES, 10.0), 30.0).quotes
    raw = raw.with_columns(
        pl.when(pl.col("exchange") == "okx").then(None).otherwise(pl.col("seq")).alias("seq"),
        pl.format("sim/{}", pl.int_range(pl.len())).alias("quote_id"),
    )
    passed, _ = cleaning.check_rows(raw, CFG, set(VENUES))
    return passed


def _cut(style: str, height: int) -> list[int]:
    if style == "every 1000 rows":
        return list(range(1000, height, 1000))
    singles = set(range(4000, 4040))  # forty one-row batches
    return sorted(set(random.Random(5).sample(range(1, height), 60)) | singles)


@pytest.mark.parametrize("style", ["every 1000 rows", "random, with one-row batches"])
@pytest.mark.parametrize(("window", "band_bps"), [(21, 500.0), (5, 1.0)], ids=["default", "tight band"])
def test_any_cut_of_the_same_rows_gives_the_same_rows_out_and_the_same_state(
    market: pl.DataFrame, window: int, band_bps: float, style: str
) -> None:
    cfg = CFG.model_copy(update={"outlier_window": window, "outlier_bps": band_bps})
    state, clean, rejected = stream(market, [], cfg)
    assert {"duplicate", "out_of_order", "price_outlier"} <= set(rejected["reason"])  # all injected kinds are there
    assert sorted([*clean["quote_id"], *rejected["quote_id"]]) == sorted(market["quote_id"])  # each row leaves once
    assert_frame_equal(clean, market.filter(pl.col("quote_id").is_in(clean["quote_id"].implode())))  # order, columns

    cut_state, cut_clean, cut_rejected = stream(market, _cut(style, market.height), cfg)
    assert_frame_equal(cut_clean, clean)
    assert_frame_equal(cut_rejected.sort("quote_id"), rejected.sort("quote_id"))
    assert_frame_equal(cut_state.tail, state.tail)


def test_outliers_are_the_rows_far_from_the_rolling_median_of_their_venue(market: pl.DataFrame) -> None:
    """The spec, computed directly: each venue's in-order mids against the median of its previous 4 (at least 3)."""
    cfg = CFG.model_copy(update={"outlier_window": 5, "outlier_bps": 1.0})  # many blocks need the exact median
    _, _, rejected = stream(market, [], cfg)
    disordered = rejected.filter(pl.col("reason") != "price_outlier")["quote_id"].implode()
    mid = (pl.col("bid_px") + pl.col("ask_px")) / 2
    ref = mid.rolling_median(window_size=4, min_samples=3).shift(1).over("exchange")
    expected = (
        market.filter(~pl.col("quote_id").is_in(disordered))
        .with_columns(((mid / ref - 1).abs() * 1e4).alias("dev_bps"), ref.alias("ref"))
        .filter(pl.col("dev_bps") > 1.0)
    )
    got = rejected.filter(pl.col("reason") == "price_outlier")
    assert 200 < got.height < market.height / 4
    assert got["quote_id"].to_list() == expected["quote_id"].to_list()
    medians = got["detail"].str.extract(r"rolling median (\S+)$").cast(pl.Float64)
    assert medians.to_list() == expected["ref"].to_list()  # the exact median, bit for bit, in the text


def test_a_duplicate_of_the_last_update_of_the_previous_batch_is_rejected() -> None:
    first = quotes([("okx", 1, 0, 100, 101), ("okx", 2, 10, 100, 101.5), ("okx", 3, 20, 100.5, 101.5)])
    again = quotes([("okx", 3, 20, 100.5, 101.5), ("okx", 4, 30, 100.5, 101)], start=3)
    state, _, _ = cleaning.clean_stream(None, first, CFG)
    _, clean, rejected = cleaning.clean_stream(state, again, CFG)
    assert verdicts(rejected) == [("q/3", "duplicate", "update key 3 after 3")]
    assert clean["quote_id"].to_list() == ["q/4"]


def test_a_late_retransmit_across_a_batch_boundary_is_out_of_order_for_its_own_venue_only() -> None:
    first = quotes([("okx", 1000 + i, 10 * i, 100, 101) for i in range(6)] + [("htx", 1, 0, 100, 101)])
    second = quotes([("htx", 2, 60, 100, 101), ("okx", 1003, 30, 100, 101), ("okx", 1006, 70, 100, 101)], start=7)
    state, _, _ = cleaning.clean_stream(None, first, CFG)
    state, clean, rejected = cleaning.clean_stream(state, second, CFG)
    assert verdicts(rejected) == [("q/8", "out_of_order", "update key 1003 after 1005")]
    assert clean["quote_id"].to_list() == ["q/7", "q/9"]  # htx's ids are far below okx's: each venue its own order
    okx_history = state.tail.filter(pl.col("exchange") == "okx")["seq"].to_list()
    assert okx_history == list(range(1000, 1007))  # the late row is not history


def test_without_update_ids_the_venue_clock_orders_and_the_book_tells_duplicates() -> None:
    rows = quotes(
        [
            ("okx", None, 0, 100, 101),
            ("okx", None, 10, 100, 101),
            ("okx", None, 10, 100, 101),  # same clock, same book: the same update again
            ("okx", None, 10, 100.5, 101),  # same clock, another book: a new update in the same µs
            ("okx", None, 5, 100, 101),  # behind the clock
            ("htx", 7, 20, 100, 101),
            ("htx", 7, 21, 101, 102),  # an update id decides alone: same id, whatever the book
        ]
    )
    for cuts in ([], [1, 2, 3, 4, 5, 6], [3]):
        _, clean, rejected = stream(rows, cuts)
        assert verdicts(rejected) == [
            ("q/2", "duplicate", f"update key {us(10)} after {us(10)}"),
            ("q/4", "out_of_order", f"update key {us(5)} after {us(10)}"),
            ("q/6", "duplicate", "update key 7 after 7"),
        ], cuts
        assert clean["quote_id"].to_list() == ["q/0", "q/1", "q/3", "q/5"]


def test_the_outlier_check_starts_with_the_third_previous_mid_even_across_batches() -> None:
    rows = quotes(
        [
            ("okx", 1, 0, 100, 101),
            ("okx", 2, 10, 100, 101),
            ("okx", 3, 20, 130, 131),  # two mids before it: no median yet
            ("okx", 4, 30, 100, 101),
            ("okx", 5, 40, 130, 131),  # median of 100.5, 100.5, 130.5, 100.5
        ]
    )
    for cuts in ([], [1, 2, 3, 4], [3]):
        state, clean, rejected = stream(rows, cuts)
        assert verdicts(rejected) == [("q/4", "price_outlier", "mid 130.5 is 2985.1 bps from rolling median 100.5")]
        assert clean["quote_id"].to_list() == ["q/0", "q/1", "q/2", "q/3"]
        assert state.tail["seq"].to_list() == [1, 2, 3, 4, 5]  # outliers stay in the reference history


def test_the_band_edge_is_exact() -> None:
    reference = [("okx", i, 10 * i, 100, 101) for i in range(4)]  # median mid 100.5
    inside, outside = (("okx", 4, 40, 105, 106), ("okx", 4, 40, 105.1, 106.1))  # 497.5 and 507.5 bps away
    assert stream(quotes([*reference, inside]), [])[2].height == 0
    assert verdicts(stream(quotes([*reference, outside]), [])[2]) == [
        ("q/4", "price_outlier", "mid 105.6 is 507.5 bps from rolling median 100.5")
    ]


def test_a_venue_first_seen_mid_stream_starts_its_own_history() -> None:
    cfg = CFG.model_copy(update={"outlier_window": 4})  # three previous mids
    first = quotes([("okx", 1000 + i, 10 * i, 100, 101) for i in range(5)])
    second = quotes(
        [("htx", 1, 50, 110, 111), ("okx", 1005, 55, 100, 101)]  # ids far below okx's, prices 10% above: fine
        + [("htx", i, 50 + 10 * i, 110, 111) for i in range(2, 5)]
        + [("htx", 5, 100, 100, 101)],  # 10% below htx's own median
        start=5,
    )
    state, _, _ = cleaning.clean_stream(None, first, cfg)
    assert state.tail["exchange"].to_list() == ["okx"] * 3
    state, clean, rejected = cleaning.clean_stream(state, second, cfg)
    assert verdicts(rejected) == [("q/10", "price_outlier", "mid 100.5 is 905.0 bps from rolling median 110.5")]
    assert clean.height == 5
    assert state.tail.select("exchange", "seq").rows() == [("okx", 1003), ("okx", 1004), ("okx", 1005)] + [
        ("htx", i) for i in (3, 4, 5)
    ]


def test_a_nan_mid_that_skipped_the_row_checks_still_leaves_with_one_reason() -> None:
    """Polars orders NaN above every number: a NaN mid is as far as can be from a median of numbers."""
    rows = quotes([("okx", i, 10 * i, 100, 101) for i in range(3)] + [("okx", 3, 30, float("nan"), 101)])
    rows = pl.concat([rows, quotes([("okx", 4, 40, 100, 101)], start=4)])
    _, clean, rejected = stream(rows, [])
    assert verdicts(rejected) == [("q/3", "price_outlier", "mid NaN is NaN bps from rolling median 100.5")]
    assert clean["quote_id"].to_list() == ["q/0", "q/1", "q/2", "q/4"]


def test_an_outlier_window_too_short_for_a_median_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="outlier_window = 3"):
        cleaning.clean_stream(None, quotes([("okx", 1, 0, 100, 101)]), CFG.model_copy(update={"outlier_window": 3}))


def _every_cut(height: int) -> list[list[int]]:
    """One batch, a cut after each single row, and all one-row batches."""
    return [[], *([i] for i in range(1, height)), list(range(1, height))]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [("okx", None, 10, 100, 101), ("okx", None, 5, 100.5, 101), ("okx", None, 10, 100, 101)],
            [
                ("q/1", "out_of_order", f"update key {us(5)} after {us(10)}"),
                ("q/2", "duplicate", f"update key {us(10)} after {us(10)}"),
            ],
            id="the same update again after a late one",
        ),
        pytest.param(
            [("okx", None, 10, 100, 101), ("okx", None, 5, 100.5, 101), ("okx", None, 10, 100.5, 101)],
            [("q/1", "out_of_order", f"update key {us(5)} after {us(10)}")],
            id="a new book in the same ms that repeats the late row's book",
        ),
        pytest.param(
            [
                ("okx", None, 10, 100, 101),
                ("htx", 1, 0, 100, 101),
                ("okx", None, 5, 100.5, 101),
                ("htx", 2, 10, 100, 101),
                ("okx", None, 7, 100.5, 101),
                ("okx", None, 10, 100, 101),
                ("okx", None, 11, 100, 101),
            ],
            [
                ("q/2", "out_of_order", f"update key {us(5)} after {us(10)}"),
                ("q/4", "out_of_order", f"update key {us(7)} after {us(10)}"),
                ("q/5", "duplicate", f"update key {us(10)} after {us(10)}"),
            ],
            id="two late rows between, another venue interleaved",
        ),
        pytest.param(
            [("okx", us(10), 10, 100, 101), ("okx", us(10), 10, 100.5, 101), ("okx", None, 10, 100.5, 101)],
            [("q/1", "duplicate", f"update key {us(10)} after {us(10)}")],
            id="an update id repeated with another book is no reference either",
        ),
    ],
)
def test_a_duplicate_is_judged_against_the_latest_in_order_row_whatever_the_cut(
    rows: list[tuple], expected: list[tuple[str, str, str]]
) -> None:
    """Out-of-order rows never become the reference: a venue without update ids repeats an update when its clock and
    book equal those of its latest in-order row, even with late rows in between, inside a batch or across one."""
    frame = quotes(rows)
    rejected_ids = {quote_id for quote_id, _, _ in expected}
    one_state, _, _ = stream(frame, [])
    for cuts in _every_cut(frame.height):
        state, clean, rejected = stream(frame, cuts)
        assert sorted(verdicts(rejected)) == expected, cuts
        assert clean["quote_id"].to_list() == [q for q in frame["quote_id"] if q not in rejected_ids], cuts
        assert_frame_equal(state.tail, one_state.tail)
    clean_rows = frame.filter(~pl.col("quote_id").is_in(sorted(rejected_ids)))
    assert_frame_equal(one_state.tail.drop("mid"), clean_rows.select(cleaning.TAIL_COLUMNS[:-1]))
