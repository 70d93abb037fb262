"""Build the offline market snapshots from recorded REST metadata (run by hand, output committed).

    python -m connectors.markets.build /work/shared/data/native-captures

Inputs are cryptofeed's recordings of each venue's public metadata endpoint (``BINANCE.0`` = ``/api/v3/exchangeInfo``,
``OKX.0`` = ``/api/v5/public/instruments?instType=SPOT``, ``HUOBI.0`` = ``/v1/common/symbols``). ccxt's own
``load_markets`` parses them: its HTTP layer is replaced by a lookup into the recording, so the unified symbols,
precision, limits and fees are exactly what ccxt would compute online. We keep spot markets only and drop the raw
``info`` payload (the raw venue entry), which is what makes the files small; every unified field ccxt's own code
reads (``linear``/``inverse``/``settle``... which ccxt.pro's ticker parsers touch even for spot) stays.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import ccxt

from connectors.markets import SNAPSHOT_DIR

# venue -> (ccxt class, recording file, ccxt option restricting fetchMarkets to spot)
RECORDINGS = {
    "binance": (ccxt.binance, "BINANCE.0", {"types": ["spot"]}),
    "okx": (ccxt.okx, "OKX.0", {"types": ["spot"]}),
    "htx": (ccxt.htx, "HUOBI.0", {"types": {"spot": True, "linear": False, "inverse": False}}),
}


def read_recording(path: Path) -> dict[str, Any]:
    """``URL -> recv_ts: body`` lines -> {path?query: parsed body}; the last recording of a URL wins."""
    responses: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        url, sep, rest = line.partition(" -> ")
        if not sep:
            continue  # cryptofeed's "configuration:" line
        _, _, body = rest.partition(": ")
        parsed = urlparse(url)
        responses[parsed.path + ("?" + parsed.query if parsed.query else "")] = json.loads(body)
    return responses


def offline_markets(venue: str, captures: Path) -> list[dict[str, Any]]:
    """Run ccxt's market parser for ``venue`` over the recorded responses; spot markets without ``info``."""
    cls, name, spot_only = RECORDINGS[venue]
    responses = read_recording(captures / name)
    exchange = cls({"options": {"fetchMarkets": spot_only}})
    exchange.has["fetchCurrencies"] = False  # private or extra endpoints: not recorded, not needed

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        parsed = urlparse(url)
        key = parsed.path + ("?" + parsed.query if parsed.query else "")
        if key not in responses:
            msg = f"{venue}: ccxt asked for {url}, which the recording {name} does not hold"
            raise KeyError(msg)
        return responses[key]

    exchange.fetch = fetch  # type: ignore[method-assign]
    markets = exchange.load_markets()
    return [{k: v for k, v in m.items() if k != "info"} for _, m in sorted(markets.items()) if m.get("spot")]


def main(captures: str) -> None:
    """Write ``<venue>.json.gz`` next to this module for every venue."""
    for venue in RECORDINGS:
        rows = offline_markets(venue, Path(captures))
        out = SNAPSHOT_DIR / f"{venue}.json.gz"
        out.write_bytes(gzip.compress(json.dumps(rows, separators=(",", ":"), sort_keys=True).encode(), mtime=0))
        print(f"{venue}: {len(rows)} spot markets -> {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/native-captures")
