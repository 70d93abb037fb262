"""Offline ccxt market metadata for the venues we connect to, so nothing needs the network to start.

The snapshots (``<venue>.json.gz``) hold ccxt's own parse of each venue's recorded metadata endpoint (see
``build.py`` for how they were made and from which recordings): unified symbol, venue id, precision, lot size
(``limits.amount``), minimum notional (``limits.cost``) and fee rates. A live session can refresh them with
``exchange.load_markets()``; tests and replays use these.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

SNAPSHOT_DIR = Path(__file__).resolve().parent
VENUES = ("binance", "okx", "htx")


@cache
def load_markets(venue: str) -> tuple[dict[str, Any], ...]:
    """The snapshot's spot markets of ``venue`` (ccxt market dicts without ``info``)."""
    if venue not in VENUES:
        msg = f"no offline market snapshot for venue {venue!r}; known: {', '.join(VENUES)}"
        raise ValueError(msg)
    with gzip.open(SNAPSHOT_DIR / f"{venue}.json.gz", "rt") as fh:
        return tuple(json.load(fh))


@cache
def id_to_symbol(venue: str) -> dict[str, str]:
    """Venue market id (as the venue spells it in payloads: ``BTCUSDT``, ``BTC-USDT``, ``btcusdt``) -> ccxt symbol."""
    return {m["id"]: m["symbol"] for m in load_markets(venue)}


@cache
def symbol_to_market(venue: str) -> dict[str, dict[str, Any]]:
    """ccxt unified symbol -> market (precision, limits, taker/maker fee rates)."""
    return {m["symbol"]: m for m in load_markets(venue)}


def market(venue: str, symbol: str) -> dict[str, Any]:
    """One market; an unknown symbol is a configuration error that names the venue."""
    try:
        return symbol_to_market(venue)[symbol]
    except KeyError:
        msg = f"{venue} has no spot market {symbol!r} in its offline snapshot"
        raise ValueError(msg) from None


def ccxt_exchange(
    venue: str, pro: bool = False, config: dict[str, Any] | None = None, symbols: list[str] | None = None
) -> Any:
    """A ccxt (or ccxt.pro) exchange object with markets set from the snapshot: no network call.

    ``symbols`` limits the markets to those (``set_markets`` over all 1,695 Binance markets takes ~0.5 s, which a
    reconnect inside an event loop should not pay).
    """
    import ccxt
    import ccxt.pro

    module = ccxt.pro if pro else ccxt
    exchange = getattr(module, venue)(config or {})
    chosen = [market(venue, s) for s in symbols] if symbols is not None else load_markets(venue)
    exchange.set_markets([dict(m, info={}) for m in chosen])
    return exchange
