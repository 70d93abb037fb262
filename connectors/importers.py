"""Importers for recorded data users already have, into our quote capture format (and books where depth exists).

Every importer parses with the same venue modules as the live source (connectors/exchanges), so a recording and a
live session of the same payloads produce the same rows. Outputs are typed frames in ``POLARS_QUOTE_SCHEMA`` (books:
``BOOK_COLUMNS``); values that do not parse become null and are quarantined by the flow's normalize step.

- hftbacktest raw lines ``<recv ns> <JSON>`` (Binance combined streams + REST depth snapshots).
- cryptofeed raw session captures (``X.ws.N.0``: ``recv_ts: payload`` lines; HTX frames as gzip bytes literals).
- tardis.dev CSV: ``quotes``, ``book_snapshot_5``, ``book_snapshot_25`` (µs timestamps, documented columns).
"""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from arbflow.errors import BadFrame
from connectors.capture import to_quote_schema
from connectors.exchanges import VENUES, venue_class
from connectors.exchanges.base import Decoded, Venue, book_to_quote, raw_quote_frame
from connectors.exchanges.binance import Binance
from connectors.markets import id_to_symbol
from connectors.schema import PL_TS, columns, polars_schema

BOOK_COLUMNS = polars_schema("books", *(c for c in columns("books") if c != "book_id"))  # ids come at ingest
# cryptofeed file prefix / tardis exchange id -> ccxt id, as each venue module declares them
CRYPTOFEED_VENUES = {name: cls.exchange for cls in VENUES.values() for name in cls.cryptofeed_ids}
TARDIS_VENUES = {name: cls.exchange for cls in VENUES.values() for name in cls.tardis_ids}


def quotes_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Raw quote rows -> the typed quote schema."""
    return to_quote_schema(raw_quote_frame(rows))


def books_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Book rows (µs ints for clocks) -> typed book frame."""
    raw = {k: (pl.Int64() if v == PL_TS else v) for k, v in BOOK_COLUMNS.items()}
    frame = pl.DataFrame(rows, schema=raw, strict=False) if rows else pl.DataFrame(schema=raw)
    return frame.with_columns(pl.col("ts_exchange").cast(PL_TS), pl.col("ts_recv").cast(PL_TS))


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def _hftbacktest(path: str | Path, source: str) -> Iterator[tuple[Decoded, Binance]]:
    """Decode every line; REST snapshot lines go to the book of the symbol that asked for one."""
    venue = Binance([], depth=True, source=source)
    waiting: list[str] = []
    with _open_text(Path(path)) as fh:
        for line in fh:
            recv_ns, _, payload = line.partition(" ")
            ts_recv_us = int(recv_ns) // 1000
            if payload.startswith('{"lastUpdateId"'):
                if waiting:
                    yield venue.apply_snapshot(waiting.pop(0), json.loads(payload), ts_recv_us), venue
                continue
            try:
                decoded = venue.decode(payload, ts_recv_us)
            except BadFrame:
                continue  # not a market message (the file holds nothing else; kept lenient for hand-edited files)
            waiting.extend(decoded.snapshots)
            yield decoded, venue


