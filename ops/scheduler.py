"""Scheduled batch replays: ``[[schedule.jobs]]`` fire on a cron expression (UTC) and replay whole UTC days.

Each job run replays each of its days in its own ``python -m bytewax.run`` process (the same flow as ``arbflow
run``, with ``source.kind = "replay"`` over the job's ``{date}`` paths) into a fresh directory
``<output_dir>/<job>/.runs/date=<day>-<token>/``. Only when that run succeeded is the day's partition
``<output_dir>/<job>/date=<day>`` (a symlink) atomically repointed at it, and the previous run's directory deleted.

Why a symlink swap rather than deleting the partition first: the flow's sink starts a fresh data_dir empty and writes
part files as it goes, so replaying into the live partition would show readers half a day, and a failed or interrupted
run would leave it half-written. With the swap readers see the old day or the new day, never a mix, never nothing;
a failed run leaves the previous partition untouched; and a re-run leaves exactly one copy (the old directory is
removed under the job's lock). ``<output_dir>/<job>/arbflow.duckdb`` holds views over every day of the job, so
``arbflow query NAME --data-dir <output_dir>/<job>`` spans them; each day also has its own ``arbflow.duckdb``.

The foreground loop (``Scheduler.run_forever``) coalesces fires missed while a job ran into one, and stops within
a fraction of a second when its stop event is set (SIGTERM in ``arbflow schedule``), terminating a running replay:
its partition keeps the previous run. Starting and watching the flow process itself is ops/flow_process.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

import duckdb
from croniter import croniter

from arbflow.settings import ScheduledJobConfig
from connectors import lake
from connectors.logs import HeartbeatWriter, with_fields
from connectors.replay import expand
from ops.flow_process import flow_argv, flow_env, lake_rows, run_flow

log = logging.getLogger(__name__)
Status = Literal["ok", "failed", "no_input", "interrupted"]


# ---- jobs -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayRun:
    """What one job run did for one UTC day (also what ``<job>/_state.json`` records per day)."""

    job: str
    day: str  # YYYY-MM-DD
    status: Status
    started: str  # wall clock, UTC ISO-8601
    finished: str
    input_files: int
    quotes: int  # rows in quotes_clean + quotes_rejected of the new partition
    partition: str
    detail: str = ""


def next_fire(cron: str, after: datetime) -> datetime:
    """The first fire time of ``cron`` (UTC) strictly after ``after``."""
    return croniter(cron, after.astimezone(UTC)).get_next(datetime)


def job_days(job: ScheduledJobConfig, fire: datetime) -> list[date]:
    """UTC days a run fired at ``fire`` replays: ``days`` days starting ``days_back`` before the fire date."""
    first = fire.astimezone(UTC).date() - timedelta(days=job.days_back)
    return [first + timedelta(days=i) for i in range(job.days)]


def job_root(job: ScheduledJobConfig) -> Path:
    return Path(job.output_dir) / job.name


def job_inputs(job: ScheduledJobConfig, day: date) -> list[Path]:
    """The day's input files (``{date}`` in the paths = YYYY-MM-DD); raises FileNotFoundError naming the glob."""
    return expand([p.replace("{date}", day.isoformat()) for p in job.paths])


@contextlib.contextmanager
def _job_lock(root: Path) -> Iterator[None]:
    """One run of a job at a time, across processes (a foreground scheduler and a cron ``--once`` may overlap)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _swap(partition: Path, run_dir: Path) -> None:
    """Atomically point the partition symlink at ``run_dir``; delete what it pointed at before."""
    if partition.exists() and not partition.is_symlink():
        msg = f"{partition} is a real directory; scheduled jobs own their partitions as symlinks: move it away"
        raise FileExistsError(msg)
    old = partition.resolve() if partition.is_symlink() else None
    tmp = partition.with_name(f".{partition.name}.link")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(run_dir, partition.parent))
    os.replace(tmp, partition)
    if old is not None and old != run_dir.resolve():
        shutil.rmtree(old, ignore_errors=True)


def _sweep(root: Path, day: date) -> None:
    """Delete leftovers of the day's crashed or interrupted runs (directories no partition points at)."""
    partition = root / f"date={day}"
    current = partition.resolve() if partition.is_symlink() else None
    for path in (root / ".runs").glob(f"date={day}-*"):
        if path.resolve() != current:
            shutil.rmtree(path, ignore_errors=True)


def job_views(root: Path) -> Path:
    """(Re)write ``<root>/arbflow.duckdb``: one view per table over every day partition of the job."""
    schemas = lake.table_schemas()
    db_path = root / "arbflow.duckdb"
    tmp = root / f".arbflow.duckdb.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    config: dict[str, Any] = dict(lake.DUCKDB_CONFIG)
    con = duckdb.connect(str(tmp), config=config)
    base = str(root.resolve()).replace("'", "''")
    try:
        for table in sorted(schemas):
            con.execute(
                f'create or replace view "{table}" as select * from '
                f"read_parquet('{base}/date=*/lake/{table}/**/*.parquet', union_by_name = true, "
                "hive_partitioning = false)"
            )
    except duckdb.Error:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, db_path)
    return db_path


