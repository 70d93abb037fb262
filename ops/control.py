"""Start and stop the dataflow from the API, under the Supervisor; describe the configured collectors and strategies.

The dataflow is one ``python -m bytewax.run`` process (the command the CLI and the container run) with a Bytewax
recovery directory, so a stop followed by a start resumes where the flow stopped, and a crash is restarted by the
Supervisor with backoff. A Supervisor runs one child once, so every start makes a new one; only one can run at a time.

Collectors (the venue feeds of a live run, or the venues in a replay) run *inside* that process: there is no
separate collector process per venue, so starting or stopping collectors starts or stops the dataflow as a whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbflow.settings import Settings
from connectors.runs import last_run, mark_partial
from ops.alerts import Alert
from ops.errors import ApiError, ErrorCode
from ops.flow_process import flow_argv, flow_env, init_recovery
from ops.overview import feed_health, strategy_counts
from ops.supervisor import RestartPolicy, Supervisor, SupervisorStatus

ACTIVE = ("running", "backoff")


@dataclass(frozen=True)
class FlowCommand:
    """How the API launches the dataflow: command line, environment (None = inherit), working dir, recovery dir."""

    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: str | Path | None = None
    recovery_dir: Path | None = None  # created (bytewax.recovery) before the first start


def default_flow_command(
    settings: Settings, config_path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> FlowCommand:
    """The flow of ``config_path`` with recovery in ``<data_dir>/recovery/dataflow`` (snapshots every second).

    The child inherits the API's environment (so the same ``ARBFLOW__`` overrides apply), plus ``overrides``
    (``{"source.speed": 20}``), and is pinned to the API's data directory, so the flow writes where the API reads.
    """
    data_dir = Path(settings.sinks.data_dir)
    recovery = data_dir / "recovery" / "dataflow"
    env = flow_env({**(overrides or {}), "sinks.data_dir": str(data_dir)})
    return FlowCommand(flow_argv(config_path, 1, recovery, 1), env, None, recovery)


class FlowControl:
    """One supervised dataflow at a time; thread-safe (routes run in a thread pool).

    ``command`` None: this process cannot launch the flow (start is a 409), but ``supervisor``, a Supervisor started
    elsewhere, is still reported and can be stopped.
    """

    def __init__(
        self,
        command: FlowCommand | None,
        policy: RestartPolicy,
        on_alert: Callable[[Alert], None] | None = None,
        supervisor: Supervisor | None = None,
        *,
        data_dir: Path | None = None,
        replay: bool = True,
    ) -> None:
        self.command, self.policy, self.on_alert = command, policy, on_alert
        self.data_dir, self.replay = data_dir, replay  # where the flow records its runs; False for a live source
        self._supervisor = supervisor  # an externally started one is reported and can be stopped
        self._starts = 0
        self._lock = threading.Lock()

    @property
    def supervisor(self) -> Supervisor | None:
        return self._supervisor

    def status(self) -> SupervisorStatus | None:
        return self._supervisor.status() if self._supervisor is not None else None

    def start(self) -> SupervisorStatus:
        """Launch the flow under a new Supervisor; 409 (INVALID_STATE) while one is running or backing off."""
        with self._lock:
            if self.command is None:
                raise ApiError(
                    ErrorCode.INVALID_STATE,
                    "this API process has no flow command: serve it with `arbflow serve`",
                )
            current = self.status()
            if current is not None and current.state in ACTIVE:
                raise ApiError(ErrorCode.INVALID_STATE, f"the dataflow is already {current.state} (pid {current.pid})")
            self._check_input_left()
            if self.command.recovery_dir is not None:
                init_recovery(self.command.recovery_dir)
            sup = Supervisor(
                self.command.argv,
                self.policy,
                name="dataflow",
                on_alert=self.on_alert,
                cwd=self.command.cwd,
                env=self.command.env,
            )
            sup.start()
            self._supervisor = sup
            self._starts += 1
            return sup.status()

    def _check_input_left(self) -> None:
        """409 NOTHING_TO_REPLAY when the last run replayed its whole input and a start would resume at its end."""
        recovery = self.command.recovery_dir if self.command is not None else None
        if not self.replay or self.data_dir is None or recovery is None or not any(Path(recovery).glob("*")):
            return
        run = last_run(self.data_dir)
        if run is not None and run["status"] == "complete":
            msg = (
                f"run {run['run_id']} ({run['source']}) replayed its whole input (ended {run['ended']}); resuming "
                f"from {recovery} would replay nothing: delete that directory to replay the input again"
            )
            raise ApiError(ErrorCode.NOTHING_TO_REPLAY, msg)

    def stop(self, timeout_s: float = 20.0) -> SupervisorStatus:
        """SIGTERM the flow (SIGKILL after ``timeout_s``) and keep it down; 409 when nothing runs. A run that had
        not reached the end of its input is recorded as ``partial`` (``summary`` and ``status`` say so)."""
        with self._lock:
            current = self.status()
            if self._supervisor is None or current is None or current.state not in ACTIVE:
                state = current.state if current is not None else "never started"
                raise ApiError(ErrorCode.INVALID_STATE, f"the dataflow is not running ({state})")
            stopped = self._supervisor.stop(timeout_s)
            if self.data_dir is not None:
                mark_partial(self.data_dir, "stopped by POST /api/system/stop before the end of its input")
            return stopped

    def shutdown(self) -> None:
        """On API shutdown: stop a flow this API started, so no orphan keeps writing."""
        with self._lock:
            if self._starts and self._supervisor is not None and self._supervisor.status().state in ACTIVE:
                self._supervisor.stop()


def collectors(settings: Settings, data_dir: Path) -> list[dict[str, Any]]:
    """The configured venue collectors of the current source kind, with feed health from feed_events.

    Live: the ``[live]`` venues and symbols, one WebSocket connection each (transport per venue). Replay, sample
    and simulator: the venues whose recorded/simulated quotes are replayed (no network); feed_events stay empty.
    """
    kind = settings.source.kind
    venues: list[str]
    symbols: list[str]
    if kind == "live":
        venues, symbols = list(settings.live.venues), list(settings.live.symbols)
    elif kind == "replay":
        venues, symbols = sorted(settings.venues), list(settings.cleaning.symbols)
    else:
        venues, symbols = list(settings.simulator.venues), list(settings.simulator.symbols)
    health = feed_health(data_dir)
    out = []
    for venue in venues:
        feed = health.get(venue)
        out.append(
            {
                "exchange": venue,
                "source_kind": kind,
                "symbols": symbols,
                "transport": settings.live.transports.get(venue, "native") if kind == "live" else "replay",
                "taker_fee_bps": settings.venues[venue].taker_fee_bps if venue in settings.venues else None,
                "feed_up": feed["feed_up"] if feed else None,  # null: no feed event recorded (replays have none)
                "feed": feed,
            }
        )
    return out


def strategies(settings: Settings, data_dir: Path) -> list[dict[str, Any]]:
    """CeLue strategies: where each runs, whether it is enabled, its parameters and its live counts from the lake."""
    counts = strategy_counts(data_dir)
    configured = [
        ("cross", True, "flows.arbitrage (the main flow)", settings.cross.model_dump()),
        ("triangular", settings.triangular.enabled, "flows.triangular.step", settings.triangular.model_dump()),
        (
            "market_making",
            settings.market_making.enabled,
            "flows.market_making.step",
            settings.market_making.model_dump(),
        ),
    ]
    out = []
    for name, enabled, flow, params in configured:
        live = counts.get(name, {})
        out.append(
            {
                "name": name,
                "enabled": enabled,
                "flow": flow,
                "paper_traded": name in settings.risk.strategies,
                "parameters": params,
                "signals": int(live.get("signals", 0)),
                "opportunities": int(live.get("opportunities", 0)),
                "last_signal_ts": live.get("last_signal_ts"),
            }
        )
    return out
