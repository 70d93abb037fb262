"""Validated settings: a TOML file, then ``ARBFLOW__SECTION__KEY`` environment overrides.

A wrong key or value fails at start with a message naming it. Secrets never live in these files: they come only from
the environment. Defaults follow the design doc ("5.1 arbitrage system"); fractions there are basis points here
(``min_spread 0.003`` -> ``min_net_edge_bps = 30``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.resources import DEFAULT_CONFIG, SAMPLE_DIR

ENV_PREFIX = "ARBFLOW__"
USD_QUOTES = frozenset({"USDT", "USDC", "USD", "FDUSD"})
DEFAULT_BALANCE = {"USDT": 500_000.0, "BTC": 5.0, "ETH": 100.0}  # several cross.max_position_usdt signals per venue


class ConfigError(ValueError):
    """The configuration is wrong; the message says which key and what to change."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VenueConfig(_Section):
    """Per-venue trading costs."""

    taker_fee_bps: float = Field(10.0, ge=0, le=1000)  # design doc fee_rate 0.001


class SimulatorConfig(_Section):
    """Deterministic synthetic market (see connectors/simulator.py)."""

    seed: int = 7
    venues: list[str] = ["binance", "okx", "htx"]
    symbols: list[str] = ["BTC/USDT", "ETH/USDT"]
    duration_s: float = Field(600.0, gt=0)
    rate_hz: float = Field(5.0, gt=0)  # quotes per second per venue per symbol
    cross_opportunities: int = Field(6, ge=0)  # injected above the threshold
    fee_eaten_opportunities: int = Field(3, ge=0)  # positive gross edge that fees eat (must not signal)
    opportunity_duration_s: float = Field(3.0, gt=0)
    anomaly_rate: float = Field(0.002, ge=0, lt=0.5)


class SourceConfig(_Section):
    """Where quotes come from."""

    kind: Literal["sample", "replay", "simulator", "live"] = "sample"
    paths: list[str] = []  # replay: recorded files (globs allowed) in any format of connectors/formats.py
    format: Literal["auto", "capture", "tardis_quotes", "tardis_book_snapshot", "hftbacktest", "cryptofeed"] = "auto"
    batch_rows: int = Field(20_000, ge=1)  # micro-batch size: throughput comes from batches
    speed: float = Field(0.0, ge=0)  # 0 = as fast as possible, 1.0 = real time, 10 = 10x
    sample_dir: str = ""  # empty = the bundled real Binance sample, wherever arbflow is installed

    @field_validator("sample_dir")
    @classmethod
    def _bundled_sample(cls, value: str) -> str:
        return value or str(SAMPLE_DIR)


class CleaningConfig(_Section):
    """QingXi: what a clean quote is."""

    symbols: list[str] = ["BTC/USDT", "ETH/USDT", "ETH/BTC"]
    max_latency_ms: float = Field(5000.0, gt=0)  # ts_recv - ts_exchange beyond this = stale (collector timeout)
    outlier_bps: float = Field(500.0, gt=0)  # mid vs rolling median of the venue's own recent mids
    outlier_window: int = Field(21, ge=4)


