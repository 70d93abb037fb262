"""Paper execution and risk limits (flows/risk)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from arbflow.settings.base import Section

DEFAULT_BALANCE = {"USDT": 500_000.0, "BTC": 5.0, "ETH": 100.0}  # several cross.max_position_usdt signals per venue


class RiskConfig(Section):
    """Paper execution, inventory, risk metrics, limits and the kill switch (flows/risk).

    Fractions follow the design doc (max_daily_loss 0.05 = 5 % of the UTC day's opening equity); money is in the
    valuation currency; times are on the receive clock (ts_recv).
    """

    enabled: bool = True  # paper-trade the signals (false: no fills, positions, pnl, risk_metrics, alerts)

    valuation_currency: str = "USDT"
    # pre-funded inventory per venue and asset; unset = DEFAULT_BALANCE on each venue the source trades
    balances: dict[str, dict[str, float]] = {venue: dict(DEFAULT_BALANCE) for venue in ("binance", "okx", "htx")}
    latency_ms: float = Field(50.0, ge=0)  # signal -> order at the venue; fills use the market as it is then
    reorder_grace_ms: float = Field(1000.0, ge=0)  # decisions wait until every symbol's clock is this far past them
    stream_stall_ms: float = Field(120_000.0, gt=0)  # wall ms a silent symbol stream may hold decisions back
    strategies: list[str] = ["cross"]  # signals paper-traded; others get a pnl row with status skipped
    execution_timeout_ms: float = Field(500.0, gt=0)  # a leg not filled by then is unwound
    slippage_tolerance_bps: float = Field(10.0, ge=0)  # limit price vs the signal's price (design doc 0.001)
    partial_fill_threshold: float = Field(0.8, gt=0, le=1)  # both legs at least this filled = keep the hedged part
    min_order_notional_usdt: float = Field(10.0, ge=0)  # a signal sized below this by balances is blocked
    metrics_interval_ms: float = Field(1000.0, gt=0)
    var_window: int = Field(300, ge=2)  # metrics intervals in the rolling VaR / Sharpe window
    max_daily_loss: float = Field(0.05, gt=0)
    max_position_size_usdt: float = Field(100_000.0, gt=0)  # per-signal notional cap; limit on unhedged position
    max_open_orders: int = Field(50, ge=2)
    min_liquidity_usdt: float = Field(10_000.0, ge=0)  # displayed top-of-book notional a signal needs on each leg
    max_leverage: float = Field(3.0, gt=0)
    min_margin_ratio: float = Field(1.2, gt=0)
    max_drawdown: float = Field(0.05, gt=0)
    warning_fraction: float = Field(0.8, gt=0, lt=1)  # warning alert at this share of a limit, critical at the limit
    medium_fraction: float = Field(0.5, gt=0, lt=1)  # risk level medium from this share of any limit
    alert_cooldown_ms: float = Field(60_000.0, ge=0)  # same alert at the same level is not repeated within this
    max_feed_stale_ms: float = Field(5000.0, gt=0)  # a venue silent for longer trips the kill switch
    max_validation_failure_rate: float = Field(0.05, ge=0, le=1)  # rejected / validated rows over the window
    validation_window_runs: int = Field(20, ge=1)
    kill_switch_reset: Literal["manual", "timed"] = "manual"
    kill_switch_reset_ms: float = Field(300_000.0, gt=0)  # timed: re-arm after this, once the cause has cleared

    @model_validator(mode="after")
    def _medium_below_warning(self) -> RiskConfig:
        if self.medium_fraction >= self.warning_fraction:
            msg = "risk.medium_fraction must be below risk.warning_fraction"
            raise ValueError(msg)
        return self
