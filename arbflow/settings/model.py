"""``Settings``: every section of a run, and the checks that span sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import model_validator

from arbflow.errors import ConfigError
from arbflow.settings.base import Section
from arbflow.settings.risk import RiskConfig
from arbflow.settings.service import ApiConfig, LoggingConfig, MonitorConfig, QualityConfig, ScheduleConfig, SinksConfig
from arbflow.settings.sources import CleaningConfig, LiveConfig, SimulatorConfig, SourceConfig, VenueConfig
from arbflow.settings.strategies import CrossConfig, EpisodesConfig, MarketMakingConfig, TriangularConfig, WindowsConfig


class Settings(Section):
    """Everything a run needs. No key has a default in code: config/default.toml, which ``load_settings`` always
    reads first, is the one place defaults live (a key missing there fails validation, naming it)."""

    source: SourceConfig
    simulator: SimulatorConfig
    venues: dict[str, VenueConfig]
    cleaning: CleaningConfig
    cross: CrossConfig
    windows: WindowsConfig
    sinks: SinksConfig
    quality: QualityConfig
    live: LiveConfig
    api: ApiConfig
    logging: LoggingConfig
    monitor: MonitorConfig
    triangular: TriangularConfig
    market_making: MarketMakingConfig
    episodes: EpisodesConfig
    risk: RiskConfig
    schedule: ScheduleConfig

    @model_validator(mode="before")
    @classmethod
    def _venue_keys_follow_the_source(cls, data: Any) -> Any:
        """Unset keys that name venues default to the venues the source trades, so a two-venue config builds."""
        if not isinstance(data, dict):
            return data
        venues = _source_venues(data)
        data = _under_data_dir(data)
        risk = data.get("risk", {})
        venue_balance = risk.get("venue_balance") if isinstance(risk, dict) else None
        for section, key, value in (
            ("triangular", "exchanges", venues),
            ("market_making", "exchanges", venues[:1]),
            ("risk", "balances", {venue: dict(venue_balance) for venue in venues} if venue_balance else None),
        ):
            table = data.get(section, {})
            if isinstance(table, dict) and key not in table and value is not None:
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

    def get(section: str, key: str) -> Any:
        table = data.get(section, {})
        return table.get(key) if isinstance(table, dict) else getattr(table, key, None)

    venues = get("live", "venues") if get("source", "kind") == "live" else get("simulator", "venues")
    return list(venues) if isinstance(venues, list | tuple) else []  # missing: validation names the key


def _under_data_dir(data: dict[str, Any]) -> dict[str, Any]:
    """What arbflow writes goes under sinks.data_dir, so a read-only working directory will do: ``{data_dir}`` in
    live.capture_dir and in scheduled jobs' paths is sinks.data_dir, and a job's unset output_dir is
    ``<data_dir>/jobs``."""
    sinks, schedule, live = data.get("sinks", {}), data.get("schedule", {}), data.get("live", {})
    data_dir = sinks.get("data_dir") if isinstance(sinks, dict) else getattr(sinks, "data_dir", None)
    if not isinstance(data_dir, str):
        return data  # missing or mistyped: validation names sinks.data_dir

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
