"""The one cleaning stage (flows/common/clean_stage.py) and its fan-out (flows/common/fanout.py): every row leaves clean
or quarantined with its position in the source batch, the stream checks run once on all venues and give each row the
verdict its own venue's rows give it, and quarantined rows go back in place in an exchange's piece."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from arbflow.settings import Settings, load_settings
from connectors.batches import RawBatch
from connectors.simulator import simulate
from flows.common import cleaning
from flows.common.batches import FeedDowns, check_batch
from flows.common.clean_stage import CleanRunner
from flows.common.fanout import by_symbol, exchange_pieces
from quality.gate import QualityGate

T0 = datetime(2024, 8, 8, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(environ={})


@pytest.fixture(scope="module")
def gate() -> QualityGate:
    return QualityGate()


def raw(rows: list[tuple[str, str, int, str, float]]) -> RawBatch:
    """(exchange, symbol, seq, bid as sent, ask) -> a raw batch whose rows are 10 ms apart, ids ``t/<row>``."""
    n = len(rows)
    frame = pl.DataFrame(
        {
            "exchange": [r[0] for r in rows],
            "symbol": [r[1] for r in rows],
            "bid_px": [r[3] for r in rows],  # a string column, as a venue may send it
            "bid_qty": [1.0] * n,
            "ask_px": [r[4] for r in rows],
            "ask_qty": [1.0] * n,
            "ts_exchange": [T0 + timedelta(milliseconds=10 * i) for i in range(n)],
            "ts_recv": [T0 + timedelta(milliseconds=10 * i + 2) for i in range(n)],
            "seq": [r[2] for r in rows],
            "source": ["test"] * n,
            "quote_id": [f"t/{i}" for i in range(n)],
        }
    )
    return RawBatch(0, "t", frame)


BATCH = [
    ("binance", "BTC/USDT", 1, "100.0", 100.1),  # 0 clean
    ("okx", "BTC/USDT", 1, "100.0", 100.1),  # 1 clean
    ("binance", "BTC/USDT", 2, "abc", 100.1),  # 2 normalize: wrong_type:bid_px
    ("okx", "BTC/USDT", 2, "100.2", 100.1),  # 3 row checks: crossed_book
    ("binance", "BTC/USDT", 1, "100.0", 100.1),  # 4 stream checks: duplicate update id
    ("binance", "ETH/USDT", 1, "3000.0", 3000.5),  # 5 clean
    ("okx", "BTC/USDT", 3, "100.0", 100.1),  # 6 clean
    ("binance", "BTC/USDT", 3, "100.0", 100.2),  # 7 clean
]


def test_every_row_leaves_clean_or_quarantined_once_with_its_batch_row(settings: Settings, gate: QualityGate) -> None:
    _, [clean] = CleanRunner(settings.cleaning).step({}, check_batch(settings, gate, raw(BATCH)))
    assert clean.quotes["quote_id"].to_list() == ["t/0", "t/1", "t/5", "t/6", "t/7"]
    assert clean.quotes["batch_row"].to_list() == [0, 1, 5, 6, 7]
    assert sorted(clean.quarantined.select("quote_id", "batch_row").rows()) == [("t/2", 2), ("t/3", 3), ("t/4", 4)]
    assert {s: f["quote_id"].to_list() for s, f in clean.by_symbol.items()} == {
        "BTC/USDT": ["t/0", "t/1", "t/6", "t/7"],
        "ETH/USDT": ["t/5"],
    }
    tables = dict(clean.tables)  # the stage's own rows: the stream checks' rejections and the clean quotes, once
    assert [name for name, _ in clean.tables] == ["quotes_rejected", "quotes_clean"]
    assert tables["quotes_rejected"].select("quote_id", "stage", "reason").rows() == [("t/4", "clean", "duplicate")]
    assert "batch_row" not in tables["quotes_clean"].columns and tables["quotes_clean"].height == 5


def test_exchange_pieces_put_quarantined_rows_back_in_source_order(settings: Settings, gate: QualityGate) -> None:
    _, [clean] = CleanRunner(settings.cleaning).step({}, check_batch(settings, gate, raw(BATCH)))
    pieces = dict(exchange_pieces(clean, ["binance", "okx", "htx"]))
    assert set(pieces) == {"binance", "okx"}
    binance = pieces["binance"].rows()
    assert binance.select("quote_id", "quarantined").rows() == [
        ("t/0", False),
        ("t/2", True),
        ("t/4", True),
        ("t/5", False),
        ("t/7", False),
    ]
    assert binance.filter("quarantined")["bid_px"].null_count() == 2  # quarantined rows keep only their ids
    assert pieces["okx"].rows().select("quote_id", "quarantined").rows() == [
        ("t/1", False),
        ("t/3", True),
        ("t/6", False),
    ]


def test_one_stage_over_all_venues_gives_each_row_its_own_venues_verdict(settings: Settings, gate: QualityGate) -> None:
    """Triangular and market making see one exchange's rows: they must get the verdicts the stream checks give on
    that exchange's rows alone, as when each step ran them itself."""
    fees = {name: v.taker_fee_bps for name, v in settings.venues.items()}
    market = simulate(settings.simulator.model_copy(update={"duration_s": 60.0}), fees, 30.0)
    quotes = market.quotes.with_row_index("o").select(pl.exclude("o"), pl.format("sim/{}", "o").alias("quote_id"))
    stage, streams, alone = CleanRunner(settings.cleaning), {}, {}
    clean_ids, alone_ids = [], []
    for i, start in enumerate(range(0, quotes.height, 1500)):
        checked = check_batch(settings, gate, RawBatch(i, "sim", quotes.slice(start, 1500)))
        streams, [clean] = stage.step(streams, checked)
        clean_ids += clean.quotes["quote_id"].to_list()
        for key, rows in checked.passed.partition_by("exchange", "symbol", maintain_order=True, as_dict=True).items():
            alone[key], kept, _ = cleaning.clean_stream(alone.get(key), rows, settings.cleaning)
            alone_ids += kept["quote_id"].to_list()
    assert len(clean_ids) < quotes.height  # the simulator's anomalies were rejected somewhere
    assert sorted(clean_ids) == sorted(alone_ids)


def test_feed_downs_pass_the_stage_in_place_and_reach_every_cross_symbol(settings: Settings) -> None:
    downs = FeedDowns(pl.DataFrame({"exchange": ["okx"], "down_ts": [T0]}))
    state = {"BTC/USDT": cleaning.StreamState.empty({c: pl.Float64 for c in cleaning.TAIL_COLUMNS})}
    after, out = CleanRunner(settings.cleaning).step(state, downs)
    assert after is state and out == [downs]
    assert by_symbol(downs, ["BTC/USDT", "ETH/USDT"]) == [("BTC/USDT", downs), ("ETH/USDT", downs)]
