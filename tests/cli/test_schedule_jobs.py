"""Scheduled batch replays: a job on a per-second cron fires, writes its day partition, and a second firing leaves
exactly one copy (and no stale rows); `--once` runs a single job; SIGTERM stops the foreground scheduler cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from arbflow.errors import ConfigError
from arbflow.settings import ScheduledJobConfig, load_settings
from ops.scheduler import Scheduler, job_days, next_fire, read_state
from tests.cli.conftest import ARBFLOW, SMALL, Market, count, invoke


def job_env(capture: Path, output: Path, cron: str = "* * * * * *") -> dict[str, str]:
    paths = json.dumps([str(capture / "exchange=*" / "date={date}" / "*.parquet")])
    job = f'{{name = "daily", cron = "{cron}", paths = {paths}, days_back = 1, output_dir = "{output}"}}'
    return {"ARBFLOW__SCHEDULE__JOBS": f"[{job}]", "ARBFLOW__SINKS__DATA_DIR": str(output.parent / "data")}


def partition_rows(partition: Path) -> tuple[int, int, set[str]]:
    """(quotes in, distinct quote ids, venues) of one day partition."""
    quotes_in = count(partition, "select (select count(*) from quotes_clean) + (select count(*) from quotes_rejected)")
    distinct = count(partition, "select count(distinct quote_id) from quotes_clean")
    con = duckdb.connect(str(partition / "arbflow.duckdb"), read_only=True)
    venues = {r[0] for r in con.execute("select distinct exchange from quotes_clean").fetchall()}
    con.close()
    return quotes_in, distinct, venues


def test_cron_fire_times_and_the_previous_utc_day() -> None:
    every_second = "* * * * * *"
    t = datetime(2026, 3, 1, 0, 0, 0, 400_000, tzinfo=UTC)
    assert next_fire(every_second, t) == datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC)
    assert next_fire("15 0 * * *", t) == datetime(2026, 3, 1, 0, 15, tzinfo=UTC)
    job = ScheduledJobConfig(name="d", cron="15 0 * * *", paths=["x/{date}.parquet"], days_back=1, days=2)
    assert job_days(job, datetime(2026, 3, 1, 0, 15, tzinfo=UTC)) == [date(2026, 2, 28), date(2026, 3, 1)]


def test_a_bad_cron_expression_is_a_config_error_naming_the_job() -> None:
    bad = '[{name = "nightly", cron = "61 * * * *", paths = ["x"]}]'
    with pytest.raises(ConfigError, match="nightly.*not a valid cron"):
        load_settings(environ={"ARBFLOW__SCHEDULE__JOBS": bad})


def test_once_without_input_fails_and_leaves_no_partition(tmp_path: Path) -> None:
    env = job_env(tmp_path / "empty-capture", tmp_path / "jobs")
    result = invoke("schedule", "--once", "daily", env=env)
    assert result.exit_code == 1 and "no_input" in result.output
    assert not list((tmp_path / "jobs" / "daily").glob("date=*"))
    assert invoke("schedule", "--once", "weekly", env=env).exit_code == 2  # unknown job: says which exist


def test_scheduled_replay_replaces_its_partition_exactly_once(tmp_path: Path, market: Market) -> None:
    capture = tmp_path / "capture"
    shutil.copytree(market.capture, capture)
    jobs = tmp_path / "jobs"
    env = job_env(capture, jobs)
    partition = jobs / "daily" / f"date={market.day}"
    total = pl.read_parquet(market.out / "quotes.parquet")

    # First: a single run, as cron / a systemd timer / a Kubernetes CronJob would start it.
    once = invoke("schedule", "--once", "daily", env=env)
    assert once.exit_code == 0, once.output
    assert f"daily {market.day}: ok, {total.height:,} quotes" in " ".join(once.output.split())
    quotes_in, distinct, venues = partition_rows(partition)
    assert quotes_in == total.height and venues == {"binance", "okx", "htx"}
    first_run = read_state(jobs / "daily")["days"][str(market.day)]

    # The day's input changes (okx's file is withdrawn); the foreground scheduler fires again on its cron.
    shutil.rmtree(capture / "exchange=okx")
    expected = total.filter(pl.col("exchange") != "okx").height
    proc = subprocess.Popen([ARBFLOW, "schedule"], env=_subprocess_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            state = read_state(jobs / "daily").get("days", {}).get(str(market.day), {})
            if state.get("status") == "ok" and state["finished"] != first_run["finished"] or proc.poll() is not None:
                break
            assert time.monotonic() < deadline, "the scheduled job did not fire"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)  # may land while the next per-second firing runs: it must stop cleanly
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "scheduler stopped" in out

    quotes_in, distinct, venues = partition_rows(partition)
    assert quotes_in == expected and venues == {"binance", "htx"}  # no stale okx rows
    assert distinct == count(partition, "select count(*) from quotes_clean")  # no duplicates
    runs = list((jobs / "daily" / ".runs").iterdir())
    assert runs == [partition.resolve()]  # exactly one copy on disk
    assert count(jobs / "daily", "select count(*) from quotes_clean") == count(
        partition, "select count(*) from quotes_clean"
    )  # the job-wide views see that one copy
    beat = json.loads((tmp_path / "data" / "heartbeats" / "scheduler.json").read_text())
    assert beat["ok"] is True


def _subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ARBFLOW__")} | SMALL | extra


def test_fires_missed_while_a_job_ran_coalesce_into_one(tmp_path: Path) -> None:
    """An injected clock that jumps 5 s per reading: every loop finds several per-second fires missed and runs the
    job once for all of them (the job has no input, so each run is quick and real)."""
    job = ScheduledJobConfig(name="tick", cron="* * * * * *", paths=[str(tmp_path / "in-{date}.parquet")],
                             output_dir=str(tmp_path / "jobs"))  # fmt: skip
    t0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    readings: list[datetime] = []
    stop = threading.Event()

    def clock() -> datetime:
        now = t0 + timedelta(seconds=5 * len(readings))
        readings.append(now)
        if now >= t0 + timedelta(seconds=60):
            stop.set()
        return now

    runs = Scheduler([job], None, tmp_path / "data", clock=clock, max_wait_s=0.01).run_forever(stop)
    # Readings: the start, then three per loop (now, after the run, before the wait): loops at +5, +20, +35, +50 s.
    # Each finds its missed per-second fires and runs once; the reading at +60 s stops the loop.
    assert len(runs) == 4 and len(readings) == 13
    assert {r.status for r in runs} == {"no_input"}
    assert {r.day for r in runs} == {"2026-02-28"}  # the previous UTC day
