"""The clean batches cut for the keyed strategy steps: per symbol (cross-exchange), per exchange (triangular, market
making). Venue scans take whole clean batches and need no cut."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from connectors.schema import POLARS_QUOTE_SCHEMA, QUOTE_COLUMNS
from flows.common.batches import ORDER, FeedDowns, SymbolBooks
from flows.common.clean_stage import Clean

ROW_COLUMNS = (*QUOTE_COLUMNS, "quote_id")
SymbolItem = pl.DataFrame | FeedDowns | SymbolBooks


def by_symbol(item: Clean | FeedDowns, cross_symbols: Sequence[str]) -> list[tuple[str, SymbolItem]]:
    """Keyed items for the per-symbol step: each symbol's clean rows, just after the books behind them; a live feed
    down for every cross symbol (all of them pair with the venue that went down)."""
    if isinstance(item, FeedDowns):
        return [(symbol, item) for symbol in cross_symbols] if item.events.height else []
    books = {} if item.books is None else item.books.partition_by("symbol", as_dict=True)
    out: list[tuple[str, SymbolItem]] = []
    for symbol, rows in item.by_symbol.items():
        if (symbol,) in books:
            out.append((symbol, SymbolBooks(books[(symbol,)])))
        if rows.height:
            out.append((symbol, rows))
    return out


@dataclass(frozen=True)
class Piece:
    """One exchange's share of a clean batch."""

    exchange: str
    clean: pl.DataFrame  # ROW_COLUMNS + batch_row, source order
    quarantined: pl.DataFrame  # quote_id, exchange, symbol, batch_row: its rows rejected at any stage

    def rows(self) -> pl.DataFrame:
        """Every row back in source order with ``quarantined``: quarantined rows keep only their ids (no prices)."""
        clean = self.clean.select(*ROW_COLUMNS, ORDER, pl.lit(False).alias("quarantined"))
        if not self.quarantined.height:
            return clean.drop(ORDER)
        bad = self.quarantined.select(
            *[pl.col(c) if c in ("exchange", "symbol") else pl.lit(None, POLARS_QUOTE_SCHEMA[c]).alias(c)
              for c in QUOTE_COLUMNS],
            "quote_id", ORDER, pl.lit(True).alias("quarantined"),
        )  # fmt: skip
        return pl.concat([clean, bad], how="vertical_relaxed").sort(ORDER).drop(ORDER)


def exchange_pieces(batch: Clean, exchanges: Sequence[str]) -> list[tuple[str, Piece]]:
    """Split a clean batch by exchange (keyed items for the stateful steps); exchanges with no row are skipped."""
    bad = batch.quarantined.filter(pl.col("exchange").is_not_null() & pl.col("symbol").is_not_null())
    out = []
    for ex in exchanges:
        clean = batch.quotes.filter(pl.col("exchange") == ex).select(*ROW_COLUMNS, ORDER)
        quarantined = bad.filter(pl.col("exchange") == ex)
        if clean.height or quarantined.height:
            out.append((ex, Piece(ex, clean, quarantined)))
    return out