def read_hftbacktest_quotes(path: str | Path, source: str = "binance-hftbacktest") -> pl.DataFrame:
    """hftbacktest-style raw lines ``<recv ns> <combined-stream JSON>`` (gzip or plain) -> quotes.

    Only ``@bookTicker`` messages are quotes; depth diffs, trades and REST snapshots are skipped here
    (``read_hftbacktest_books`` rebuilds the book from them).
    """
    rows: list[dict[str, Any]] = []
    path = Path(path)
    with _open_text(path) as fh:
        venue = Binance([], source=source)
        for line in fh:
            recv_ns, _, payload = line.partition(" ")
            if "@bookTicker" in payload[:64]:
                rows.extend(venue.decode(payload, int(recv_ns) // 1000).quotes)
    return quotes_frame(rows)


def read_hftbacktest_books(path: str | Path, source: str = "binance-hftbacktest") -> pl.DataFrame:
    """Depth diffs + the REST snapshot in an hftbacktest file -> one book row (5 levels) per applied diff.

    Diffs before the snapshot are held and replayed onto it, as Binance documents; a break in the ``U``/``u`` chain
    drops the book until the next snapshot line (the recording has none after its first, so the rest is skipped).
    """
    rows: list[dict[str, Any]] = []
    for decoded, _ in _hftbacktest(path, source):
        rows.extend(decoded.books)
    return books_frame(rows)


def _cryptofeed_frames(path: Path) -> Iterator[tuple[int, str | bytes]]:
    """``recv_ts: payload`` lines -> (receive µs, frame); connect lines and frames we sent are skipped."""
    with open(path) as fh:
        for line in fh:
            head, sep, payload = line.rstrip("\n").partition(": ")
            if not sep or " " in head:  # "URL <-> ts" / "URL <- ts: msg" lines
                continue
            try:
                ts_recv_us = round(float(head) * 1_000_000)
            except ValueError:
                continue
            frame: str | bytes = payload
            if payload.startswith(("b'", 'b"')):
                frame = ast.literal_eval(payload)  # HTX: the original gzip-compressed binary frame
            yield ts_recv_us, frame


def read_cryptofeed_quotes(path: str | Path, exchange: str | None = None, source: str = "cryptofeed",
                           depth_tops: bool = True) -> pl.DataFrame:  # fmt: skip
    """A cryptofeed raw session capture -> quotes.

    Args:
        path: e.g. ``OKX.ws.1.0``; the venue comes from the file name prefix unless ``exchange`` names it.
        exchange: ccxt id override.
        source: the ``source`` column value.
        depth_tops: also emit the best level of full-depth snapshot channels (HTX ``depth.step0``, OKX
            ``books5``) as quotes; useful when the capture has no quote channel (HUOBI.ws.44.0 has only depth).
    """
    path = Path(path)
    if exchange is None:
        prefix = path.name.split(".")[0].upper()
        if prefix not in CRYPTOFEED_VENUES:
            msg = (
                f"cannot tell the venue of {path.name}; pass exchange= one of {sorted(set(CRYPTOFEED_VENUES.values()))}"
            )
            raise ValueError(msg)
        exchange = CRYPTOFEED_VENUES[prefix]
    venue: Venue = venue_class(exchange)([], source=source)
    rows: list[dict[str, Any]] = []
    for ts_recv_us, frame in _cryptofeed_frames(path):
        try:
            decoded = venue.decode(frame, ts_recv_us)
        except BadFrame:
            continue  # trades, klines and acks of other shapes are not quotes
        rows.extend(decoded.quotes)
        if depth_tops:
            rows.extend(book_to_quote(b) for b in decoded.books)
    return quotes_frame(rows)


def _tardis_symbols(frame: pl.DataFrame) -> pl.Expr:
    """tardis exchange + venue symbol -> ccxt unified symbol (case-insensitive venue id lookup)."""
    mapping = {}
    for tardis_id, ccxt_id in TARDIS_VENUES.items():
        for venue_id, symbol in id_to_symbol(ccxt_id).items():
            mapping[f"{tardis_id}|{venue_id.upper()}"] = symbol
    key = pl.concat_str(pl.col("exchange").str.to_lowercase(), pl.lit("|"), pl.col("symbol").str.to_uppercase())
    return key.replace_strict(mapping, default=None, return_dtype=pl.String)


def tardis_quotes_frame(frame: pl.DataFrame, where: str, source: str = "tardis") -> pl.DataFrame:
    """tardis.dev CSV rows (``quotes`` or ``book_snapshot_N``, string columns) -> quotes of the best level.

    ``timestamp`` is the venue clock and ``local_timestamp`` tardis's receive clock, both µs since epoch.
    """
    if "ask_price" in frame.columns:  # quotes
        bid_px, bid_qty, ask_px, ask_qty = "bid_price", "bid_amount", "ask_price", "ask_amount"
    elif "asks[0].price" in frame.columns:  # book_snapshot_N
        bid_px, bid_qty, ask_px, ask_qty = "bids[0].price", "bids[0].amount", "asks[0].price", "asks[0].amount"
    else:
        msg = f"{where}: not a tardis quotes/book_snapshot CSV (columns {frame.columns[:6]}...)"
        raise ValueError(msg)
    raw = frame.select(
        pl.col("exchange").str.to_lowercase().replace_strict(TARDIS_VENUES, default=None).alias("exchange"),
        _tardis_symbols(frame).alias("symbol"),
        pl.col(bid_px).alias("bid_px"), pl.col(bid_qty).alias("bid_qty"),
        pl.col(ask_px).alias("ask_px"), pl.col(ask_qty).alias("ask_qty"),
        pl.col("timestamp").cast(pl.Int64, strict=False).cast(PL_TS).alias("ts_exchange"),
        pl.col("local_timestamp").cast(pl.Int64, strict=False).cast(PL_TS).alias("ts_recv"),
        pl.lit(None, dtype=pl.String).alias("seq"),
        pl.lit(source).alias("source"),
    )  # fmt: skip
    return to_quote_schema(raw)


def read_tardis_quotes(path: str | Path, source: str = "tardis") -> pl.DataFrame:
    """A tardis.dev CSV file (``quotes`` or ``book_snapshot_N``; gzip or plain) -> quotes of the best level."""
    return tardis_quotes_frame(pl.read_csv(path, infer_schema=False), str(path), source)


def tardis_books_frame(frame: pl.DataFrame, where: str, source: str = "tardis") -> pl.DataFrame:
    """tardis.dev ``book_snapshot_5`` / ``book_snapshot_25`` rows -> book rows (all levels the file has)."""
    levels = sum(1 for c in frame.columns if c.startswith("asks[") and c.endswith("].price"))
    if levels == 0:
        msg = f"{where}: not a tardis book_snapshot CSV"
        raise ValueError(msg)

    def side(name: str, field: str) -> pl.Expr:
        cols = [pl.col(f"{name}[{i}].{field}").cast(pl.Float64, strict=False) for i in range(levels)]
        return pl.concat_list(cols).list.drop_nulls()

    out = frame.select(
        pl.col("exchange").str.to_lowercase().replace_strict(TARDIS_VENUES, default=None).alias("exchange"),
        _tardis_symbols(frame).alias("symbol"),
        side("bids", "price").alias("bid_px"), side("bids", "amount").alias("bid_qty"),
        side("asks", "price").alias("ask_px"), side("asks", "amount").alias("ask_qty"),
        pl.col("timestamp").cast(pl.Int64, strict=False).cast(PL_TS).alias("ts_exchange"),
        pl.col("local_timestamp").cast(pl.Int64, strict=False).cast(PL_TS).alias("ts_recv"),
        pl.lit(None, dtype=pl.Int64).alias("seq"),
        pl.lit(source).alias("source"),
    )  # fmt: skip
    return out.select(list(BOOK_COLUMNS))


def read_tardis_books(path: str | Path, source: str = "tardis") -> pl.DataFrame:
    """A tardis.dev ``book_snapshot_5`` / ``book_snapshot_25`` CSV file -> book rows."""
    return tardis_books_frame(pl.read_csv(path, infer_schema=False), str(path), source)