class CrossConfig(_Section):
    """CeLue cross-exchange arbitrage."""

    symbols: list[str] = ["BTC/USDT", "ETH/USDT"]
    min_net_edge_bps: float = 30.0  # design doc min_spread 0.003
    max_quote_age_ms: float = Field(1000.0, gt=0)  # receive-clock age of the older leg
    max_skew_ms: float = Field(500.0, ge=0)  # |event time A - event time B|
    max_position_usdt: float = Field(50_000.0, gt=0)  # design doc max_exposure
    hedge_ratio: float = Field(1.0, gt=0)
    rebalance_threshold: float = Field(0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _usd_quoted(self) -> CrossConfig:
        odd = [s for s in self.symbols if s.partition("/")[2] not in USD_QUOTES]
        if odd:
            msg = f"cross.symbols {odd}: the size cap max_position_usdt needs USD-quoted symbols ({sorted(USD_QUOTES)})"
            raise ValueError(msg)
        return self


class WindowsConfig(_Section):
    """Windowed statistics."""

    stats_window_s: float = Field(60.0, gt=0)
    allowed_lateness_s: float = Field(2.0, ge=0)  # a partial this far behind the newest one still joins its window


class SinksConfig(_Section):
    """Outputs: a Parquet lake, with a DuckDB file of views over it."""

    data_dir: str = "data"
    write_quotes_clean: bool = True
    write_spreads: bool = False  # one row per evaluated venue pair per update: large


class LiveConfig(_Section):
    """Live venue feeds (connectors/live.py): connections, watchdog timing, micro-batching, capture."""

    venues: list[Literal["binance", "okx", "htx"]] = ["binance", "okx", "htx"]
    symbols: list[str] = ["BTC/USDT", "ETH/USDT", "ETH/BTC"]  # ccxt unified; checked against the market snapshots
    depth: bool = False  # also subscribe depth channels and write the books table
    okx_quote_channel: Literal["bbo-tbt", "tickers"] = "bbo-tbt"
    transports: dict[str, Literal["native", "ccxtpro"]] = {}  # per venue; default native (ccxtpro: binance, okx)
    ws_urls: dict[str, str] = {}  # per-venue WebSocket base URL override, e.g. {binance = "ws://127.0.0.1:9000"}
    rest_urls: dict[str, str] = {}  # per-venue REST base URL override (Binance depth snapshots)
    stall_timeout_s: float = Field(10.0, gt=0)  # no market data this long = stall -> resubscribe -> reconnect
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    backoff_jitter: float = Field(0.25, ge=0, lt=1)
    max_clock_skew_ms: float = Field(1000.0, gt=0)  # |receive clock - venue clock| beyond this = clock_skew event
    batch_rows: int = Field(20_000, ge=1)  # at most this many quotes per batch (a batch = what arrived since a poll)
    run_for_s: float = Field(0.0, ge=0)  # 0 = until stopped
    # empty = no capture; else Parquet quote files there (replay them with kind = "replay"); {data_dir} = sinks.data_dir
    capture_dir: str = ""
    capture_rows_per_file: int = Field(100_000, ge=1)

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


class QualityConfig(_Section):
    """Great Expectations gate."""

    suites_dir: str = ""  # empty = the suites shipped in the quality package
    audit_rows: int = Field(100_000, gt=0)  # GX audit chunk: at most this many judged rows ...
    audit_interval_s: float = Field(60.0, gt=0)  # ... or this span of receive clock, whichever comes first
    audit_every: int = Field(1, gt=0)  # GX validates one chunk in this many (by chunk number)


class ApiConfig(_Section):
    """HTTP API (ops/api/). Keys come only from the environment (ARBFLOW_API_KEYS), never from this file."""

    host: str = "127.0.0.1"  # the container sets 0.0.0.0
    port: int = Field(8080, ge=1, le=65535)
    rate_limit_per_min: int = Field(100, ge=1)  # per API key, sliding 60 s window
    cors_origins: list[str] = []  # empty = CORS off


class LoggingConfig(_Section):
    """Structured JSON logs and the pipeline_logs retention per level (design doc: DEBUG 1 d ... FATAL 365 d)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    retention_days: dict[str, int] = {"DEBUG": 1, "INFO": 7, "WARNING": 30, "ERROR": 90, "CRITICAL": 365}

    @model_validator(mode="after")
    def _every_level_kept_somehow(self) -> LoggingConfig:
        levels = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        if set(self.retention_days) != levels or min(self.retention_days.values()) < 1:
            msg = f"logging.retention_days needs exactly {sorted(levels)} with days >= 1, got {self.retention_days}"
            raise ValueError(msg)
        return self


class MonitorConfig(_Section):
    """System monitor alert thresholds (design doc) and supervisor restart policy (3 retries, 5 s, x2)."""

    max_response_time_ms: float = Field(1000.0, gt=0)
    max_error_rate: float = Field(0.01, ge=0, le=1)
    max_cpu_pct: float = Field(80.0, gt=0, le=100)
    max_memory_pct: float = Field(85.0, gt=0, le=100)
    max_disk_pct: float = Field(90.0, gt=0, le=100)
    heartbeat_timeout_s: float = Field(30.0, gt=0)  # a module silent for longer is unhealthy
    restart_retries: int = Field(3, ge=0)
    restart_initial_delay_s: float = Field(5.0, ge=0)
    restart_backoff: float = Field(2.0, ge=1)


class TriangularConfig(_Section):
    """CeLue triangular arbitrage, keyed by exchange (flows/triangular/evaluate.py)."""

    enabled: bool = True
    exchanges: list[str] = ["binance", "okx", "htx"]
    # "<leg1>-<leg2>-<leg3>": the start asset is shared by the first and last market; both directions are evaluated
    paths: list[str] = ["BTC/USDT-ETH/BTC-ETH/USDT", "BTC/USDT-BNB/BTC-BNB/USDT"]
    discover: bool = True  # also every 3-cycle found in the venue's market metadata
    start_assets: list[str] = ["USDT", "BTC", "ETH", "BNB"]  # a discovered cycle starts at the first one it holds
    min_net_edge_bps: float = 20.0  # design doc min_profit_threshold 0.002
    max_position_usdt: float = Field(10_000.0, gt=0)  # design doc max_position_size
    execution_timeout_ms: float = Field(500.0, gt=0)  # design doc; paper execution applies [risk] execution_timeout_ms
    slippage_tolerance_bps: float = Field(
        10.0, ge=0
    )  # depth sizing (flows/common/depth.py): worst VWAP slippage per leg
    taker_fee_bps: float | None = Field(None, ge=0, le=1000)  # per leg; None = the venue's [venues.X] taker fee
    # one venue, one connection: a leg without updates is unchanged rather than stale (feed stalls are feed_events),
    # so these bound a quiet leg more loosely than [cross] bounds two venues' clocks
    max_quote_age_ms: float = Field(2000.0, gt=0)  # receive-clock age of the oldest leg
    max_skew_ms: float = Field(2000.0, ge=0)  # spread of the legs' event times
    ncycle_scan_ms: float = Field(1000.0, ge=0)  # scan the venue for N-leg cycles once per slot (0 = off)
    transfer_cost_bps: dict[str, float] = {}  # asset -> cost of moving it between venues; empty = no cross-venue scan


class MarketMakingConfig(_Section):
    """Paper market making around mid (flows/market_making/quotes.py); disabled by default as in the design doc."""

    enabled: bool = False
    exchanges: list[str] = ["binance"]
    symbols: list[str] = ["BTC/USDT", "ETH/USDT"]
    spread_bps: float = Field(20.0, gt=0)  # design doc spread 0.002: distance between the best bid and best ask
    order_amount_quote: float = Field(1000.0, gt=0)  # per order, quote currency
    refresh_ms: float = Field(10_000.0, gt=0)
    inventory_target: float = Field(0.5, ge=0, le=1)  # base share of the inventory's value
    orders_per_side: int = Field(5, ge=1)
    level_step_bps: float = Field(5.0, gt=0)  # distance between consecutive orders of one side
    max_inventory_skew_bps: float = Field(20.0, ge=0)  # quote shift when the inventory is all base or all quote
    maker_fee_bps: float = Field(10.0, ge=0, le=1000)  # paid on each paper fill (design doc fee_rate 0.001)


class EpisodesConfig(_Section):
    """Opportunity episodes (session windows per strategy and route) and the spread z-score (flows/common/episodes.py)."""

    enabled: bool = True  # cross episodes, rejection reasons and z-scores (triangular episodes follow [triangular])
    gap_timeout_ms: float = Field(1000.0, gt=0)  # an edge silent for longer ends its episode
    min_duration_ms: float = Field(250.0, ge=0)  # shorter episodes are reported as blips
    zscore_window_s: float = Field(60.0, gt=0)  # sliding window of each cross-exchange spread
    zscore_slide_s: float = Field(10.0, gt=0)


class RiskConfig(_Section):
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


class ScheduledJobConfig(_Section):
    """One scheduled batch replay (ops/scheduler.py): when it fires, which UTC days it replays, where they land."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    cron: str  # UTC; 5 fields (minute resolution) or 6 (the 6th is seconds)
    # input files/globs; "{date}" is the replayed UTC day (YYYY-MM-DD), "{data_dir}" is sinks.data_dir
    paths: list[str] = Field(min_length=1)
    days_back: int = Field(1, ge=0)  # first day replayed = fire time's UTC date minus this (1 = previous UTC day)
    days: int = Field(1, ge=1)  # consecutive UTC days per run, each its own output partition
    # partitions: <output_dir>/<name>/date=YYYY-MM-DD (a data_dir each); empty = <sinks.data_dir>/jobs
    output_dir: str = ""
    config: str = ""  # flow config of the replay; empty = the scheduler's own config file
    workers: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _valid_cron(self) -> ScheduledJobConfig:
        if not croniter.is_valid(self.cron):
            msg = f"schedule job {self.name!r}: cron {self.cron!r} is not a valid cron expression"
            raise ValueError(msg)
        return self


class ScheduleConfig(_Section):
    """Scheduled batch replays, run by ``arbflow schedule`` (foreground) or ``arbflow schedule --once JOB``."""

    jobs: list[ScheduledJobConfig] = []

    @model_validator(mode="after")
    def _unique_names(self) -> ScheduleConfig:
        names = [job.name for job in self.jobs]
        if len(names) != len(set(names)):
            msg = f"schedule.jobs names must be unique, got {names}"
            raise ValueError(msg)
        return self


class Settings(_Section):
    """Everything a run needs."""

    source: SourceConfig = SourceConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    venues: dict[str, VenueConfig] = {
        "binance": VenueConfig(taker_fee_bps=10.0),
        "okx": VenueConfig(taker_fee_bps=10.0),
        "htx": VenueConfig(taker_fee_bps=20.0),
    }
    cleaning: CleaningConfig = CleaningConfig()
    cross: CrossConfig = CrossConfig()
    windows: WindowsConfig = WindowsConfig()
    sinks: SinksConfig = SinksConfig()
    quality: QualityConfig = QualityConfig()
    live: LiveConfig = LiveConfig()
    api: ApiConfig = ApiConfig()
    logging: LoggingConfig = LoggingConfig()
    monitor: MonitorConfig = MonitorConfig()
    triangular: TriangularConfig = TriangularConfig()
    market_making: MarketMakingConfig = MarketMakingConfig()
    episodes: EpisodesConfig = EpisodesConfig()
    risk: RiskConfig = RiskConfig()
    schedule: ScheduleConfig = ScheduleConfig()

    @model_validator(mode="before")
    @classmethod
    def _venue_keys_follow_the_source(cls, data: Any) -> Any:
        """Unset keys that name venues default to the venues the source trades, so a two-venue config builds."""
        if not isinstance(data, dict):
            return data
        venues = _source_venues(data)
        data = _under_data_dir(data)
        for section, key, value in (
            ("triangular", "exchanges", venues),
            ("market_making", "exchanges", venues[:1]),
            ("risk", "balances", {venue: dict(DEFAULT_BALANCE) for venue in venues}),
        ):
            table = data.get(section, {})
            if isinstance(table, dict) and key not in table:
                data[section] = {**table, key: value}
        return data

    @model_validator(mode="after")
    def _venues_have_fees(self) -> Settings:
        kind = self.source.kind
        references = {
            "simulator.venues": self.simulator.venues if kind in ("sample", "simulator") else [],
            "live.venues": list(self.live.venues) if kind == "live" else [],
            "triangular.exchanges": self.triangular.exchanges if self.triangular.enabled else [],
            "market_making.exchanges": self.market_making.exchanges if self.market_making.enabled else [],
        }
        problems = [
            f"{key} names {missing} but [venues.<name>] has no taker_fee_bps for them: add "
            + " ".join(f"[venues.{name}] taker_fee_bps = ..." for name in missing)
            + f" or remove them from {key}"
            for key, names in references.items()
            if (missing := sorted(set(names) - set(self.venues)))
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def fee_bps(self, exchange: str) -> float:
        """Taker fee of a venue; a venue without a fee entry is a configuration error, not a free venue."""
        try:
            return self.venues[exchange].taker_fee_bps
        except KeyError:
            msg = f"no [venues.{exchange}] taker_fee_bps in the configuration"
            raise ConfigError(msg) from None


def _source_venues(data: dict[str, Any]) -> list[str]:
    """The venues the raw config's source trades: live.venues for live, else simulator.venues (sample, simulator)."""

    def get(section: str, key: str, default: Any) -> Any:
        table = data.get(section, {})
        return table.get(key, default) if isinstance(table, dict) else getattr(table, key, default)

    if get("source", "kind", "sample") == "live":
        return list(get("live", "venues", LiveConfig().venues))
    return list(get("simulator", "venues", SimulatorConfig().venues))


def _under_data_dir(data: dict[str, Any]) -> dict[str, Any]:
    """What arbflow writes goes under sinks.data_dir, so a read-only working directory will do: ``{data_dir}`` in
    live.capture_dir and in scheduled jobs' paths is sinks.data_dir, and a job's unset output_dir is
    ``<data_dir>/jobs``."""
    sinks, schedule, live = data.get("sinks", {}), data.get("schedule", {}), data.get("live", {})
    data_dir = str(sinks.get("data_dir", SinksConfig().data_dir) if isinstance(sinks, dict) else sinks.data_dir)

    def resolve(value: Any) -> Any:
        return value.replace("{data_dir}", data_dir) if isinstance(value, str) else value

    data = dict(data)
    if isinstance(live, dict) and "capture_dir" in live:
        data["live"] = {**live, "capture_dir": resolve(live["capture_dir"])}
    if isinstance(schedule, dict) and isinstance(schedule.get("jobs"), list):
        jobs = []
        for job in schedule["jobs"]:
            if isinstance(job, dict):
                job = {**job, "output_dir": job.get("output_dir") or str(Path(data_dir) / "jobs")}
                if isinstance(job.get("paths"), list):
                    job["paths"] = [resolve(path) for path in job["paths"]]
            jobs.append(job)
        data["schedule"] = {**schedule, "jobs": jobs}
    return data


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """``ARBFLOW__CROSS__MIN_NET_EDGE_BPS=25`` overrides ``[cross] min_net_edge_bps``; values parse as TOML."""
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key (``[venues.binance]`` alone keeps okx and htx); any other value replaces the default."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        msg = f"config file {path} does not exist"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"config file {path} is not valid TOML: {exc}"
        raise ConfigError(msg) from None


def _problem(err: Any) -> str:
    """``source.batch_rows: Input should be ...``; a whole-config check has no field, so only its message."""
    where = ".".join(str(p) for p in err["loc"])
    text = err["msg"].removeprefix("Value error, ")
    return f"{where}: {text}" if where else text


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the defaults, merge the user's file over them table by table, apply the environment, validate.

    Raises ConfigError naming the offending key (every problem, not only the first).
    """
    data = _read_toml(DEFAULT_CONFIG)
    path = Path(path) if path else DEFAULT_CONFIG
    if path.resolve() != DEFAULT_CONFIG.resolve():
        data = _merge(data, _read_toml(path))
    data = _apply_env(data, dict(os.environ) if environ is None else environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors(include_url=False))
        msg = f"invalid configuration in {path} (or ARBFLOW__ env overrides): {problems}"
        raise ConfigError(msg) from None
