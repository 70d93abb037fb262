"""Triangular cycle books from market metadata: the cycles of one exchange, as frames the evaluator joins against.

A *cycle* starts with an amount of a start asset (USDT), converts it through three markets of one venue and ends in
the start asset again; each leg either buys a market's base at the ask (paying quote) or sells base at the bid.
Cycles come from configured paths (both directions) and, optionally, every triangle of the venue's markets
(``connectors/markets`` parses the venue's metadata into ``Market`` facts; nothing here reads a ccxt dict).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from connectors.markets.spot import Market

LEGS = 3


@dataclass(frozen=True)
class Cycle:
    """One direction of a triangle: ``route`` names the assets in order (``USDT>BTC>ETH>USDT``)."""

    route: str
    start_asset: str
    legs: tuple[tuple[str, str], ...]  # (symbol, "buy" | "sell")


def _pair_index(markets: Mapping[str, Market]) -> dict[tuple[str, str], Market]:
    return {(m.base, m.quote): m for m in markets.values()}


def cycle_from_assets(
    assets: Sequence[str], markets: Mapping[str, Market], pairs: Mapping[tuple[str, str], Market] | None = None
) -> Cycle:
    """Assets in order, start repeated at the end (``["USDT", "BTC", "ETH", "USDT"]``) -> the cycle's legs.

    A hop from ``a`` to ``b`` buys on market ``b/a`` or sells on market ``a/b``; a hop without a market raises.
    ``pairs``: the markets by (base, quote), when the caller builds many cycles from the same markets.
    """
    pairs = _pair_index(markets) if pairs is None else pairs
    legs = []
    for held, wanted in itertools.pairwise(assets):
        if (wanted, held) in pairs:
            legs.append((pairs[(wanted, held)].symbol, "buy"))
        elif (held, wanted) in pairs:
            legs.append((pairs[(held, wanted)].symbol, "sell"))
        else:
            msg = f"no market converts {held} to {wanted} (cycle {'>'.join(assets)})"
            raise ValueError(msg)
    return Cycle(route=">".join(assets), start_asset=assets[0], legs=tuple(legs))


def cycles_from_path(path: str, markets: Mapping[str, Market]) -> tuple[Cycle, Cycle]:
    """A configured path ``BTC/USDT-ETH/BTC-ETH/USDT`` -> both directions; the start asset is the one shared by the
    first and last market. A path naming an unknown market or not closing is a configuration error."""
    symbols = path.split("-")
    unknown = [s for s in symbols if s not in markets]
    if unknown or len(symbols) < 3:
        msg = f"triangular path {path!r}: unknown markets {unknown}" if unknown else f"path {path!r} needs 3+ legs"
        raise ValueError(msg)
    first, last = markets[symbols[0]], markets[symbols[-1]]
    shared = sorted({first.base, first.quote} & {last.base, last.quote})
    if len(shared) != 1:
        msg = f"triangular path {path!r}: first and last markets must share exactly one asset, got {shared}"
        raise ValueError(msg)
    assets = [shared[0]]
    for symbol in symbols:
        m = markets[symbol]
        if assets[-1] not in (m.base, m.quote):
            msg = f"triangular path {path!r}: {symbol} does not trade {assets[-1]}"
            raise ValueError(msg)
        assets.append(m.quote if assets[-1] == m.base else m.base)
    if assets[-1] != assets[0]:
        msg = f"triangular path {path!r} ends in {assets[-1]}, not in {assets[0]}"
        raise ValueError(msg)
    return cycle_from_assets(assets, markets), cycle_from_assets(assets[::-1], markets)


def discover_cycles(markets: Mapping[str, Market], start_assets: Sequence[str]) -> list[Cycle]:
    """Every triangle of assets linked pairwise by markets, in both directions, starting at the first asset of
    ``start_assets`` it contains (triangles without one are skipped: nothing to value them in)."""
    neighbours: dict[str, set[str]] = {}
    for m in markets.values():
        neighbours.setdefault(m.base, set()).add(m.quote)
        neighbours.setdefault(m.quote, set()).add(m.base)
    rank = {a: i for i, a in enumerate(start_assets)}
    pairs = _pair_index(markets)  # once: an exchange has thousands of markets and tens of thousands of cycles
    cycles = []
    for a in sorted(neighbours):
        for b in sorted(x for x in neighbours[a] if x > a):
            for c in sorted(x for x in neighbours[a] & neighbours[b] if x > b):
                trio = [x for x in (a, b, c) if x in rank]
                if not trio:
                    continue
                start = min(trio, key=rank.__getitem__)
                x, y = sorted({a, b, c} - {start})
                cycles.append(cycle_from_assets([start, x, y, start], markets, pairs))
                cycles.append(cycle_from_assets([start, y, x, start], markets, pairs))
    return cycles


@dataclass(frozen=True)
class CycleBook:
    """The cycles of one exchange as frames the batch evaluator joins against.

    Attributes:
        cycles: one row per cycle: ``cycle_idx, route, start_asset, value_symbol`` (the ``<start>/<valuation>``
            market pricing the start asset, null when the start asset is the valuation asset) and per leg ``k``:
            ``leg{k}_symbol, leg{k}_buy, leg{k}_fee_bps, leg{k}_step, leg{k}_min_qty, leg{k}_min_notional``.
        touch: ``symbol, cycle_idx``: which cycles an update of a symbol triggers.
    """

    cycles: pl.DataFrame
    touch: pl.DataFrame


def build_cycle_book(
    markets: Mapping[str, Market],
    paths: Sequence[str],
    discover: bool,
    start_assets: Sequence[str],
    valuation_asset: str = "USDT",
) -> CycleBook:
    """Configured paths (both directions) plus, with ``discover``, every triangle; duplicates by route collapse.

    ``paths``, ``discover`` and ``start_assets`` are the ``[triangular]`` keys of the same names (no defaults here).

    Cycles whose start asset has no ``<start>/<valuation_asset>`` market are dropped: their size could not be held to
    the position limit.
    """
    by_route: dict[str, Cycle] = {}
    for path in paths:
        for cycle in cycles_from_path(path, markets):
            by_route.setdefault(cycle.route, cycle)
    if discover:
        for cycle in discover_cycles(markets, start_assets):
            by_route.setdefault(cycle.route, cycle)
    pairs = _pair_index(markets)
    rows = []
    for cycle in by_route.values():
        if len(cycle.legs) != LEGS:
            msg = f"cycle {cycle.route} has {len(cycle.legs)} legs; triangular evaluation takes {LEGS} (see cycles.py)"
            raise ValueError(msg)
        value = pairs.get((cycle.start_asset, valuation_asset))
        if cycle.start_asset != valuation_asset and value is None:
            continue
        row: dict[str, Any] = {
            "route": cycle.route,
            "start_asset": cycle.start_asset,
            "value_symbol": value.symbol if value is not None and cycle.start_asset != valuation_asset else None,
        }
        for k, (symbol, side) in enumerate(cycle.legs):
            m = markets[symbol]
            row |= {
                f"leg{k}_symbol": symbol,
                f"leg{k}_buy": side == "buy",
                f"leg{k}_fee_bps": m.taker_fee_bps,
                f"leg{k}_step": m.lot_step_base,
                f"leg{k}_min_qty": m.min_qty_base,
                f"leg{k}_min_notional": m.min_notional_quote,
            }
        rows.append(row)
    rows.sort(key=lambda r: r["route"])
    schema: dict[str, pl.DataType] = {"route": pl.String(), "start_asset": pl.String(), "value_symbol": pl.String()}
    for k in range(LEGS):
        schema |= {f"leg{k}_symbol": pl.String(), f"leg{k}_buy": pl.Boolean()}
        schema |= {f"leg{k}_{c}": pl.Float64() for c in ("fee_bps", "step", "min_qty", "min_notional")}
    cycles = pl.DataFrame(rows, schema=schema).with_row_index("cycle_idx")
    touch = (
        pl.concat([cycles.select(pl.col(f"leg{k}_symbol").alias("symbol"), "cycle_idx") for k in range(LEGS)])
        .unique()
        .sort("symbol", "cycle_idx")
    )
    return CycleBook(cycles=cycles, touch=touch)
