"""Output tables of the risk step (fills, positions, pnl, risk_metrics, alerts): polars schemas matching
sql/schema/risk.sql, and the conversion from the engine's row dicts (times as integer microseconds, receive clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
S, F, I, B = pl.String(), pl.Float64(), pl.Int64(), pl.Boolean()
TS = pl.Datetime("us", "UTC")

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "fills": {
        "fill_id": S, "signal_id": S, "leg": S, "exchange": S, "symbol": S, "side": S, "ts_fill": TS,
        "qty_requested": F, "qty_filled": F, "px": F, "limit_px": F, "fee_quote": F, "book_ts_recv": TS, "status": S,
    },
    "positions": {
        "position_id": S, "signal_id": S, "ts_position": TS, "exchange": S, "asset": S, "balance": F,
        "start_balance": F, "position_qty": F, "mark_usdt": F, "position_usdt": F,
    },
    "pnl": {
        "pnl_id": S, "signal_id": S, "strategy": S, "symbol": S, "buy_exchange": S, "sell_exchange": S,
        "ts_signal": TS, "ts_decided": TS, "status": S, "reason": S, "qty_signal": F, "qty_sized": F,
        "qty_matched": F, "signal_net_edge_bps": F, "expected_edge_bps": F, "realized_edge_bps": F,
        "expected_profit_quote": F, "realized_pnl_quote": F, "fees_quote": F, "net_pnl_quote": F,
        "unwind_cost_quote": F, "cum_net_pnl_usdt": F,
    },
    "risk_metrics": {
        "metrics_id": S, "ts_metrics": TS, "equity_usdt": F, "start_equity_usdt": F, "realized_pnl_usdt": F,
        "unrealized_pnl_usdt": F, "fees_usdt": F, "daily_pnl_usdt": F, "drawdown": F, "max_drawdown": F,
        "gross_exposure_usdt": F, "net_exposure_usdt": F, "leverage": F, "margin_ratio": F,
        "var95_hist_usdt": F, "var99_hist_usdt": F, "var95_param_usdt": F, "var99_param_usdt": F,
        "sharpe": F, "sortino": F, "window_intervals": I, "signals_total": I, "signals_executed": I,
        "signals_blocked": I, "success_rate": F, "open_orders": I, "risk_level": S, "kill_switch": B,
        "kill_reason": S,
    },
    "alerts": {
        "alert_id": S, "ts_alert": TS, "name": S, "severity": S, "value": F, "limit_value": F, "message": S,
    },
}  # fmt: skip


def iso_us(t_us: int) -> str:
    """Receive-clock microseconds as an ISO-8601 UTC string, for readable deterministic ids."""
    return (_EPOCH + timedelta(microseconds=t_us)).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows (timestamps as int microseconds) -> a frame with the table's schema and column order."""
    schema = SCHEMAS[table]
    raw = {c: (I if dt == TS else dt) for c, dt in schema.items()}
    frame = pl.DataFrame(rows, schema=raw)
    return frame.with_columns(
        pl.col(c).cast(pl.Datetime("us")).dt.replace_time_zone("UTC") for c, dt in schema.items() if dt == TS
    )
