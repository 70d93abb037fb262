"""Issue 11: replay of tardis ``book_snapshot_5`` files (binance and okex, 1 s snapshots) through the real flow:
the cross signal is sized and priced by walking both books, not by the top level.

Fees 0, min net edge 1 bps. binance asks 100.00, 100.02, 100.05 (1 each, then 5, 5 deeper); okex bids 100.06,
100.04, 100.00 (1 each, then deeper and worse). Per unit of the walk the surplus ``sell - (1 + 1 bps) * buy`` is
+0.04999 on the first unit, +0.009998 on the second, -0.060005 on the third: the largest size that still clears
1 bps is ``2 + h(2) / 0.060005`` with ``h(2) = 0.04999 + 0.009998``. Slippage (10 bps) does not bind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tests.core.conftest import run_flow, settings_for, table

T0 = datetime(2024, 8, 8, 12, 0, tzinfo=UTC)
BINANCE_ASKS = [(100.00, 1.0), (100.02, 1.0), (100.05, 1.0), (100.10, 5.0), (100.20, 5.0)]
BINANCE_BIDS = [(99.99, 1.0), (99.98, 1.0), (99.97, 1.0), (99.96, 1.0), (99.95, 1.0)]
OKX_ASKS = [(100.07, 1.0), (100.08, 1.0), (100.09, 1.0), (100.10, 1.0), (100.11, 1.0)]
OKX_BIDS = [(100.06, 1.0), (100.04, 1.0), (100.00, 1.0), (99.90, 5.0), (99.80, 5.0)]


def write_snapshots(path: Path, tardis_id: str, symbol: str, asks: list, bids: list, recv_ms: int) -> Path:
    rows = []
    for s in range(3):
        stamp = T0 + timedelta(seconds=s)
        row: dict[str, object] = {
            "exchange": tardis_id,
            "symbol": symbol,
            "timestamp": (stamp - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
            "local_timestamp": (stamp + timedelta(milliseconds=recv_ms) - datetime(1970, 1, 1, tzinfo=UTC))
            // timedelta(microseconds=1),
        }
        for i, ((ap, aq), (bp, bq)) in enumerate(zip(asks, bids, strict=True)):
            row |= {f"asks[{i}].price": ap, f"asks[{i}].amount": aq, f"bids[{i}].price": bp, f"bids[{i}].amount": bq}
        rows.append(row)
    pl.DataFrame(rows).write_csv(path)
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("depth")
    files = [
        write_snapshots(tmp / "binance.csv", "binance", "BTCUSDT", BINANCE_ASKS, BINANCE_BIDS, 5),
        write_snapshots(tmp / "okex.csv", "okex", "BTC-USDT", OKX_ASKS, OKX_BIDS, 8),
    ]
    settings = settings_for(
        tmp / "lake",
        source={"kind": "replay", "paths": [str(f) for f in files], "batch_rows": 3},
        venues={"binance": {"taker_fee_bps": 0.0}, "okx": {"taker_fee_bps": 0.0}, "htx": {"taker_fee_bps": 0.0}},
        cross={"symbols": ["BTC/USDT"], "min_net_edge_bps": 1.0, "max_quote_age_ms": 500.0, "max_skew_ms": 500.0},
        episodes={"gap_timeout_ms": 2500.0},
        # BTC/USDT only: balances of these assets alone (marks for them exist); tiny books: no liquidity floor
        risk={"balances": {v: {"USDT": 1000.0, "BTC": 5.0} for v in ("binance", "okx")}, "min_liquidity_usdt": 0.0},
    )
    run_flow(settings)
    return tmp / "lake"


def test_the_signal_walks_both_books(lake: Path) -> None:
    signals = table(lake, "signals")
    assert signals.height == 1 and table(lake, "opportunities").height == 1
    [sig] = signals.iter_rows(named=True)
    assert (sig["buy_exchange"], sig["sell_exchange"]) == ("binance", "okx")
    h2 = (100.06 - 1.0001 * 100.00) + (100.04 - 1.0001 * 100.02)
    qty = 2 + h2 / (1.0001 * 100.05 - 100.00)
    assert sig["qty"] == pytest.approx(qty, rel=1e-9) and qty > 2.9  # top of book alone would give 1.0
    buy_vwap = (100.00 + 100.02 + 100.05 * (qty - 2)) / qty
    sell_vwap = (100.06 + 100.04 + 100.00 * (qty - 2)) / qty
    assert (sig["buy_px"], sig["sell_px"]) == pytest.approx((buy_vwap, sell_vwap), rel=1e-12)
    assert sig["net_edge_bps"] == pytest.approx(1.0, abs=1e-6)  # the edge limit: exactly the threshold
    assert sig["notional_quote"] == pytest.approx(qty * buy_vwap, rel=1e-12)
    assert sig["expected_profit_quote"] == pytest.approx(qty * (sell_vwap - buy_vwap), rel=1e-9)


def test_paper_execution_walks_the_same_books(lake: Path) -> None:
    [sig] = table(lake, "signals").iter_rows(named=True)
    fills = table(lake, "fills").filter(pl.col("leg").is_in(["buy", "sell"])).sort("leg")
    assert fills["qty_filled"].to_list() == pytest.approx([sig["qty"]] * 2, rel=1e-12)  # all levels, not the top
    assert fills["px"].to_list() == pytest.approx([sig["buy_px"], sig["sell_px"]], rel=1e-12)
    assert fills["status"].to_list() == ["filled", "filled"]
