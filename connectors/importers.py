"""Importers for recorded data users already have, into our quote capture format."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl

from connectors.exchanges import binance
from connectors.schema import POLARS_QUOTE_SCHEMA


def read_hftbacktest_quotes(path: str | Path, source: str = "binance-hftbacktest") -> pl.DataFrame:
    """hftbacktest-style raw lines ``<recv ns> <combined-stream JSON>`` (gzip or plain) -> quotes.

    Only ``@bookTicker`` messages are quotes; depth diffs, trades and REST snapshots are skipped here.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt") as fh:
        for line in fh:
            recv_ns, _, payload = line.partition(" ")
            if "@bookTicker" not in payload[:64]:
                continue
            msg = json.loads(payload)
            rows.append(binance.book_ticker_row(msg["data"], int(recv_ns) // 1000, source))
    frame = pl.DataFrame(rows, schema={k: (pl.Int64 if k == "ts_recv" else pl.String) for k in POLARS_QUOTE_SCHEMA})
    return frame.with_columns(
        [pl.col(c).cast(pl.Float64) for c in ("bid_px", "bid_qty", "ask_px", "ask_qty")]
        + [
            pl.col("ts_recv").cast(POLARS_QUOTE_SCHEMA["ts_recv"]),
            pl.col("ts_exchange").cast(POLARS_QUOTE_SCHEMA["ts_exchange"]),
            pl.col("seq").cast(pl.Int64),
        ]
    ).select(list(POLARS_QUOTE_SCHEMA))
