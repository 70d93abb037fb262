"""Issue 11: a replay of one pair (LINK/USDT only) with the default balances (USDT, BTC, ETH) must say once what is
missing and which key to set, instead of a no_marks alert every cooldown and every pnl row blocked as no_marks.
Real flow (CSV replay -> cleaning -> GX -> cross signals -> risk) into the lake, read back through the DuckDB views.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from arbflow.settings import load_settings
from flows.risk import limits
from tests.core.conftest import run_flow, settings_for, table

T0 = datetime(2024, 8, 9, tzinfo=UTC)
SECONDS = 150  # > 2 default alert cooldowns of 60 s: the old code wrote no_marks at 0, 60 and 120 s
SPIKES = {20, 21, 22, 90, 91}  # okx bids 80 bps over binance's ask: 60 bps net of the two 10 bps taker fees


def link_csv(path: Path) -> Path:
    """1 Hz LINK/USDT quotes of binance and okx in the capture format; okx spikes at SPIKES."""
    rows = []
    for k in range(SECONDS):
        t = T0 + timedelta(seconds=k)
        okx_bid = 10.08 if k in SPIKES else 9.99
        for venue, bid, ms in (("binance", 9.99, 0), ("okx", okx_bid, 1)):
            recv = t + timedelta(milliseconds=ms + 5)
            rows.append({
                "exchange": venue, "symbol": "LINK/USDT", "bid_px": bid, "bid_qty": 3000.0, "ask_px": bid + 0.01,
                "ask_qty": 3000.0, "ts_exchange": (t + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z"),
                "ts_recv": recv.isoformat().replace("+00:00", "Z"), "seq": k, "source": "test",
            })  # fmt: skip
    pl.DataFrame(rows).write_csv(path)
    return path


def replay(tmp_path: Path, **risk: object) -> dict[str, pl.DataFrame]:
    settings = settings_for(
        tmp_path / "data",
        source={"kind": "replay", "paths": [str(link_csv(tmp_path / "link.csv"))], "batch_rows": 50},
        cleaning={"symbols": ["LINK/USDT"]},
        cross={"symbols": ["LINK/USDT"]},
        risk=risk,
    )
    run_flow(settings)
    return {t: table(tmp_path / "data", t) for t in ("signals", "pnl", "alerts", "risk_metrics")}


def test_default_balances_say_once_what_is_missing_and_the_key_to_set(tmp_path):
    got = replay(tmp_path)
    assert got["signals"].height >= 2
    alerts = got["alerts"]
    config = alerts.filter(pl.col("name") == "risk_config")
    assert config.height == 1  # once, not once per cooldown
    message = config["message"][0]
    assert "[risk.balances.<venue>]" in message and "BTC, ETH" in message and "LINK" in message
    assert alerts.filter(pl.col("name") == "no_marks").height == 0
    assert got["risk_metrics"].height >= SECONDS - 5  # the book (USDT only) is valued: metrics every second
    reasons = set(got["pnl"]["reason"].to_list())
    assert "no_marks" not in reasons
    assert reasons <= {"insufficient_balance:okx:LINK"}  # blocked for the reason the message names


def test_balances_that_fit_the_pair_trade_it_without_a_config_alert(tmp_path):
    funded = {v: {"USDT": 500_000.0, "LINK": 5000.0} for v in ("binance", "okx")}
    got = replay(tmp_path, balances=funded)
    assert "risk_config" not in set(got["alerts"]["name"].to_list())
    assert "filled" in set(got["pnl"]["status"].to_list())


def test_valuation_gaps_of_the_default_balances():
    bal = load_settings(environ={}).risk.balances  # USDT, BTC, ETH on every venue
    assert limits.valuation_gaps(bal, ["BTC/USDT", "ETH/USDT"], "USDT") == ([], [])  # the default config fits
    assert limits.valuation_gaps(bal, ["LINK/USDT"], "USDT") == (["BTC", "ETH"], ["LINK"])
    assert limits.valuation_gaps(bal, ["BTC/USDT", "ETH/BTC"], "USDT") == (["ETH"], [])  # ETH/BTC gives no USDT mark
    assert limits.valuation_gaps(bal, [], "USDT") == ([], [])  # symbols unknown: marks may still come
