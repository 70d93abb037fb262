"""Replay of every supported format: sniffing, the clear error for unknown files, replay rows = importer rows, books
aligned to their quotes, the streamed k-way merge in the old full-sort order, and exact resume."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import polars as pl
import pytest

from connectors import importers, replay
from connectors.batches import BOOKS_SCHEMA, RawBatch
from connectors.formats import hftbacktest_rows, sniff
from connectors.normalize import normalize
from connectors.replay import ReplaySource
from connectors.schema import QUOTE_COLUMNS
from tests.connectors.conftest import FIXTURES

TARDIS = FIXTURES / "tardis"
TARDIS_QUOTES = TARDIS / "binance_quotes_2024-08-08_real.csv"
TARDIS_BOOK5 = TARDIS / "binance_book_snapshot_5_2024-08-08_BTCUSDT_real.csv"
HFTBACKTEST = FIXTURES / "binance" / "btcusdt_20240808_head400.txt"


def drain(source: ReplaySource, resume: int | None = None) -> list[RawBatch]:
    part = source.build_part("test", source.name, resume)
    batches = []
    while True:
        try:
            batches.extend(part.next_batch())
        except StopIteration:
            return batches


def quotes_of(batches: list[RawBatch]) -> pl.DataFrame:
    return pl.concat([b.frame for b in batches])


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (FIXTURES / "malformed" / "quotes.csv", "capture"),
        (TARDIS_QUOTES, "tardis_quotes"),
        (TARDIS / "binance-okex-huobi_quotes_2024-08-08.csv", "tardis_quotes"),
        (TARDIS_BOOK5, "tardis_book_snapshot"),
        (TARDIS / "binance_book_snapshot_25_2024-08-08_BTCUSDT.csv", "tardis_book_snapshot"),
        (HFTBACKTEST, "hftbacktest"),
        (FIXTURES / "cryptofeed" / "OKX.ws.1.0", "cryptofeed"),
        (FIXTURES / "cryptofeed" / "HUOBI.ws.44.0", "cryptofeed"),
    ],
)
def test_sniffing_tells_each_format_from_its_columns_or_first_line(path: Path, name: str) -> None:
    assert sniff(path).name == name


def test_a_gzipped_tardis_file_and_a_parquet_capture_are_sniffed(tmp_path: Path) -> None:
    gz = tmp_path / "quotes.csv.gz"
    gz.write_bytes(gzip.compress(TARDIS_QUOTES.read_bytes()))
    assert sniff(gz).name == "tardis_quotes"
    parquet = tmp_path / "capture.parquet"
    importers.read_tardis_quotes(TARDIS_QUOTES).write_parquet(parquet)
    assert sniff(parquet).name == "capture"
    assert (
        quotes_of(drain(ReplaySource([gz], batch_rows=20_000, speed=0.0)))
        .drop("quote_id")
        .equals(importers.read_tardis_quotes(TARDIS_QUOTES))
    )


def test_a_garbage_csv_is_a_clear_error_naming_columns_and_formats(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.csv"
    bad.write_text("when,price,size\n1,2,3\n")
    with pytest.raises(ValueError, match=r"columns seen: \['when', 'price', 'size'\]") as err:
        ReplaySource([bad], batch_rows=20_000, speed=0.0)
    for known in ("capture", "tardis_quotes", "tardis_book_snapshot", "hftbacktest", "cryptofeed", "--format"):
        assert known in str(err.value)


def test_an_unknown_explicit_format_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="use one of auto, capture, tardis_quotes"):
        ReplaySource([TARDIS_QUOTES], file_format="tardis", batch_rows=20_000, speed=0.0)


def test_an_explicit_format_overrides_sniffing() -> None:
    """A book snapshot file named as tardis_quotes replays its best level only, without books."""
    batches = drain(ReplaySource([TARDIS_BOOK5], file_format="tardis_quotes", batch_rows=20_000, speed=0.0))
    assert all(b.books is None for b in batches)
    assert quotes_of(batches).drop("quote_id").equals(importers.read_tardis_quotes(TARDIS_BOOK5))


@pytest.mark.parametrize(
    ("path", "importer"),
    [
        (TARDIS_QUOTES, importers.read_tardis_quotes),
        (TARDIS / "binance-okex-huobi_quotes_2024-08-08.csv", importers.read_tardis_quotes),
        (TARDIS_BOOK5, importers.read_tardis_quotes),
        (HFTBACKTEST, lambda p: hftbacktest_rows(p).select(QUOTE_COLUMNS)),
        (FIXTURES / "cryptofeed" / "OKX.ws.1.0", importers.read_cryptofeed_quotes),
        (FIXTURES / "cryptofeed" / "BINANCE.ws.1.0", importers.read_cryptofeed_quotes),
    ],
)
def test_replay_gives_the_importer_rows_in_receive_order(path: Path, importer) -> None:
    want = importer(path).sort("ts_recv", maintain_order=True)
    got = quotes_of(drain(ReplaySource([path], batch_rows=7, speed=0.0)))
    assert got.height == want.height > 0
    assert got.drop("quote_id").equals(want)
    assert got["quote_id"].to_list() == [f"replay/{i}" for i in range(want.height)]


@pytest.mark.parametrize("path", [TARDIS_BOOK5, TARDIS / "binance_book_snapshot_25_2024-08-08_BTCUSDT.csv"])
def test_tardis_book_snapshots_carry_their_books_aligned_to_the_quotes(path: Path) -> None:
    batches = drain(ReplaySource([path], batch_rows=7, speed=0.0))
    want = importers.read_tardis_books(path)
    books = pl.concat([b.books for b in batches if b.books is not None])
    assert books.schema == pl.Schema(BOOKS_SCHEMA)
    assert books.drop("quote_id", "book_id").equals(want)
    for batch in batches:  # every book pairs with the quote of its own batch, whose top it is
        assert batch.books is not None and batch.books["quote_id"].to_list() == batch.frame["quote_id"].to_list()
        paired = batch.frame.join(batch.books, on="quote_id", suffix="_book")
        assert paired["bid_px"].to_list() == paired["bid_px_book"].list.first().to_list()
        assert paired["ask_qty"].to_list() == paired["ask_qty_book"].list.first().to_list()
    assert books["book_id"][-1] == f"replay/book/{books.height - 1}"


def test_hftbacktest_replay_has_book_ticker_quotes_and_depth_books() -> None:
    batches = drain(ReplaySource([HFTBACKTEST], batch_rows=50, speed=0.0))
    books = pl.concat([b.books for b in batches if b.books is not None])
    assert books.drop("quote_id", "book_id").equals(importers.read_hftbacktest_books(HFTBACKTEST))
    quotes = quotes_of(batches)
    assert quotes.height == importers.read_hftbacktest_quotes(HFTBACKTEST).height + books.height
    tops = quotes.join(books, on="quote_id", suffix="_book")
    assert tops.height == books.height
    assert (tops["bid_px"] == tops["bid_px_book"].list.first()).all()


def test_a_ragged_csv_line_is_quarantined_with_its_line_number_and_text(tmp_path: Path) -> None:
    lines = TARDIS_QUOTES.read_text().splitlines()
    lines[5] += ",extra"  # file line 6
    lines[9] = lines[9].rsplit(",", 1)[0]  # file line 10: one field short
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    quotes, rejected = normalize(quotes_of(drain(ReplaySource([path], batch_rows=20_000, speed=0.0))))
    assert rejected["reason"].to_list() == ["malformed_line", "malformed_line"]
    assert rejected["detail"].to_list() == ["line=6", "line=10"]
    assert rejected["raw"].to_list() == [lines[5], lines[9]]
    assert quotes.height == len(lines) - 1 - 2


def _market(rng: random.Random, n: int, exchange: str) -> pl.DataFrame:
    ts = sorted(1_700_000_000_000_000 + rng.randrange(0, 2_000) * 1_000 for _ in range(n))  # many ties
    return pl.DataFrame(
        {"exchange": exchange, "symbol": "BTC/USDT", "bid_px": [float(i) for i in range(n)], "ask_px": 1.0e9,
         "bid_qty": 1.0, "ask_qty": 1.0, "ts_recv": pl.Series(ts).cast(pl.Datetime("us", "UTC")), "source": "t"}
    )  # fmt: skip


def test_streamed_merge_is_the_full_sort_order_with_ties_and_an_unsorted_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(replay, "CHUNK_ROWS", 37)  # many chunks per file
    rng = random.Random(7)
    frames = [_market(rng, 500, "binance"), _market(rng, 300, "okx"), _market(rng, 400, "htx")]
    frames[2] = frames[2].sample(fraction=1.0, shuffle=True, seed=3)  # not in receive order
    files = []
    for i, frame in enumerate(frames):
        files.append(tmp_path / f"f{i}.parquet")
        frame.write_parquet(files[-1], row_group_size=50)
    want = pl.concat(
        [f.with_columns(pl.lit(i).alias("_f"), pl.int_range(pl.len()).alias("_r")) for i, f in enumerate(frames)]
    ).sort("ts_recv", "_f", "_r")
    got = quotes_of(drain(ReplaySource(files, batch_rows=64, speed=0.0)))
    assert got.select("exchange", "bid_px").equals(want.select("exchange", "bid_px"))


def test_consecutive_files_are_opened_one_or_two_at_a_time_in_the_full_sort_order(tmp_path, monkeypatch) -> None:
    """A recording split into consecutive files (per hour or day) holds rows of at most two files: memory does not
    grow with the number of files. Neighbours share their boundary instant, so ties across files are merged too."""
    monkeypatch.setattr(replay, "CHUNK_ROWS", 37)
    files, frames = [], []
    for i in range(6):
        ts = [1_700_000_000_000_000 + (i * 99 + k) * 1_000 for k in range(100)]  # last of i == first of i + 1
        frames.append(
            _market(random.Random(i), 100, "binance").with_columns(
                pl.Series("ts_recv", ts).cast(pl.Datetime("us", "UTC"))
            )
        )
        files.append(tmp_path / f"h{i}.parquet")
        frames[-1].write_parquet(files[-1], row_group_size=50)
    merge = replay.merged_stream(files, [replay.resolve(f, None) for f in files])
    got, held = [], []
    while (rows := merge.take(64)) is not None:
        got.append(rows)
        held.append(0 if merge.pending is None else merge.pending["_file"].n_unique())
    want = pl.concat(
        [f.with_columns(pl.lit(i).alias("_f"), pl.int_range(pl.len()).alias("_r")) for i, f in enumerate(frames)]
    ).sort("ts_recv", "_f", "_r")
    assert (
        pl.concat(got)
        .select("bid_px", "_file")
        .equals(want.select("bid_px", pl.col("_f").cast(pl.Int64).alias("_file")))
    )
    assert max(held) <= 2


def test_resume_at_an_offset_gives_exactly_the_rest(tmp_path: Path) -> None:
    files = [TARDIS_QUOTES, TARDIS_BOOK5, HFTBACKTEST]
    whole = drain(ReplaySource(files, batch_rows=25, speed=0.0))
    resumed = drain(ReplaySource(files, batch_rows=25, speed=0.0), resume=100)
    assert [b.batch_seq for b in resumed] == [b.batch_seq for b in whole if b.batch_seq >= 100]
    for a, b in zip(resumed, [b for b in whole if b.batch_seq >= 100], strict=True):
        assert a.frame.equals(b.frame)
        assert (a.books is None and b.books is None) or a.books.equals(b.books)


def test_the_documented_capture_example_replays_to_the_bundled_sample_rows() -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "quote-capture-example.csv"
    quotes, rejected = normalize(quotes_of(drain(ReplaySource([example], batch_rows=20_000, speed=0.0))))
    sample = FIXTURES.parent.parent / "samples" / "binance-spot-2024-08-08" / "binance_quotes.parquet"
    assert rejected.height == 0
    assert quotes.drop("quote_id").equals(pl.read_parquet(sample).head(quotes.height)) and quotes.height == 6
