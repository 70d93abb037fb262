"""The strategies' sections: cross-exchange, windows, triangular, market making and opportunity episodes."""

from __future__ import annotations

from pydantic import Field, model_validator

from arbflow.settings.base import Section

USD_QUOTES = frozenset({"USDT", "USDC", "USD", "FDUSD"})


class CrossConfig(Section):
    """CeLue cross-exchange arbitrage."""

    symbols: list[str]
    min_net_edge_bps: float  # design doc min_spread 0.003
    max_quote_age_ms: float = Field(gt=0)  # receive-clock age of the older leg
    max_skew_ms: float = Field(ge=0)  # |event time A - event time B|
    max_position_usdt: float = Field(gt=0)  # design doc max_exposure
    hedge_ratio: float = Field(gt=0)
    rebalance_threshold: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _usd_quoted(self) -> CrossConfig:
        odd = [s for s in self.symbols if s.partition("/")[2] not in USD_QUOTES]
        if odd:
            msg = f"cross.symbols {odd}: the size cap max_position_usdt needs USD-quoted symbols ({sorted(USD_QUOTES)})"
            raise ValueError(msg)
        return self


class WindowsConfig(Section):
    """Windowed statistics."""

    stats_window_s: float = Field(gt=0)
    allowed_lateness_s: float = Field(ge=0)  # a partial this far behind the newest one still joins its window


class TriangularConfig(Section):
    """CeLue triangular arbitrage, keyed by exchange (flows/triangular/evaluate.py)."""

    enabled: bool
    exchanges: list[str]
    # "<leg1>-<leg2>-<leg3>": the start asset is shared by the first and last market; both directions are evaluated
    paths: list[str]
    discover: bool  # also every 3-cycle found in the venue's market metadata
    start_assets: list[str]  # a discovered cycle starts at the first one it holds
    min_net_edge_bps: float  # design doc min_profit_threshold 0.002
    max_position_usdt: float = Field(gt=0)  # design doc max_position_size
    execution_timeout_ms: float = Field(gt=0)  # design doc; paper execution applies [risk] execution_timeout_ms
    slippage_tolerance_bps: float = Field(ge=0)  # depth sizing (flows/common/depth.py): worst VWAP slippage per leg
    taker_fee_bps: float | None = Field(None, ge=0, le=1000)  # per leg; None = the venue's [venues.X] taker fee
    # one venue, one connection: a leg without updates is unchanged rather than stale (feed stalls are feed_events),
    # so these bound a quiet leg more loosely than [cross] bounds two venues' clocks
    max_quote_age_ms: float = Field(gt=0)  # receive-clock age of the oldest leg
    max_skew_ms: float = Field(ge=0)  # spread of the legs' event times
    ncycle_scan_ms: float = Field(ge=0)  # scan the venue for N-leg cycles once per slot (0 = off)
    transfer_cost_bps: dict[str, float]  # asset -> cost of moving it between venues; empty = no cross-venue scan


class MarketMakingConfig(Section):
    """Paper market making around mid (flows/market_making/quotes.py); disabled by default as in the design doc."""

    enabled: bool
    exchanges: list[str]
    symbols: list[str]
    spread_bps: float = Field(gt=0)  # design doc spread 0.002: distance between the best bid and best ask
    order_amount_quote: float = Field(gt=0)  # per order, quote currency
    refresh_ms: float = Field(gt=0)
    inventory_target: float = Field(ge=0, le=1)  # base share of the inventory's value
    orders_per_side: int = Field(ge=1)
    level_step_bps: float = Field(gt=0)  # distance between consecutive orders of one side
    max_inventory_skew_bps: float = Field(ge=0)  # quote shift when the inventory is all base or all quote
    maker_fee_bps: float = Field(ge=0, le=1000)  # paid on each paper fill (design doc fee_rate 0.001)


class EpisodesConfig(Section):
    """Opportunity episodes (session windows per strategy and route) and the spread z-score (flows/common/episodes.py)."""

    enabled: bool  # cross episodes, rejection reasons and z-scores (triangular episodes follow [triangular])
    gap_timeout_ms: float = Field(gt=0)  # an edge silent for longer ends its episode
    min_duration_ms: float = Field(ge=0)  # shorter episodes are reported as blips
    zscore_window_s: float = Field(gt=0)  # sliding window of each cross-exchange spread
    zscore_slide_s: float = Field(gt=0)
