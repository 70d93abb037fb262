"""Small builders for the risk tests: quote and signal frames with the contract's columns and clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from arbflow.settings import RiskConfig, load_settings
from connectors.schema import POLARS_QUOTE_SCHEMA
from flows.risk.engine import RiskEngine, RiskState
from flows.risk.tables import SCHEMAS

T0 = datetime(2024, 8, 9, 0, 0, 0, tzinfo=UTC)
FEES_BPS = {"binance": 10.0, "okx": 10.0}
ID = {t: next(iter(cols)) for t, cols in SCHEMAS.items()}  # each risk table's id column


def risk_config(**overrides: Any) -> RiskConfig:
    """The shipped ``[risk]`` section (config/default.toml) with ``overrides``, validated like a config file."""
    return RiskConfig(**(load_settings(environ={}).risk.model_dump() | overrides))


def ts(ms: float) -> datetime:
    """Receive-clock instant ``ms`` milliseconds after T0."""
    return T0 + timedelta(milliseconds=ms)


def us(ms: float) -> int:
    """The same instant as integer microseconds since the epoch (the engine's internal unit)."""
    return int((ts(ms) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000)


def quotes(*rows: tuple[str, str, float, float, float, float, float]) -> tuple[str, pl.DataFrame]:
    """``(exchange, symbol, bid_px, bid_qty, ask_px, ask_qty, recv_ms)`` rows as a ``quotes_clean`` event."""
    data = [
        {
            "exchange": ex, "symbol": sym, "bid_px": bp, "bid_qty": bq, "ask_px": ap, "ask_qty": aq,
            "ts_exchange": None, "ts_recv": ts(ms), "seq": None, "source": "test",
        }
        for ex, sym, bp, bq, ap, aq, ms in rows
    ]  # fmt: skip
    return "quotes_clean", pl.DataFrame(data, schema=POLARS_QUOTE_SCHEMA)


def signal(
    signal_id: str, recv_ms: float, buy: str, sell: str, buy_px: float, sell_px: float, qty: float,
    symbol: str = "BTC/USDT",
) -> tuple[str, pl.DataFrame]:  # fmt: skip
    """One ``signals`` row (net edge as our fee model states it) as a ``signals`` event."""
    fb, fs = FEES_BPS.get(buy, 0.0), FEES_BPS.get(sell, 0.0)
    row: dict[str, Any] = {
        "signal_id": signal_id, "strategy": "cross", "symbol": symbol, "buy_exchange": buy, "sell_exchange": sell,
        "ts_signal": ts(recv_ms), "buy_px": buy_px, "sell_px": sell_px, "qty": qty, "notional_quote": qty * buy_px,
        "gross_edge_bps": (sell_px - buy_px) / buy_px * 1e4,
        "net_edge_bps": (sell_px - buy_px) / buy_px * 1e4 - fb - fs,
        "expected_profit_quote": 0.0, "age_ms": 0.0, "skew_ms": 0.0,
        "buy_quote_id": f"{buy}/q", "sell_quote_id": f"{sell}/q",
    }  # fmt: skip
    frame = pl.DataFrame([row]).with_columns(pl.col("ts_signal").dt.replace_time_zone("UTC"))
    return "signals", frame


def run(
    engine: RiskEngine, batches: list[list[tuple[str, pl.DataFrame]]], flush: bool = True
) -> tuple[RiskState, dict[str, pl.DataFrame]]:
    """Feed event batches through ``step`` (then ``flush``); concatenate each output table."""
    state = engine.initial_state()
    parts: dict[str, list[pl.DataFrame]] = {}
    for events in batches:
        state, out = engine.step(state, events)
        for table, frame in out.items():
            parts.setdefault(table, []).append(frame)
    if flush:
        state, out = engine.flush(state)
        for table, frame in out.items():
            parts.setdefault(table, []).append(frame)
    return state, {t: pl.concat(fs) for t, fs in parts.items()}


def collect(items: list[tuple[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """A bytewax sink's ``(table, frame)`` items -> one frame per table, one row per id (a resume replays rows with
    the same ids and contents), sorted by id."""
    parts: dict[str, list[pl.DataFrame]] = {}
    for table, frame in items:
        parts.setdefault(table, []).append(frame)
    return {t: pl.concat(fs).unique(ID[t], keep="first").sort(ID[t]) for t, fs in parts.items()}
