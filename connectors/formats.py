"""Replay file formats: which format a file is in (sniffed, or named by ``--format`` / ``source.format``), and how to
read it as a sequence of row chunks in file order.

A chunk has the quote columns (CSV capture: strings, cast and quarantined by the normalize step; other formats:
typed by their importer), plus, for book formats, the book levels of each row's book as list columns
``book_bid_px, book_bid_qty, book_ask_px, book_ask_qty`` (the replay source moves them to ``RawBatch.books``), plus,
for CSV lines whose field count does not match the header, ``malformed_line`` (1-based line number in the file) and
``raw_line`` (the line's text). Every file row becomes exactly one chunk row, so offsets (and ``quote_id``) are
stable.

Known formats (sniffed in this order):

- ``capture``: our quote capture format, Parquet or CSV with ``exchange, symbol, ts_recv`` and price columns.
- ``tardis_quotes``: tardis.dev ``quotes`` CSV (``timestamp, local_timestamp, ask_price, bid_price, ...``).
- ``tardis_book_snapshot``: tardis.dev ``book_snapshot_5`` / ``book_snapshot_25`` CSV (``asks[0].price, ...``).
- ``hftbacktest``: raw lines ``<recv ns> <Binance combined-stream JSON>`` (gzip or plain).
- ``cryptofeed``: cryptofeed raw session captures (``URL <-> ts`` / ``recv_ts: payload`` lines).
"""

from __future__ import annotations

import csv
import gzip
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import polars as pl
import pyarrow.parquet as pq

from connectors import importers
from connectors.schema import PRICE_COLUMNS, QUOTE_COLUMNS

BOOK_LEVEL_COLUMNS = ("bid_px", "bid_qty", "ask_px", "ask_qty")
BOOK_PREFIX = "book_"
MALFORMED_COLUMNS = ("malformed_line", "raw_line")
CHUNK_ROWS = 100_000

Chunks = Callable[[Path, int], Iterator[pl.DataFrame]]


@dataclass(frozen=True)
class Format:
    """One replay format: its name, what the sniffer recognises it by, and its chunk reader.

    ``streams`` is False for formats whose decoder needs the whole file (stateful venue decoders); those files are
    read and sorted on their own, so memory is bounded by that file.
    """

    name: str
    signature: str
    chunks: Chunks
    streams: bool = True


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", newline="") if gzipped else open(path, newline="")


def _split_lines(header: list[str], first_line: int, lines: list[str]) -> pl.DataFrame:
    """CSV lines -> string columns of ``header``; a line with another field count is kept as a malformed row."""
    text = pl.Series("line", lines, dtype=pl.String).str.strip_chars_end("\r\n")
    numbers = pl.int_range(first_line, first_line + len(lines), eager=True).alias("n")
    keep = text != ""
    text, numbers = text.filter(keep), numbers.filter(keep)
    if text.str.contains('"', literal=True).any():  # quoted fields: let the csv module split them
        fields = pl.Series("line", [next(csv.reader([line])) for line in text], dtype=pl.List(pl.String))
    else:
        fields = text.str.split(",")
    ok = fields.list.len() == len(header)
    frame = pl.DataFrame({"f": fields, "ok": ok})
    cols = [
        pl.when(pl.col("ok")).then(pl.col("f").list.get(i, null_on_oob=True)).alias(h) for i, h in enumerate(header)
    ]
    out = frame.select(cols)
    if not ok.all():
        out = out.with_columns(
            pl.when(~ok).then(numbers).cast(pl.Int64).alias("malformed_line"),
            pl.when(~ok).then(text).alias("raw_line"),
        )
    return out


