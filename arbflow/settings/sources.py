"""Where quotes come from: the source, the simulator, the live feeds, the venues' costs and QingXi's cleaning."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from arbflow.settings.base import Section
from connectors.resources import SAMPLE_DIR


class VenueConfig(Section):
    """Per-venue trading costs."""

    taker_fee_bps: float = Field(ge=0, le=1000)  # design doc fee_rate 0.001


class SimulatorConfig(Section):
    """Deterministic synthetic market (see connectors/simulator.py)."""

    seed: int
    venues: list[str]
    symbols: list[str]
    duration_s: float = Field(gt=0)
    rate_hz: float = Field(gt=0)  # quotes per second per venue per symbol
    cross_opportunities: int = Field(ge=0)  # injected above the threshold
    fee_eaten_opportunities: int = Field(ge=0)  # positive gross edge that fees eat (must not signal)
    opportunity_duration_s: float = Field(gt=0)
    anomaly_rate: float = Field(ge=0, lt=0.5)


class SourceConfig(Section):
    """Where quotes come from."""

    kind: Literal["sample", "replay", "simulator", "live"]
    paths: list[str]  # replay: recorded files (globs allowed) in any format of connectors/formats.py
    format: Literal["auto", "capture", "tardis_quotes", "tardis_book_snapshot", "hftbacktest", "cryptofeed"]
    batch_rows: int = Field(ge=1)  # micro-batch size: throughput comes from batches
    speed: float = Field(ge=0)  # 0 = as fast as possible, 1.0 = real time, 10 = 10x
    sample_dir: str  # empty = the bundled real Binance sample, wherever arbflow is installed

    @field_validator("sample_dir")
    @classmethod
    def _bundled_sample(cls, value: str) -> str:
        return value or str(SAMPLE_DIR)


class CleaningConfig(Section):
    """QingXi: what a clean quote is."""

    symbols: list[str]
    max_latency_ms: float = Field(gt=0)  # ts_recv - ts_exchange beyond this = stale (collector timeout)
    outlier_bps: float = Field(gt=0)  # mid vs rolling median of the venue's own recent mids
    outlier_window: int = Field(ge=4)


class LiveConfig(Section):
    """Live venue feeds (connectors/live.py): connections, watchdog timing, micro-batching, capture."""

    venues: list[Literal["binance", "okx", "htx"]]
    symbols: list[str]  # ccxt unified; checked against the market snapshots
    depth: bool  # also subscribe depth channels and write the books table
    okx_quote_channel: Literal["bbo-tbt", "tickers"]
    transports: dict[str, Literal["native", "ccxtpro"]]  # per venue; default native (ccxtpro: binance, okx)
    ws_urls: dict[str, str]  # per-venue WebSocket base URL override, e.g. {binance = "ws://127.0.0.1:9000"}
    rest_urls: dict[str, str]  # per-venue REST base URL override (Binance depth snapshots)
    stall_timeout_s: float = Field(gt=0)  # no market data this long = stall -> resubscribe -> reconnect
    backoff_initial_s: float = Field(gt=0)
    backoff_max_s: float = Field(gt=0)
    backoff_jitter: float = Field(ge=0, lt=1)
    max_clock_skew_ms: float = Field(gt=0)  # |receive clock - venue clock| beyond this = clock_skew event
    batch_rows: int = Field(ge=1)  # at most this many quotes per batch (a batch = what arrived since a poll)
    run_for_s: float = Field(ge=0)  # 0 = until stopped
    # empty = no capture; else Parquet quote files there (replay them with kind = "replay"); {data_dir} = sinks.data_dir
    capture_dir: str
    capture_rows_per_file: int = Field(ge=1)

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        """Name a key that no longer exists and why, rather than pydantic's bare "extra inputs" error."""
        why = {
            "reorder_ms": "the venues merge at one point in arrival order (connectors/live.py), nothing is held",
            "flush_ms": "every poll emits what has arrived, no batch waits to fill",
        }
        for key in sorted(set(why) & set(data if isinstance(data, dict) else ())):
            msg = f"[live] {key} was removed: {why[key]}; delete the key"
            raise ValueError(msg)
        return data
