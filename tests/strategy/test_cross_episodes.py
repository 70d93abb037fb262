"""Cross-exchange episodes and rejections from the real spread evaluator (flows/cross/spreads.py), any batching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from arbflow.settings import load_settings
from connectors.batches import RawBatch
from connectors.lake import table_schemas, to_arrow
from connectors.simulator import simulate
from flows.common import cleaning
from flows.common.batches import check_batch
from flows.common.rejections import Gates
from flows.cross import spreads
from flows.cross.episodes import CrossState, cross_tables, flush
from quality.gate import QualityGate

T0 = datetime(2024, 8, 8, 23, 55, tzinfo=UTC)
PARAMS = spreads.SpreadParams(
    fee_bps={"binance": 10.0, "okx": 10.0},
    min_net_edge_bps=30.0,
    max_quote_age_ms=1000.0,
    max_skew_ms=500.0,
    max_position_usdt=50_000.0,
)
GATES = Gates(PARAMS.min_net_edge_bps, PARAMS.max_quote_age_ms, PARAMS.max_skew_ms)
ROWS = [
    ("binance", 60000.0, 60010.0, 0),
    ("okx", 60300.0, 60310.0, 100),  # 50 bps gross, ~30 - 20 = below 30 net: fees
    ("okx", 60400.0, 60410.0, 200),  # ~66.6 bps gross, ~46.6 net: the opportunity opens
    ("binance", 60005.0, 60015.0, 300),  # still there
    ("okx", 60100.0, 60110.0, 400),  # 15 bps gross: closes it; fees again
]


def quotes(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"exchange": ex, "symbol": "BTC/USDT", "bid_px": bid, "bid_qty": 1.0, "ask_px": ask, "ask_qty": 1.0,
             "ts_recv": T0 + timedelta(milliseconds=ms), "quote_id": f"x/{i}"}
            for i, (ex, bid, ask, ms) in enumerate(rows)
        ]
    ).with_columns(pl.col("ts_recv").alias("ts_event"))  # fmt: skip


def run(cuts: list[int]) -> tuple[CrossState, dict[str, pl.DataFrame]]:
    frame, book, state, out = quotes(ROWS), spreads.BookState(), None, []
    for lo, hi in zip([0, *cuts], [*cuts, len(ROWS)], strict=True):
        book, evaluation = spreads.evaluate(book, frame.slice(lo, hi - lo), PARAMS)
        rows = evaluation.rows() if hasattr(evaluation, "rows") else evaluation  # older evaluate returned the rows
        state, crossed = cross_tables(
            state, rows.drop("_pos", strict=False), GATES, timedelta(seconds=1), timedelta(milliseconds=250)
        )
        out += crossed.tables
    assert state is not None
    names = {n for n, _ in out}
    return state, {n: pl.concat([f for m, f in out if m == n], how="diagonal_relaxed") for n in names}


def test_hand_worked_episode_and_rejections() -> None:
    state, tables = run([])
    [episode] = tables["opportunities"].iter_rows(named=True)
    net = lambda bid, ask: (bid * 0.999 / (ask * 1.001) - 1) * 1e4
    assert episode["episode_id"] == "cross/BTC/USDT/binance/okx/x/2/binance/okx"
    assert (episode["first_seen"], episode["last_seen"], episode["ts_closed"]) == (
        T0 + timedelta(milliseconds=200), T0 + timedelta(milliseconds=300), T0 + timedelta(milliseconds=400)
    )  # fmt: skip
    assert episode["updates"] == 2 and episode["is_blip"]  # 100 ms < 250 ms
    assert episode["net_edge_bps_peak"] == pytest.approx(max(net(60400, 60010), net(60400, 60015)))
    assert episode["net_edge_bps_mean"] == pytest.approx((net(60400, 60010) + net(60400, 60015)) / 2)
    assert episode["size_max_quote"] == pytest.approx(50_000.0)  # 1 BTC offered, capped at max_position_usdt
    rejected = tables["rejections"]
    assert rejected.select("trigger_id", "reason").rows() == [("x/1/binance/okx", "fees"), ("x/4/binance/okx", "fees")]
    assert state.reasons == {"BTC/USDT/binance/okx": "fees"} and state.open == {}
    schemas = table_schemas()
    for name, frame in tables.items():
        assert to_arrow(frame, schemas[name], name).num_rows == frame.height


@pytest.mark.parametrize("cuts", [[1], [2], [3], [4], [1, 2, 3, 4]])
def test_any_batching_gives_the_same_rows(cuts: list[int]) -> None:
    _, whole = run([])
    _, split = run(cuts)
    for name, frame in whole.items():
        assert split[name].equals(frame), name


def test_end_of_input_flushes_an_open_episode() -> None:
    frame = quotes(ROWS[:4])
    _, evaluation = spreads.evaluate(spreads.BookState(), frame, PARAMS)
    rows = evaluation.rows() if hasattr(evaluation, "rows") else evaluation
    state, crossed = cross_tables(None, rows.drop("_pos", strict=False), GATES, timedelta(seconds=1), timedelta(0))
    assert [n for n, _ in crossed.tables] == ["rejections"]
    [(name, last)] = flush(state, timedelta(0))
    assert name == "opportunities" and last["ts_closed"].to_list() == [None] and last["updates"].to_list() == [2]


def test_simulated_cross_opportunities_open_and_close_on_the_injected_updates() -> None:
    """Simulator ground truth, through the core flow's own steps (check_batch, QingXi stream checks, spreads)."""
    settings = load_settings(environ={})
    fees = {name: v.taker_fee_bps for name, v in settings.venues.items()}
    market = simulate(settings.simulator.model_copy(update={"duration_s": 150.0}), fees, PARAMS.min_net_edge_bps)
    raw = market.quotes.with_row_index("o").select(pl.exclude("o"), pl.format("sim/{}", "o").alias("quote_id"))
    params = spreads.SpreadParams(fees, settings.cross.min_net_edge_bps, settings.cross.max_quote_age_ms,
                                  settings.cross.max_skew_ms, settings.cross.max_position_usdt)  # fmt: skip
    gates = Gates(params.min_net_edge_bps, params.max_quote_age_ms, params.max_skew_ms)
    gate, books, streams, states, ended = QualityGate(), {}, {}, {}, []
    for i, start in enumerate(range(0, raw.height, 2000)):
        checked = check_batch(settings, gate, RawBatch(i, "sim", raw.slice(start, 2000)))
        for (symbol,), part in checked.passed.group_by("symbol", maintain_order=True):
            streams[symbol], clean, _ = cleaning.clean_stream(
                streams.get(symbol), part.drop("batch_seq"), settings.cleaning
            )
            books[symbol], evaluation = spreads.evaluate(books.get(symbol, spreads.BookState()), clean, params)
            rows = evaluation.rows() if hasattr(evaluation, "rows") else evaluation
            states[symbol], crossed = cross_tables(states.get(symbol), rows.drop("_pos", strict=False), gates,
                                                   timedelta(seconds=1), timedelta(milliseconds=250))  # fmt: skip
            ended += [f for name, f in crossed.tables if name == "opportunities"]
    episodes = pl.concat(ended)
    truth = market.truth.filter((pl.col("kind") == "cross") & pl.col("above_threshold")).with_columns(
        pl.format("{}/{}/{}", "symbol", "buy_exchange", "sell_exchange").alias("route")
    )
    assert truth.height == 6
    matched = episodes.join(truth, on="route").filter(pl.col("first_seen").is_between("ts_start", "ts_end"))
    assert sorted(matched["opp_id"]) == sorted(truth["opp_id"])  # one episode per injected opportunity
    assert (matched["first_seen"] == matched["ts_start"]).all()
    # issue 11: a stale evaluation is neutral, so the first *fresh* evaluation showing the edge gone closes it
    assert (matched["ts_closed"] >= matched["ts_end"]).all() and (matched["last_seen"] < matched["ts_end"]).all()
    assert (matched["ts_closed"] == matched["ts_end"]).sum() >= 4
    assert (~matched["is_blip"]).all()
