"""Paper execution and risk limits (flows/risk)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from arbflow.settings.base import Section


class RiskConfig(Section):
    """Paper execution, inventory, risk metrics, limits and the kill switch (flows/risk).

    Fractions follow the design doc (max_daily_loss 0.05 = 5 % of the UTC day's opening equity); money is in the
    valuation currency; times are on the receive clock (ts_recv).
    """

    enabled: bool  # paper-trade the signals (false: no fills, positions, pnl, risk_metrics, alerts)

    valuation_currency: str
    # pre-funded inventory per venue and asset; unset = venue_balance on each venue the source trades
    balances: dict[str, dict[str, float]]
    venue_balance: dict[str, float]  # asset -> amount: what an unset ``balances`` gives each venue
    latency_ms: float = Field(ge=0)  # signal -> order at the venue; fills use the market as it is then
    reorder_grace_ms: float = Field(ge=0)  # decisions wait until every symbol's clock is this far past them
    stream_stall_ms: float = Field(gt=0)  # wall ms a silent symbol stream may hold decisions back
    strategies: list[str]  # signals paper-traded; others get a pnl row with status skipped
    execution_timeout_ms: float = Field(gt=0)  # a leg not filled by then is unwound
    slippage_tolerance_bps: float = Field(ge=0)  # limit price vs the signal's price (design doc 0.001)
    partial_fill_threshold: float = Field(gt=0, le=1)  # both legs at least this filled = keep the hedged part
    min_order_notional_usdt: float = Field(ge=0)  # a signal sized below this by balances is blocked
    metrics_interval_ms: float = Field(gt=0)
    var_window: int = Field(ge=2)  # metrics intervals in the rolling VaR / Sharpe window
    max_daily_loss: float = Field(gt=0)
    max_position_size_usdt: float = Field(gt=0)  # per-signal notional cap; limit on unhedged position
    max_open_orders: int = Field(ge=2)
    min_liquidity_usdt: float = Field(ge=0)  # displayed top-of-book notional a signal needs on each leg
    max_leverage: float = Field(gt=0)
    min_margin_ratio: float = Field(gt=0)
    max_drawdown: float = Field(gt=0)
    warning_fraction: float = Field(gt=0, lt=1)  # warning alert at this share of a limit, critical at the limit
    medium_fraction: float = Field(gt=0, lt=1)  # risk level medium from this share of any limit
    alert_cooldown_ms: float = Field(ge=0)  # same alert at the same level is not repeated within this
    max_feed_stale_ms: float = Field(gt=0)  # a venue silent for longer trips the kill switch
    max_validation_failure_rate: float = Field(ge=0, le=1)  # rejected / validated rows over the window
    validation_window_runs: int = Field(ge=1)
    kill_switch_reset: Literal["manual", "timed"]
    kill_switch_reset_ms: float = Field(gt=0)  # timed: re-arm after this, once the cause has cleared

    @model_validator(mode="after")
    def _medium_below_warning(self) -> RiskConfig:
        if self.medium_fraction >= self.warning_fraction:
            msg = "risk.medium_fraction must be below risk.warning_fraction"
            raise ValueError(msg)
        return self
