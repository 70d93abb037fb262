"""Venue modules: native payload -> normalized rows. Only this registry knows the concrete venues."""

from __future__ import annotations

from connectors.exchanges.base import Venue
from connectors.exchanges.binance import Binance
from connectors.exchanges.htx import Htx
from connectors.exchanges.okx import Okx

VENUES: dict[str, type[Venue]] = {"binance": Binance, "okx": Okx, "htx": Htx}


def venue_class(exchange: str) -> type[Venue]:
    """The venue module for a ccxt exchange id; an unknown id is a configuration error naming the choices."""
    try:
        return VENUES[exchange]
    except KeyError:
        msg = f"no live connector for exchange {exchange!r}; available: {', '.join(sorted(VENUES))}"
        raise ValueError(msg) from None


def sends_exchange_time(exchange: str) -> bool:
    """Whether the venue's quotes carry its own clock; a venue without a module (a simulator-only name) does."""
    cls = VENUES.get(exchange)
    return cls.sends_exchange_time if cls is not None else True
