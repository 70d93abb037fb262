"""`arbflow replay` on each book/quote format: the lake holds exactly the importer's rows (and books), and a file in
no known format is a clear error before any flow starts."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from connectors import importers
from connectors.formats import hftbacktest_rows
from connectors.schema import QUOTE_COLUMNS
from tests.cli.conftest import count, invoke
from tests.connectors.conftest import FIXTURES
from tests.core.conftest import table

TARDIS = FIXTURES / "tardis"


def _offset() -> pl.Expr:
    return pl.col("quote_id").str.strip_prefix("replay/").cast(pl.Int64)


@pytest.mark.parametrize(
    ("path", "books"),
    [
        (TARDIS / "binance_quotes_2024-08-08_real.csv", 0),
        (TARDIS / "binance_book_snapshot_5_2024-08-08_BTCUSDT_real.csv", 60),
    ],
)
def test_replay_of_a_tardis_file_gives_the_importer_rows(tmp_path: Path, path: Path, books: int) -> None:
    result = invoke("replay", str(path), "-d", tmp_path)
    assert result.exit_code == 0, result.output
    want = importers.read_tardis_quotes(path).with_row_index("offset").with_columns(pl.col("offset").cast(pl.Int64))
    clean = table(tmp_path, "quotes_clean").with_columns(_offset().alias("offset")).sort("offset")
    rejected = table(tmp_path, "quotes_rejected")
    assert clean.height + rejected.height == want.height
    assert clean.select(QUOTE_COLUMNS).equals(want.join(clean.select("offset"), on="offset").select(QUOTE_COLUMNS))
    assert count(tmp_path, "select count(*) from books") == books
    if books:
        lake_books = table(tmp_path, "books").sort(pl.col("book_id").str.extract(r"(\d+)$").cast(pl.Int64))
        want_books = importers.read_tardis_books(path)
        assert lake_books.select(want_books.columns).equals(want_books)


def test_replay_of_a_file_in_no_known_format_names_the_columns_and_formats(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("when,price\n1,2\n")
    result = invoke("replay", str(garbage), "-d", tmp_path / "lake")
    assert result.exit_code == 2
    assert "columns seen: ['when', 'price']" in result.output and "tardis_book_snapshot" in result.output
    assert not (tmp_path / "lake" / "arbflow.duckdb").exists()


def test_an_explicit_format_on_the_command_line_overrides_sniffing(tmp_path: Path) -> None:
    path = TARDIS / "binance_book_snapshot_5_2024-08-08_BTCUSDT_real.csv"
    result = invoke("replay", str(path), "--format", "tardis_quotes", "-d", tmp_path)
    assert result.exit_code == 0, result.output
    assert count(tmp_path, "select count(*) from books") == 0
    assert (
        count(tmp_path, "select count(*) from quotes_clean") + count(tmp_path, "select count(*) from quotes_rejected")
        == importers.read_tardis_quotes(path).height
    )


@pytest.mark.parametrize(
    ("path", "importer"),
    [
        (FIXTURES / "binance" / "btcusdt_20240808_head400.txt", lambda p: hftbacktest_rows(p).select(QUOTE_COLUMNS)),
        (FIXTURES / "cryptofeed" / "OKX.ws.1.0", importers.read_cryptofeed_quotes),
        (FIXTURES / "cryptofeed" / "BINANCE.ws.1.0", importers.read_cryptofeed_quotes),
    ],
)
def test_replay_of_raw_captures_gives_the_importer_rows(tmp_path: Path, path: Path, importer) -> None:
    """hftbacktest raw lines and cryptofeed captures through the CLI: every importer row ends clean or rejected, and
    the clean ones are exactly the importer's rows at their offsets."""
    result = invoke("replay", str(path), "-d", tmp_path)
    assert result.exit_code == 0, result.output
    want = importer(path).sort("ts_recv", maintain_order=True).with_row_index("offset")
    want = want.with_columns(pl.col("offset").cast(pl.Int64))
    clean = table(tmp_path, "quotes_clean").with_columns(_offset().alias("offset")).sort("offset")
    assert clean.height + count(tmp_path, "select count(*) from quotes_rejected") == want.height > 0
    assert clean.select(QUOTE_COLUMNS).equals(want.join(clean.select("offset"), on="offset").select(QUOTE_COLUMNS))
