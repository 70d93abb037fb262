"""Running the service: sinks, the quality gate, the HTTP API, logs, the system monitor and scheduled replays."""

from __future__ import annotations

from typing import Literal

from croniter import croniter
from pydantic import Field, model_validator

from arbflow.settings.base import Section


class SinksConfig(Section):
    """Outputs: a Parquet lake, with a DuckDB file of views over it."""

    data_dir: str
    write_quotes_clean: bool
    write_spreads: bool  # one row per evaluated venue pair per update: large


class QualityConfig(Section):
    """Great Expectations gate."""

    suites_dir: str  # empty = the suites shipped in the quality package
    audit_rows: int = Field(gt=0)  # GX audit chunk: at most this many judged rows ...
    audit_interval_s: float = Field(gt=0)  # ... or this span of receive clock, whichever comes first
    audit_every: int = Field(gt=0)  # GX validates one chunk in this many (by chunk number)


class ApiConfig(Section):
    """HTTP API (ops/api/). Keys come only from the environment (ARBFLOW_API_KEYS), never from this file."""

    host: str  # the container sets 0.0.0.0
    port: int = Field(ge=1, le=65535)
    rate_limit_per_min: int = Field(ge=1)  # per API key, sliding 60 s window
    cors_origins: list[str]  # empty = CORS off


class LoggingConfig(Section):
    """Structured JSON logs and the pipeline_logs retention per level (design doc: DEBUG 1 d ... FATAL 365 d)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    retention_days: dict[str, int]

    @model_validator(mode="after")
    def _every_level_kept_somehow(self) -> LoggingConfig:
        levels = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        if set(self.retention_days) != levels or min(self.retention_days.values()) < 1:
            msg = f"logging.retention_days needs exactly {sorted(levels)} with days >= 1, got {self.retention_days}"
            raise ValueError(msg)
        return self


class MonitorConfig(Section):
    """System monitor alert thresholds (design doc) and supervisor restart policy (3 retries, 5 s, x2)."""

    max_response_time_ms: float = Field(gt=0)
    max_error_rate: float = Field(ge=0, le=1)
    max_cpu_pct: float = Field(gt=0, le=100)
    max_memory_pct: float = Field(gt=0, le=100)
    max_disk_pct: float = Field(gt=0, le=100)
    heartbeat_timeout_s: float = Field(gt=0)  # a module silent for longer is unhealthy
    restart_retries: int = Field(ge=0)
    restart_initial_delay_s: float = Field(ge=0)
    restart_backoff: float = Field(ge=1)


class ScheduledJobConfig(Section):
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


class ScheduleConfig(Section):
    """Scheduled batch replays, run by ``arbflow schedule`` (foreground) or ``arbflow schedule --once JOB``."""

    jobs: list[ScheduledJobConfig]

    @model_validator(mode="after")
    def _unique_names(self) -> ScheduleConfig:
        names = [job.name for job in self.jobs]
        if len(names) != len(set(names)):
            msg = f"schedule.jobs names must be unique, got {names}"
            raise ValueError(msg)
        return self