def _write_state(root: Path, run: DayRun) -> None:
    path = root / "_state.json"
    state = read_state(root)
    state["job"] = run.job
    days = state.setdefault("days", {})
    if run.status == "ok" or run.day not in days or days[run.day]["status"] != "ok":
        days[run.day] = asdict(run)  # per day: the run its partition holds (a later failure leaves it in place)
    state["last"] = asdict(run)
    tmp = path.with_name(".state.json.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_state(root: str | Path) -> dict[str, Any]:
    """The job's recorded runs: ``{"job", "last": DayRun, "days": {day: DayRun}}`` (empty before the first run)."""
    try:
        return json.loads((Path(root) / "_state.json").read_text())
    except FileNotFoundError:
        return {}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_day(job: ScheduledJobConfig, day: date, config: str | Path | None, stop: threading.Event | None = None,
            poll: Callable[[], None] | None = None) -> DayRun:  # fmt: skip
    """Replay one UTC day of a job into a fresh directory, then swap it in as the day's partition."""
    root = job_root(job)
    partition = root / f"date={day}"
    started = _now()

    def done(status: Status, files: int, quotes: int, detail: str = "") -> DayRun:
        run = DayRun(job.name, day.isoformat(), status, started, _now(), files, quotes, str(partition), detail)
        _write_state(root, run)
        level = logging.INFO if status == "ok" else logging.WARNING
        log.log(level, "scheduled replay %s", status, **with_fields(**asdict(run)))
        return run

    with _job_lock(root):
        _sweep(root, day)
        try:
            files = job_inputs(job, day)
        except FileNotFoundError as exc:
            return done("no_input", 0, 0, str(exc))
        run_dir = root / ".runs" / f"date={day}-{time.time_ns()}"
        run_dir.mkdir(parents=True)
        overrides = {"source.kind": "replay", "source.paths": [str(f.resolve()) for f in files],
                     "sinks.data_dir": str(run_dir.resolve())}  # fmt: skip
        log_path = root / "_logs" / f"date={day}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as output:
            code = run_flow(flow_argv(job.config or config, job.workers), flow_env(overrides), output, stop, poll)
        if code != 0:
            shutil.rmtree(run_dir, ignore_errors=True)
            interrupted = stop is not None and stop.is_set()
            tail = log_path.read_text()[-2000:]
            detail = "stopped; the partition keeps its previous run" if interrupted else f"exit {code}: {tail}"
            return done("interrupted" if interrupted else "failed", len(files), 0, detail)
        try:
            _swap(partition, run_dir)
        except OSError as exc:  # e.g. a real directory where the partition symlink belongs
            shutil.rmtree(run_dir, ignore_errors=True)
            return done("failed", len(files), 0, str(exc))
        job_views(root)
        return done("ok", len(files), lake_rows(run_dir))


def run_job(job: ScheduledJobConfig, fire: datetime, config: str | Path | None, stop: threading.Event | None = None,
            poll: Callable[[], None] | None = None) -> list[DayRun]:  # fmt: skip
    """Every day of one firing, in order; stops early when ``stop`` is set."""
    runs = []
    for day in job_days(job, fire):
        if stop is not None and stop.is_set():
            break
        runs.append(run_day(job, day, config, stop, poll))
    return runs


class Scheduler:
    """Runs due jobs in the foreground, one at a time, until ``stop`` is set.

    ``clock`` (UTC now) is injectable so the fire logic can be driven in tests; the wait between fires uses the
    stop event, so a stop request is honoured within ``max_wait_s``.
    """

    def __init__(
        self,
        jobs: Sequence[ScheduledJobConfig],
        config: str | Path | None,
        data_dir: str | Path,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_wait_s: float = 1.0,
    ) -> None:
        self.jobs, self.config, self.clock, self.max_wait_s = list(jobs), config, clock, max_wait_s
        self.heartbeat = HeartbeatWriter(Path(data_dir) / "heartbeats", "scheduler")
        self.runs: list[DayRun] = []
        self._last_beat_s = 0.0

    def _beat(self, running: str) -> None:
        """Heartbeat (ops/monitor.py reads it): also while a long replay runs, at most once a second."""
        if running and time.monotonic() - self._last_beat_s < 1.0:
            return
        latest = {r.job: r for r in self.runs}  # healthy again once a failed job's next run succeeds
        failed = sorted(job for job, run in latest.items() if run.status == "failed")
        detail = f"last run failed: {failed}" if failed else (f"running {running}" if running else "")
        self.heartbeat.beat(not failed, detail, day_runs=len(self.runs))
        self._last_beat_s = time.monotonic()

    def run_forever(self, stop: threading.Event) -> list[DayRun]:
        start = self.clock()
        due = {job.name: next_fire(job.cron, start) for job in self.jobs}
        log.info("scheduler started", **with_fields(jobs={n: t.isoformat() for n, t in due.items()}))
        while not stop.is_set():
            now = self.clock()
            for job in sorted(self.jobs, key=lambda j: (due[j.name], j.name)):
                if due[job.name] > now or stop.is_set():
                    continue
                try:
                    self.runs.extend(run_job(job, due[job.name], self.config, stop, partial(self._beat, job.name)))
                except Exception:  # a bug or a full disk in one job must not stop the others' schedule
                    log.exception("scheduled job crashed", **with_fields(job=job.name))
                due[job.name] = next_fire(job.cron, max(self.clock(), due[job.name]))  # missed fires coalesce
            self._beat("")
            wait_s = (min(due.values(), default=now + timedelta(hours=1)) - self.clock()).total_seconds()
            stop.wait(min(max(wait_s, 0.0), self.max_wait_s))
        log.info("scheduler stopped", **with_fields(day_runs=len(self.runs)))
        return self.runs
