"""Supervise the dataflow process: restart a crashed child with exponential backoff, then give up loudly.

Design doc fault recovery: 3 retries, 5 s initial delay, doubling (5, 10, 20 s). A child that exits 0 is done and not
restarted; a child that exits non-zero or dies by a signal is restarted with the same command line, so a Bytewax flow
started with a recovery directory resumes from its last snapshot. When the retries are used up the supervisor stays
down, raises a critical ``restarts_exhausted`` alert and reports ``failed``.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from arbflow.settings import MonitorConfig
from connectors.logs import with_fields
from ops.alerts import Alert

State = Literal["idle", "running", "backoff", "exited", "failed", "stopped"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    """How often and how patiently a crashed child is restarted (the ``[monitor] restart_*`` keys)."""

    retries: int
    initial_delay_s: float
    backoff: float

    @classmethod
    def from_config(cls, cfg: MonitorConfig) -> RestartPolicy:
        return cls(cfg.restart_retries, cfg.restart_initial_delay_s, cfg.restart_backoff)

    def delays_s(self) -> list[float]:
        """Wait before restart 1..retries: initial * backoff**k (5, 10, 20 s by default)."""
        return [self.initial_delay_s * self.backoff**k for k in range(self.retries)]


@dataclass(frozen=True)
class SupervisorStatus:
    """What ``/api/system/status`` reports about the supervised process."""

    name: str
    state: State
    pid: int | None
    restarts: int
    last_exit_code: int | None  # negative = killed by that signal (subprocess convention)
    started_at: datetime | None  # wall clock (UTC) of the current/last child start
    next_restart_in_s: float | None  # while in backoff


class Supervisor:
    """Runs ``argv`` in a background thread and keeps it running under ``policy``.

    Args:
        argv: the command line, e.g. ``[python, "-m", "bytewax.run", "flows.arbitrage:flow", "-r", "data/recovery"]``.
        policy: restart retries and backoff.
        name: subject used in status and alerts.
        on_alert: receives the critical alert when retries are exhausted (e.g. ``AlertLog.raise_alert``).
        cwd, env: passed to the child.

    ``delays_waited_s`` lists the backoff delays actually waited, in order (for status pages and tests).
    """

    def __init__(
        self,
        argv: Sequence[str],
        policy: RestartPolicy,
        *,
        name: str = "dataflow",
        on_alert: Callable[[Alert], None] | None = None,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not argv:
            msg = "Supervisor needs a non-empty command line"
            raise ValueError(msg)
        self.argv = list(argv)
        self.policy = policy
        self.name = name
        self.on_alert = on_alert
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.delays_waited_s: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._state: State = "idle"
        self._restarts = 0
        self._last_exit: int | None = None
        self._started_at: datetime | None = None
        self._backoff_until: float | None = None

    def start(self) -> None:
        """Start the child and its watcher thread; starting twice is an error."""
        with self._lock:
            if self._thread is not None:
                msg = f"supervisor {self.name!r} was already started"
                raise RuntimeError(msg)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"supervisor-{self.name}", daemon=True)
            self._spawn()
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> SupervisorStatus:
        """Terminate the child (SIGTERM, then SIGKILL after ``timeout_s``) and do not restart it."""
        self._stop.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.status()

    def request_stop(self) -> None:
        """Ask for a stop without blocking (safe inside a signal handler); ``stop()`` then ends the child."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout_s: float | None = None) -> SupervisorStatus:
        """Block until the supervisor is done (child exited 0, gave up, or stopped)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.status()

    def status(self) -> SupervisorStatus:
        with self._lock:
            alive = self._proc is not None and self._proc.poll() is None
            backoff = max(0.0, self._backoff_until - time.monotonic()) if self._backoff_until is not None else None
            return SupervisorStatus(
                name=self.name,
                state=self._state,
                pid=self._proc.pid if alive and self._proc is not None else None,
                restarts=self._restarts,
                last_exit_code=self._last_exit,
                started_at=self._started_at,
                next_restart_in_s=backoff if self._state == "backoff" else None,
            )

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env)
        self._state = "running"
        self._started_at = datetime.now(UTC)
        log.info("child started", **with_fields(name=self.name, pid=self._proc.pid, restarts=self._restarts))

    def _run(self) -> None:
        delays = self.policy.delays_s()
        while True:
            assert self._proc is not None
            code = self._proc.wait()
            with self._lock:
                self._last_exit = code
                if self._stop.is_set():
                    self._state = "stopped"
                    log.info("child stopped", **with_fields(name=self.name, exit_code=code))
                    return
                if code == 0:
                    self._state = "exited"
                    log.info("child finished", **with_fields(name=self.name, restarts=self._restarts))
                    return
                if self._restarts >= len(delays):
                    break
                delay_s = delays[self._restarts]
                self._state = "backoff"
                self._backoff_until = time.monotonic() + delay_s
            log.error(
                "child crashed, restarting",
                **with_fields(name=self.name, exit_code=code, attempt=self._restarts + 1, delay_s=delay_s),
            )
            self.delays_waited_s.append(delay_s)
            if self._stop.wait(delay_s):
                with self._lock:
                    self._state = "stopped"
                    self._backoff_until = None
                return
            with self._lock:
                self._backoff_until = None
                if self._stop.is_set():  # stop() raced the end of the backoff: never spawn after it
                    self._state = "stopped"
                    return
                self._restarts += 1
                self._spawn()
        self._give_up(code)
        with self._lock:
            self._state = "failed"  # only once the alert is out: whoever sees "failed" can also find the alert

    def _give_up(self, code: int) -> None:
        alert = Alert(
            ts=datetime.now(UTC),
            source="supervisor",
            kind="restarts_exhausted",
            severity="critical",
            subject=self.name,
            message=f"{self.name} crashed (exit {code}) after {self._restarts} restarts; staying down",
            value=float(self._restarts),
            threshold=float(self.policy.retries),
        )
        if self.on_alert is not None:
            self.on_alert(alert)
        else:
            log.critical(alert.message, **with_fields(name=self.name, exit_code=code, restarts=self._restarts))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.supervisor [options] -- CMD...``: run CMD under the restart policy of the config.

    Exit status: 0 when the child finished cleanly or was stopped (SIGTERM/SIGINT, e.g. ``docker stop``), 1 when
    the retries ran out. Alerts go to ``<data_dir>/lake/system_alerts``; a heartbeat file names it ``supervisor``.
    """
    import argparse
    import signal

    from arbflow.settings import load_settings
    from connectors.logs import HeartbeatWriter, configure_logging
    from ops.alerts import AlertLog

    parser = argparse.ArgumentParser(prog="python -m ops.supervisor", description=main.__doc__)
    parser.add_argument("--config", help="TOML config ([monitor] restart_* and [sinks] data_dir)")
    parser.add_argument("--name", default="dataflow", help="subject of status and alerts")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="the command to supervise, after --")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("give the command to supervise after --")
    settings = load_settings(args.config)
    configure_logging(settings.logging.level)
    data_dir = Path(settings.sinks.data_dir)
    alerts = AlertLog(data_dir / "lake")
    sup = Supervisor(cmd, RestartPolicy.from_config(settings.monitor), name=args.name, on_alert=alerts.raise_alert)
    heartbeat = HeartbeatWriter(data_dir / "heartbeats", "supervisor")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sup.request_stop())
    sup.start()
    while True:
        status = sup.wait(timeout_s=1.0)
        heartbeat.beat(status.state in ("running", "backoff"), status.state, restarts=float(status.restarts))
        if sup.stop_requested and status.state in ("running", "backoff"):
            status = sup.stop()
        if status.state in ("exited", "failed", "stopped"):
            status = sup.wait()  # join the watcher: the critical alert must be on disk before we exit
            return 1 if status.state == "failed" else 0


if __name__ == "__main__":
    raise SystemExit(main())
