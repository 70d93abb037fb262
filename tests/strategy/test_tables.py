"""Every strategy output casts to its table in sql/schema (the lake sink's own check), with the expected ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from arbflow.settings import load_settings
from connectors.lake import table_schemas, to_arrow
from connectors.markets.spot import Market
from flows.common.edges import EVENT_SCHEMA
from flows.common.episodes import episode_row, flush, runs
from flows.common.rejections import Gates, rejections_from_spreads
from flows.cross.moments import Moments, moment_partials, zscore_row
from flows.market_making.quotes import paper_quotes
from flows.triangular.cycles import build_graph, cycle_rows, find_negative_cycles
from flows.triangular.evaluate import evaluate_batch
from flows.triangular.markets import build_cycle_book
from tests.strategy.test_triangular import PARAMS, quotes

T0 = datetime(2024, 8, 8, 23, 55, tzinfo=UTC)


@pytest.fixture(scope="module")
def schemas() -> dict:
    return table_schemas()


def test_triangular_outputs_fit_signals_signal_legs_rejections_and_opportunities(
    schemas: dict, binance_markets: dict[str, Market]
) -> None:
    book = build_cycle_book(binance_markets, ("BTC/USDT-ETH/BTC-ETH/USDT",), discover=False, start_assets=("USDT",))
    out = evaluate_batch(
        quotes(
            [
                ("BTC/USDT", 59990.0, 1.0, 60000.0, 0.5, 0),
                ("ETH/BTC", 0.0499, 10.0, 0.05, 4.0, 10),
                ("ETH/USDT", 3030.0, 3.0, 3031.0, 3.0, 20),
                ("ETH/USDT", 3006.0, 3.0, 3007.0, 3.0, 30),
            ]
        ),
        None,
        book,
        PARAMS,
    )
    assert to_arrow(out.signals, schemas["signals"], "signals").num_rows == 1
    assert to_arrow(out.signal_legs, schemas["signal_legs"], "signal_legs").num_rows == 3
    assert to_arrow(out.rejections, schemas["rejections"], "rejections").num_rows == 1
    [episode] = runs(out.edge_events, timedelta(seconds=1))
    row = pl.DataFrame([episode_row(episode, timedelta(milliseconds=250))])
    table = to_arrow(row, schemas["opportunities"], "opportunities")
    assert table.column("episode_id").to_pylist() == ["triangular/binance:USDT>BTC>ETH>USDT/t/2/USDT>BTC>ETH>USDT"]
    assert table.column("ts_closed").to_pylist()[0] == T0 + timedelta(milliseconds=30)
    unclosed = replace(episode, closed=False, ts_closed=None)
    still_open = flush({episode.route: unclosed}, timedelta(milliseconds=250))  # end of input: ts_closed all null
    assert to_arrow(still_open, schemas["opportunities"], "opportunities").column("ts_closed").to_pylist() == [None]


def test_cross_rejections_and_zscores_fit(schemas: dict) -> None:
    spreads = pl.DataFrame(
        {
            "spread_id": ["q/1/binance/okx", "q/2/binance/okx"],
            "symbol": ["BTC/USDT"] * 2,
            "buy_exchange": ["binance"] * 2,
            "sell_exchange": ["okx"] * 2,
            "ts_eval": [T0, T0 + timedelta(seconds=1)],
            "buy_px": [60000.0] * 2,
            "qty": [0.5] * 2,
            "gross_edge_bps": [25.0, 35.0],
            "net_edge_bps": [5.0, 15.0],
            "age_ms": [1.0, 2.0],
            "skew_ms": [0.0, 0.0],
            "fresh": [True, True],
        }
    )
    rejected, _ = rejections_from_spreads(spreads, Gates(30.0, 1000.0, 500.0))
    assert to_arrow(rejected, schemas["rejections"], "rejections").num_rows == 1  # "fees" twice: one row
    [(key, m)] = moment_partials(spreads, timedelta(seconds=10))
    assert key == "BTC/USDT/binance/okx" and m == Moments(2, 20.0, 250.0, T0, T0 + timedelta(seconds=1), 15.0)
    row = zscore_row(key, T0, timedelta(seconds=60), m, late=False)
    assert row["zscore_last"] == pytest.approx((15.0 - 10.0) / (50.0**0.5))
    assert to_arrow(pl.DataFrame([row]), schemas["spread_zscores"], "spread_zscores").num_rows == 1
    flat = zscore_row(key, T0, timedelta(seconds=60), Moments(1, 5.0, 25.0, T0, T0, 5.0), late=True)
    assert flat["zscore_last"] is None and flat["zscore_id"].endswith("/late/" + T0.isoformat())


def test_cycles_and_market_making_fit(schemas: dict) -> None:
    markets = {ex: {"BTC/USDT": Market("BTC/USDT", "BTC", "USDT", 10.0)} for ex in ("binance", "okx")}
    latest = pl.DataFrame(
        [("binance", "BTC/USDT", 59990.0, 2.0, 60000.0, 1.0), ("okx", "BTC/USDT", 60600.0, 0.5, 60610.0, 2.0)],
        schema=["exchange", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty"],
        orient="row",
    )
    found = find_negative_cycles(build_graph(latest, markets, {"BTC": 5.0, "USDT": 5.0}))
    rows = cycle_rows([("scan/okx/41", T0, f) for f in found])
    assert to_arrow(rows, schemas["cycles_found"], "cycles_found").num_rows == 1
    mm = quotes([("BTC/USDT", 59990.0, 1.0, 60010.0, 1.0, 0)])
    _, signals = paper_quotes(mm, {}, load_settings(environ={}).market_making)
    assert to_arrow(signals, schemas["signals"], "signals").num_rows == 5


def test_edge_events_schema_is_exact() -> None:
    assert list(EVENT_SCHEMA) == [
        "strategy",
        "route",
        "event_id",
        "ts_event",
        "net_edge_bps",
        "size_quote",
        "qualifying",
    ]
