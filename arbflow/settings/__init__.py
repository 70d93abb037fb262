"""Validated settings: a TOML file, then ``ARBFLOW__SECTION__KEY`` environment overrides.

A wrong key or value fails at start with a message naming it. Secrets never live in these files: they come only from
the environment. The models declare types and bounds only: every default is in config/default.toml (read first, so a
key missing there fails naming it), following the design doc ("5.1 arbitrage system"); fractions there are basis
points here (``min_spread 0.003`` -> ``min_net_edge_bps = 30``). One module per concern: ``sources`` (what comes in),
``strategies``, ``risk``, ``service`` (sinks, API, logs, monitor, schedule), ``model`` (the whole ``Settings``) and
``load`` (file + environment -> ``Settings``).
"""

from arbflow.settings.load import ENV_PREFIX, load_settings
from arbflow.settings.model import Settings
from arbflow.settings.risk import RiskConfig
from arbflow.settings.service import (
    ApiConfig,
    LoggingConfig,
    MonitorConfig,
    QualityConfig,
    ScheduleConfig,
    ScheduledJobConfig,
    SinksConfig,
)
from arbflow.settings.sources import CleaningConfig, LiveConfig, SimulatorConfig, SourceConfig, VenueConfig
from arbflow.settings.strategies import (
    USD_QUOTES,
    CrossConfig,
    EpisodesConfig,
    MarketMakingConfig,
    TriangularConfig,
    WindowsConfig,
)

__all__ = [
    "ENV_PREFIX",
    "USD_QUOTES",
    "ApiConfig",
    "CleaningConfig",
    "CrossConfig",
    "EpisodesConfig",
    "LiveConfig",
    "LoggingConfig",
    "MarketMakingConfig",
    "MonitorConfig",
    "QualityConfig",
    "RiskConfig",
    "ScheduleConfig",
    "ScheduledJobConfig",
    "Settings",
    "SimulatorConfig",
    "SinksConfig",
    "SourceConfig",
    "TriangularConfig",
    "VenueConfig",
    "WindowsConfig",
    "load_settings",
]
