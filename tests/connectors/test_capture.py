"""Capture: live quotes land in Parquet quote files that replay through the same normalize step and flow."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from connectors.capture import CaptureWriter, read_capture
from connectors.live import LiveVenue
from connectors.normalize import normalize
from connectors.replay import ReplaySource
from connectors.schema import POLARS_QUOTE_SCHEMA, QUOTE_COLUMNS
from tests.connectors.conftest import binance_recording, jsonl, run_live
from tests.fakes.exchanges import FakeBinance, FakeHtx, FakeOkx


def _raw(n: int, start: datetime) -> pl.DataFrame:
    return pl.DataFrame({
        "exchange": ["okx"] * n, "symbol": ["BTC/USDT"] * n, "bid_px": ["100.5"] * n, "bid_qty": ["1"] * n,
        "ask_px": ["100.6"] * n, "ask_qty": ["2"] * n, "ts_exchange": [None] * n,
        "ts_recv": [start + timedelta(minutes=i) for i in range(n)], "seq": [str(i) for i in range(n)],
        "source": ["okx-ws"] * n,
    }).with_columns(pl.col("ts_exchange").cast(POLARS_QUOTE_SCHEMA["ts_exchange"]))  # fmt: skip


def test_capture_files_split_per_hour_and_row_limit_with_offsets_in_names(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, "okx", rows_per_file=4)
    start = datetime(2026, 1, 1, 23, 55, tzinfo=UTC)
    writer.write(_raw(10, start), first_offset=0)  # 23:55..23:59 (5 rows), then 00:00..00:04 (5 rows)
    writer.flush()
    names = [p.relative_to(tmp_path).as_posix() for p in writer.files]
    assert names == [
        "exchange=okx/date=2026-01-01/okx-20260101T23-000000000000.parquet",
        "exchange=okx/date=2026-01-01/okx-20260101T23-000000000004.parquet",
        "exchange=okx/date=2026-01-02/okx-20260102T00-000000000005.parquet",
        "exchange=okx/date=2026-01-02/okx-20260102T00-000000000009.parquet",
    ]
    back = read_capture(tmp_path)
    assert dict(back.schema) == POLARS_QUOTE_SCHEMA
    assert back["seq"].to_list() == list(range(10)) and back["bid_px"][0] == 100.5
    assert not list(tmp_path.rglob("*.tmp"))


def _replay(files: list[Path]) -> pl.DataFrame:
    out: list = []
    flow = Dataflow("replay_capture")
    op.output("out", op.input("in", flow, ReplaySource(files, batch_rows=50, speed=0.0)), TestingSink(out))
    run_main(flow)
    return pl.concat([b.frame for b in out])


def test_a_captured_live_session_replays_to_the_same_normalized_quotes(tmp_path: Path) -> None:
    snapshot, after, _ = binance_recording()
    binance = [("send", m) for m in after if m["stream"].endswith("@bookTicker")]
    okx = [("send", m) for m in jsonl("okx/btcusdt_tickers.jsonl")]
    htx = [("send", m) for m in jsonl("htx/bbo_derived.jsonl")]
    capture = tmp_path / "capture"
    with FakeBinance([binance], snapshot) as fb, FakeOkx([okx]) as fo, FakeHtx([htx]) as fh:
        venues = [
            LiveVenue("binance", ["BTC/USDT"], ws_url=fb.url),
            LiveVenue("okx", ["BTC/USDT"], ws_url=fo.url, options={"quote_channel": "tickers"}),
            LiveVenue("htx", ["OMG/BTC", "BOR/USDT"], ws_url=fh.url),
        ]
        live = run_live(venues, run_for_s=8.0, until=[fb, fo, fh], capture_dir=str(capture), capture_rows_per_file=100)
    assert live["quotes"].group_by("exchange").len().sort("exchange").rows() == [
        ("binance", len(binance)), ("htx", len(htx)), ("okx", len(okx)),
    ]  # fmt: skip
    files = sorted(capture.rglob("*.parquet"))
    sizes = {f.name: pl.read_parquet(f).height for f in files}
    assert max(sizes.values()) == 100 and len(files) >= 6  # binance 312 rows -> 100+100+100+12; okx, htx: 1 each
    live_quotes, live_rejected = normalize(live["quotes"])
    replayed_quotes, replay_rejected = normalize(_replay(files))
    assert live_rejected.height == replay_rejected.height == 0
    order = ["exchange", "ts_recv", "seq"]
    expected = live_quotes.select(QUOTE_COLUMNS).sort(order)
    assert replayed_quotes.select(QUOTE_COLUMNS).sort(order).equals(expected)
    # Order by construction: the one merge point stamps a strictly increasing ts_recv in arrival order (the order
    # the source emitted), and replay, merging the per-venue files by ts_recv, rebuilds exactly that sequence.
    arrival = live["quotes"]["ts_recv"]
    assert (arrival.diff().drop_nulls().dt.total_microseconds() > 0).all()
    exchanges = live["quotes"]["exchange"].to_list()
    assert sum(a != b for a, b in itertools.pairwise(exchanges)) > 10  # the venues really interleave
    assert replayed_quotes.select(QUOTE_COLUMNS).equals(live_quotes.select(QUOTE_COLUMNS))  # row for row, in order


def test_a_captured_session_runs_through_the_arbitrage_flow_with_nothing_lost(tmp_path: Path) -> None:
    from tests.core.conftest import run_flow, settings_for, table

    snapshot, after, _ = binance_recording()
    binance = [("send", m) for m in after if m["stream"].endswith("@bookTicker")]
    okx = [("send", m) for m in jsonl("okx/btcusdt_tickers.jsonl")]
    capture = tmp_path / "capture"
    with FakeBinance([binance], snapshot) as fb, FakeOkx([okx]) as fo:
        venues = [LiveVenue("binance", ["BTC/USDT"], ws_url=fb.url),
                  LiveVenue("okx", ["BTC/USDT"], ws_url=fo.url, options={"quote_channel": "tickers"})]  # fmt: skip
        live = run_live(venues, run_for_s=8.0, until=[fb, fo], capture_dir=str(capture))
    settings = settings_for(tmp_path / "lake", source={"kind": "replay", "paths": [str(capture / "**" / "*.parquet")]})
    run_flow(settings)
    clean, rejected = table(tmp_path / "lake", "quotes_clean"), table(tmp_path / "lake", "quotes_rejected")
    assert clean.height + rejected.height == live["quotes"].height == len(binance) + len(okx)
    assert clean.height > 0 and set(clean["exchange"]) == {"binance", "okx"}


def _three_fakes() -> tuple[list, list, list]:
    _, after, _ = binance_recording()
    return (
        [("send", m) for m in after if m["stream"].endswith("@bookTicker")],
        [("send", m) for m in jsonl("okx/btcusdt_tickers.jsonl")],
        [("send", m) for m in jsonl("htx/bbo_derived.jsonl")],
    )


def test_two_workers_share_the_venue_partitions_and_deliver_every_quote_once() -> None:
    snapshot, _, _ = binance_recording()
    binance, okx, htx = _three_fakes()
    with FakeBinance([binance], snapshot) as fb, FakeOkx([okx]) as fo, FakeHtx([htx]) as fh:
        venues = [
            LiveVenue("binance", ["BTC/USDT"], ws_url=fb.url),
            LiveVenue("okx", ["BTC/USDT"], ws_url=fo.url, options={"quote_channel": "tickers"}),
            LiveVenue("htx", ["OMG/BTC", "BOR/USDT"], ws_url=fh.url),
        ]
        out = run_live(venues, run_for_s=8.0, workers=2, until=[fb, fo, fh])
    quotes = out["quotes"]
    assert quotes["quote_id"].n_unique() == quotes.height == len(binance) + len(okx) + len(htx)
    assert sorted(out["feed_events"].filter(pl.col("kind") == "connect")["exchange"]) == ["binance", "htx", "okx"]


def test_a_resumed_live_source_continues_its_ids_instead_of_reusing_them(tmp_path: Path) -> None:
    from bytewax.recovery import RecoveryConfig, init_db_dir

    snapshot, _, _ = binance_recording()
    binance, _, _ = _three_fakes()
    (tmp_path / "recovery").mkdir()
    init_db_dir(tmp_path / "recovery", 1)
    recovery = RecoveryConfig(str(tmp_path / "recovery"))
    with FakeBinance([binance[:100], binance[100:]], snapshot) as fake:
        venue = LiveVenue("binance", ["BTC/USDT"], ws_url=fake.url)
        first = run_live([venue], run_for_s=1.0, recovery=recovery)
        second = run_live([venue], run_for_s=8.0, recovery=recovery, until=[fake])
    ids = first["quotes"]["quote_id"].to_list() + second["quotes"]["quote_id"].to_list()
    assert ids == [f"live-binance/{i}" for i in range(len(binance))]
    events = pl.concat([first["feed_events"], second["feed_events"]])
    assert events["event_id"].is_unique().all() and events["event_id"][-1] == f"live-binance/event/{events.height - 1}"
