"""Depth-aware cross signals: when the legs' book snapshots are known, size and price the signal by walking them.

Replay of a book format (tardis ``book_snapshot_5/25``, hftbacktest depth) delivers, per quote, the book behind it
(``RawBatch.books``, keyed by ``quote_id``). A signal is decided on the top of book (flows/cross/spreads.py: the same gates
as every evaluation); this step then replaces its size and prices by the largest quantity whose VWAP net edge, fees
included, still clears the threshold within the slippage tolerance (flows/common/depth.py ``cross_size``), capped by
``max_position_usdt``. A signal whose legs have no book keeps its top-of-book size. Signals are few (one per
opportunity), so a loop over them costs nothing next to the evaluations.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from flows.common import depth
from flows.cross.spreads import SpreadParams

BOOK_FIELDS = ("quote_id", "bid_px", "bid_qty", "ask_px", "ask_qty")


def remember(books: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    """The books known so far plus a batch's (``BOOK_FIELDS``)."""
    new = new.select(BOOK_FIELDS)
    return new if books is None else pl.concat([books, new])


def still_needed(books: pl.DataFrame | None, quote_ids: Iterable[str]) -> pl.DataFrame | None:
    """Only the books of quotes that can still be a leg (each venue's latest quote, the quotes not evaluated yet)."""
    if books is None:
        return None
    return books.filter(pl.col("quote_id").is_in(list(quote_ids)))


def size_signals(
    signals: pl.DataFrame, books: pl.DataFrame | None, p: SpreadParams, slippage_tolerance_bps: float
) -> pl.DataFrame:
    """Signals (``signals`` table rows) with ``qty``, ``buy_px``/``sell_px`` (VWAPs), edges, notional and expected
    profit from the books of their two legs, where both are known."""
    if books is None or not signals.height:
        return signals
    by_id = {row["quote_id"]: row for row in books.iter_rows(named=True)}
    rows = []
    for sig in signals.iter_rows(named=True):
        buy, sell = by_id.get(sig["buy_quote_id"]), by_id.get(sig["sell_quote_id"])
        if buy is not None and sell is not None:
            sig |= _walked(sig, depth.book_sides(buy)[1], depth.book_sides(sell)[0], p, slippage_tolerance_bps)
        rows.append(sig)
    return pl.DataFrame(rows, schema=signals.schema)


def _walked(sig: dict, asks: tuple, bids: tuple, p: SpreadParams, slippage_tolerance_bps: float) -> dict[str, float]:
    fee_buy, fee_sell = p.fee_bps[sig["buy_exchange"]], p.fee_bps[sig["sell_exchange"]]
    size = depth.cross_size(
        asks,
        bids,
        fee_buy,
        fee_sell,
        p.min_net_edge_bps,
        slippage_tolerance_bps,
        max_notional_quote=p.max_position_usdt,
    )
    if size.qty_base <= 0:  # the walk found no size (it cannot beat the best level): keep the top of book
        return {}
    cost = size.qty_base * size.buy_vwap
    return {
        "qty": size.qty_base,
        "buy_px": size.buy_vwap,
        "sell_px": size.sell_vwap,
        "notional_quote": cost,
        "gross_edge_bps": (size.sell_vwap / size.buy_vwap - 1) * 1e4,
        "net_edge_bps": size.net_edge_bps,
        "expected_profit_quote": size.qty_base * size.sell_vwap * (1 - fee_sell / 1e4) - cost * (1 + fee_buy / 1e4),
    }
