"""Shared fixtures: real Binance market metadata (tests/fixtures/binance_markets, see SOURCES.md there)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import ccxt
import pytest

from connectors.markets.spot import Market, markets_from_ccxt

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "binance_markets"


def binance_ccxt_markets() -> list[dict[str, Any]]:
    """ccxt's own parse of the recorded exchangeInfo extract (offline: no network call)."""
    payload = json.loads(gzip.decompress((FIXTURES / "exchangeInfo.json.gz").read_bytes()))
    exchange = ccxt.binance()
    # fetch_markets fills these from margin endpoints that the recording does not hold; spot parsing only reads them
    exchange.options["crossMarginPairsData"] = []
    exchange.options["isolatedMarginPairsData"] = []
    return [exchange.parse_market(s) for s in payload["symbols"]]


@pytest.fixture(scope="session")
def binance_markets() -> dict[str, Market]:
    """Active Binance spot markets at the venue's 10 bps taker fee."""
    return markets_from_ccxt(binance_ccxt_markets(), taker_fee_bps=10.0)