def csv_chunks(path: Path, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """A CSV file as string frames of ``chunk_rows`` lines (header columns; ragged lines kept, see module doc)."""
    with _open_text(path) as fh:
        header = next(csv.reader([fh.readline()]), [])
        line = 2
        while lines := list(itertools.islice(fh, chunk_rows)):
            yield _split_lines(header, line, lines)
            line += len(lines)


def _keep_malformed(out: pl.DataFrame, raw: pl.DataFrame) -> pl.DataFrame:
    present = [c for c in MALFORMED_COLUMNS if c in raw.columns]
    return out.hstack(raw.select(present)) if present else out


def _capture_chunks(path: Path, chunk_rows: int) -> Iterator[pl.DataFrame]:
    if path.suffix == ".parquet":
        parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering keeps every row group read: RSS grows
        columns = [c for c in parquet.schema_arrow.names if c in QUOTE_COLUMNS]
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
            yield pl.from_arrow(batch)  # type: ignore[misc]
        return
    for raw in csv_chunks(path, chunk_rows):
        yield raw.select([c for c in raw.columns if c in QUOTE_COLUMNS or c in MALFORMED_COLUMNS])


def _tardis_quote_chunks(path: Path, chunk_rows: int) -> Iterator[pl.DataFrame]:
    for raw in csv_chunks(path, chunk_rows):
        yield _keep_malformed(importers.tardis_quotes_frame(raw, str(path)), raw)


def _tardis_book_chunks(path: Path, chunk_rows: int) -> Iterator[pl.DataFrame]:
    for raw in csv_chunks(path, chunk_rows):
        quotes = importers.tardis_quotes_frame(raw, str(path))
        books = importers.tardis_books_frame(raw, str(path))
        levels = books.select([pl.col(c).alias(BOOK_PREFIX + c) for c in BOOK_LEVEL_COLUMNS])
        yield _keep_malformed(quotes.hstack(levels), raw)


def hftbacktest_rows(path: Path) -> pl.DataFrame:
    """An hftbacktest file's replay rows: every bookTicker quote, and every rebuilt depth book as its top-of-book
    quote carrying the book's levels; in receive order (stable, so same-instant rows keep their kind order)."""
    quotes = importers.read_hftbacktest_quotes(path)
    books = importers.read_hftbacktest_books(path)
    tops = books.select(
        "exchange", "symbol",
        pl.col("bid_px").list.first().alias("bid_px"), pl.col("bid_qty").list.first().alias("bid_qty"),
        pl.col("ask_px").list.first().alias("ask_px"), pl.col("ask_qty").list.first().alias("ask_qty"),
        "ts_exchange", "ts_recv", "seq", "source",
        *[pl.col(c).alias(BOOK_PREFIX + c) for c in BOOK_LEVEL_COLUMNS],
    )  # fmt: skip
    return pl.concat([quotes, tops], how="diagonal").sort("ts_recv", maintain_order=True)


def _whole(read: Callable[[Path], pl.DataFrame]) -> Chunks:
    def chunks(path: Path, chunk_rows: int) -> Iterator[pl.DataFrame]:
        frame = read(path)
        for start in range(0, frame.height, chunk_rows):
            yield frame.slice(start, chunk_rows)

    return chunks


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("capture", "columns exchange, symbol, ts_recv and bid_px/ask_px (Parquet or CSV)", _capture_chunks),
        Format("tardis_quotes", "CSV columns timestamp, local_timestamp, bid_price, ask_price", _tardis_quote_chunks),
        Format("tardis_book_snapshot", "CSV columns timestamp, local_timestamp, asks[0].price", _tardis_book_chunks),
        Format("hftbacktest", "first line '<recv ns> {json}'", _whole(hftbacktest_rows), streams=False),
        Format("cryptofeed", "first line 'URL <-> ts' or 'recv_ts: payload'", _whole(importers.read_cryptofeed_quotes),
               streams=False),
    )
}  # fmt: skip

_HFTBACKTEST = re.compile(r"^\d{16,20} \{")
_CRYPTOFEED = re.compile(r"^(\S+ <-> \d+(\.\d+)?|\S+ <- \d+(\.\d+)?: .*|\d+(\.\d+)?: .*)$")


def _by_columns(columns: list[str]) -> str | None:
    cols = set(columns)
    tardis = {"exchange", "symbol", "timestamp", "local_timestamp"}
    if tardis | {"bid_price", "ask_price"} <= cols:
        return "tardis_quotes"
    if tardis | {"asks[0].price", "bids[0].price"} <= cols:
        return "tardis_book_snapshot"
    if {"exchange", "symbol", "ts_recv"} <= cols and cols & set(PRICE_COLUMNS):
        return "capture"
    return None


def _unknown(path: Path, seen: str) -> ValueError:
    known = "; ".join(f"{f.name} ({f.signature})" for f in FORMATS.values())
    msg = f"{path}: matches no replay format ({seen}). Known formats: {known}. Name one with --format / source.format."
    return ValueError(msg)


def sniff(path: Path) -> Format:
    """The format of ``path`` from its Parquet columns, CSV header or first line; an unknown file is an error that
    names what was seen and the formats known."""
    if path.suffix == ".parquet":
        columns = pq.read_schema(path).names
        name = _by_columns(columns)
        if name is None:
            raise _unknown(path, f"columns seen: {columns}")
        return FORMATS[name]
    with _open_text(path) as fh:
        first = fh.readline().rstrip("\r\n")
    if _HFTBACKTEST.match(first):
        return FORMATS["hftbacktest"]
    if _CRYPTOFEED.match(first):
        return FORMATS["cryptofeed"]
    columns = next(csv.reader([first]), [])
    name = _by_columns(columns)
    if name is None:
        raise _unknown(path, f"columns seen: {columns[:12]}" if len(columns) > 1 else f"first line: {first[:80]!r}")
    return FORMATS[name]


def resolve(path: Path, name: str | None = None) -> Format:
    """The format named (``None`` / ``"auto"``: sniffed)."""
    if name is None or name == "auto":
        return sniff(path)
    if name not in FORMATS:
        msg = f"unknown replay format {name!r}: use one of auto, {', '.join(FORMATS)}"
        raise ValueError(msg)
    return FORMATS[name]
