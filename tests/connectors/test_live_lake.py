"""input_live -> the real lake sink: feed_events and books land as tables users query through DuckDB."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from connectors import lake
from connectors.live import LiveSource, LiveVenue
from connectors.live_wiring import input_live
from tests.connectors.conftest import FAST, SIZES, binance_recording
from tests.fakes.exchanges import FakeBinance


def test_feed_events_and_books_sink_into_the_lake_and_quotes_stay_raw_batches(tmp_path: Path) -> None:
    snapshot, after, _ = binance_recording()
    tickers = [m for m in after if m["stream"].endswith("@bookTicker")]
    first = [("send", m) for m in after[:150]] + [("sleep", 0.2), ("drop",)]
    second = [("send", m) for m in after[150:]]
    schemas = lake.table_schemas()
    lake.prepare(tmp_path, schemas)
    quotes: list = []
    with FakeBinance([first, second], snapshot) as fake:
        venue = LiveVenue("binance", ["BTC/USDT"], depth=True, ws_url=fake.url, rest_url=fake.http_url)
        flow = Dataflow("live_lake")
        live = input_live("live", flow, LiveSource([venue], FAST, run_for_s=2.0, **SIZES))
        op.output("quotes", live.quotes, TestingSink(quotes))
        op.output("lake", live.tables, lake.LakeSink(tmp_path, schemas))
        run_main(flow)
    assert sum(b.frame.height for b in quotes) == len(tickers)
    con = lake.connect(tmp_path)
    try:
        events = pl.from_arrow(con.sql("select * from feed_events").to_arrow_table())
        books = con.execute("select count(*), count(distinct book_id), max(seq) from books").fetchone()
    finally:
        con.close()
    kinds = events.sort(pl.col("event_id").str.split("/").list.last().cast(pl.Int64))["kind"].to_list()
    assert kinds[:5] == ["connect", "live", "disconnect", "connect", "live"]
    depth = [m["data"] for m in after if "@depth" in m["stream"]]
    assert books[0] == books[1] > 0 and books[2] == depth[-1]["u"]
