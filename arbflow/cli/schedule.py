"""``arbflow schedule``: the scheduled batch replays of ops/scheduler.py, in the foreground or one job now."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer

from arbflow.cli.common import ConfigOpt, OutputFormat, console, fail, print_rows, settings_for
from connectors.logs import configure_logging
from ops.scheduler import Scheduler, job_root, next_fire, run_job


def schedule(
    config: ConfigOpt = None,
    once: Annotated[str | None, typer.Option("--once", "--run-once", help="Run this job now, then exit.")] = None,
    list_jobs: Annotated[bool, typer.Option("--list", "-l", help="List the jobs and their next fire times.")] = False,
) -> None:
    """Run the scheduled batch replays ([[schedule.jobs]] in the config) in the foreground; SIGTERM/Ctrl-C stops.

    `--once JOB` runs one job and exits non-zero if a day failed or had no input: what cron, a systemd timer or a
    Kubernetes CronJob should call. Re-running a job replaces its output partitions.
    """
    settings = settings_for(config)
    jobs = {job.name: job for job in settings.schedule.jobs}
    if list_jobs:
        now = datetime.now(UTC)
        rows = [(j.name, j.cron, next_fire(j.cron, now), ", ".join(j.paths), str(job_root(j))) for j in jobs.values()]
        print_rows(["job", "cron", "next fire (UTC)", "input", "output"], rows, OutputFormat.table, "scheduled jobs")
        return
    configure_logging(settings.logging.level)  # JSON lines on stderr: each day run as it finishes
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if once is not None:
        if once not in jobs:
            raise fail(f"no job {once!r} in [[schedule.jobs]]; jobs: {sorted(jobs)}")
        runs = run_job(jobs[once], datetime.now(UTC), config, stop)
        for day_run in runs:
            detail = f" ({day_run.detail[:300]})" if day_run.detail else ""
            console.print(f"{day_run.job} {day_run.day}: {day_run.status}, {day_run.quotes:,} quotes -> "
                          f"{day_run.partition}{detail}")  # fmt: skip
        raise typer.Exit(0 if runs and all(r.status == "ok" for r in runs) else 1)
    if not jobs:
        raise fail("no [[schedule.jobs]] in the configuration: nothing to schedule")
    console.print(f"scheduler: {len(jobs)} job(s): " + ", ".join(f"{n} ({j.cron})" for n, j in jobs.items()))
    scheduler = Scheduler(list(jobs.values()), config, settings.sinks.data_dir)
    for day_run in scheduler.run_forever(stop):
        console.print(f"{day_run.job} {day_run.day}: {day_run.status}, {day_run.quotes:,} quotes")
    console.print("scheduler stopped")
