"""The ``arbflow`` command line: run, replay, capture and simulate the pipeline; query, inspect and serve its results;
run scheduled batch replays.

Flows always run as their own ``python -m bytewax.run`` process (what the README and the container run), so a CLI
run behaves exactly like a deployed one; the CLI only chooses the config overrides (``ARBFLOW__SECTION__KEY``), watches
the lake, and reports.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import signal
import threading
import time
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import duckdb
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from arbflow.errors import ConfigError
from arbflow.settings import Settings, SimulatorConfig, load_settings
from connectors import lake, runs
from connectors.capture import CaptureWriter
from connectors.formats import resolve as resolve_format
from connectors.logs import configure_logging, read_heartbeats
from connectors.replay import expand
from connectors.resources import DEFAULT_CONFIG
from connectors.simulator import DEFAULT_START, simulate
from ops import queries
from ops.scheduler import (
    Scheduler,
    flow_argv,
    flow_env,
    init_recovery,
    job_root,
    lake_rows,
    next_fire,
    read_state,
    run_flow,
    run_job,
)

app = typer.Typer(
    help="arbflow: a replayable crypto-arbitrage pipeline on Bytewax.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: no Markdown or Rich markup eats `*`, `<name>` or `[section]`
)
console = Console()
errors = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file, merged over the defaults.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", "-d", help="Lake directory (default: sinks.data_dir).")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", min=1, help="Bytewax worker threads.")]
DAY = "%Y-%m-%d"


class SourceKind(str, Enum):
    sample = "sample"
    replay = "replay"
    simulator = "simulator"
    live = "live"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv or json.")]


@app.callback()
def main() -> None:
    """Run, replay, query and operate the arbitrage pipeline."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(Text.assemble(("error:", "red"), " ", message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings(config: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load and validate exactly what the flow process will see (file + environment + the command's overrides)."""
    try:
        return load_settings(config, environ=flow_env(overrides or {}))
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _connect(data_dir: Path) -> duckdb.DuckDBPyConnection:
    if not (data_dir / "arbflow.duckdb").exists():
        msg = f"no results in {data_dir} (run `arbflow run` or `arbflow replay` first, or pass --data-dir)"
        raise _fail(msg)
    return lake.connect(data_dir)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return None if row is None else row[0]


def _record_run(data_dir: Path, **info: Any) -> None:
    """``<data_dir>/last_run.json``: what ``arbflow status`` shows as the last run, merged over the record the flow
    wrote of this same run (connectors/runs.py: status, reason, counts)."""
    flow_run = runs.last_run(data_dir)
    if flow_run is not None and str(flow_run.get("started", "")) >= str(info["started"]):
        info = {**flow_run, **info}
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / ".last_run.json.tmp"
    tmp.write_text(json.dumps(info, indent=2, default=str))
    tmp.replace(data_dir / "last_run.json")


def _run_flow_command(command: str, config: Path | None, overrides: dict[str, Any], workers: int,
                      recovery_dir: Path | None = None, snapshot_s: int = 1, log_name: str | None = None,
                      expected_quotes: int | None = None) -> int:  # fmt: skip
    """Validate, run the flow process (with a progress bar when the input size is known), record and report it."""
    settings = _settings(config, overrides)
    data_dir = Path(settings.sinks.data_dir)
    if recovery_dir is not None:
        init_recovery(recovery_dir)
    argv = flow_argv(config, workers, recovery_dir, snapshot_s)
    env = flow_env(overrides)
    if expected_quotes is not None and not settings.sinks.write_quotes_clean:
        console.print("note: sinks.write_quotes_clean is off, so the bar can only count rejected rows")
    started, t0_ns, t0_s = datetime.now(UTC), time.time_ns(), time.monotonic()
    resumed = recovery_dir is not None
    log_path = data_dir / f"{log_name}.log" if log_name else None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if _main_thread() else None
    try:
        if expected_quotes is None or log_path is None:
            with open(log_path, "w") if log_path else contextlib.nullcontext() as output:
                code = run_flow(argv, env, output, stop)
        else:
            code = _with_progress(argv, env, log_path, stop, data_dir, expected_quotes, 0 if resumed else t0_ns)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    elapsed_s = time.monotonic() - t0_s
    quotes = lake_rows(data_dir, newer_than_ns=0 if resumed else t0_ns)
    _record_run(data_dir, command=command, config=str(config or DEFAULT_CONFIG), overrides=overrides,
                workers=workers, recovery_dir=recovery_dir, started=started.isoformat(timespec="seconds"),
                elapsed_s=round(elapsed_s, 2), exit_code=code, quotes=quotes, log=log_path)  # fmt: skip
    rate = quotes / elapsed_s if elapsed_s > 0 else 0.0
    if code == 0:
        console.print(
            f"{command}: {quotes:,} quotes in {elapsed_s:.1f} s ({rate:,.0f} quotes/s with start-up) -> {data_dir}"
        )
    else:
        tail = log_path.read_text()[-3000:] if log_path and log_path.exists() else ""
        text = f"{command}: the flow exited with code {code}" + (f"; end of {log_path}:\n{tail}" if tail else "")
        errors.print(text, markup=False, highlight=False, soft_wrap=True)  # flow errors name keys like [venues.x]
    return code


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class QuotesRateColumn(ProgressColumn):
    """Quotes per second over the bar's recent updates; until there are two of them (an input that fits in one batch
    lands in one update), rows so far over the time since the flow started, start-up included."""

    def render(self, task: Task) -> Text:
        rate = task.speed or (task.completed / task.elapsed if task.completed and task.elapsed else None)
        return Text("- quotes/s" if rate is None else f"{rate:,.0f} quotes/s", style="progress.data.speed")


def _with_progress(argv: list[str], env: dict[str, str], log_path: Path, stop: threading.Event,
                   data_dir: Path, total: int, newer_than_ns: int) -> int:  # fmt: skip
    """Run the flow while a bar follows the rows it has written (quotes_clean + quotes_rejected: every input row
    lands in exactly one of them), read from the Parquet footers of the new part files."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), QuotesRateColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress, open(log_path, "w") as output:
        task = progress.add_task("replay (starting the flow)", total=total)
        seen: dict[Path, int] = {}

        def poll() -> None:
            done = lake_rows(data_dir, newer_than_ns=newer_than_ns, seen=seen)
            progress.update(task, completed=done, description="replay" if done else "replay (starting the flow)")

        return run_flow(argv, env, output, stop, poll)


def _input_rows(files: list[Path]) -> int:
    """Rows a replay will read: Parquet footers, CSV lines."""
    total = 0
    for path in files:
        if path.suffix == ".parquet":
            total += pq.ParquetFile(path).metadata.num_rows
        else:
            with open(path, "rb") as handle:
                total += max(sum(1 for _ in handle) - 1, 0)
    return total


def _days(first: date, last: date) -> list[date]:
    if last < first:
        msg = f"--to {last} is before --from {first}"
        raise _fail(msg)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# ---- commands ------------------------------------------------------------------------------------------------------


@app.command()
def run(
    config: ConfigOpt = None,
    source: Annotated[SourceKind | None, typer.Option("--source", "-s", help="Override source.kind.")] = None,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = 1,
    recovery_dir: Annotated[
        Path | None,
        typer.Option(
            "--recovery-dir", "-r", help="Bytewax recovery store: created on first use; a rerun resumes from it."
        ),
    ] = None,
    snapshot_s: Annotated[int, typer.Option("--snapshot-s", min=1, help="Snapshot interval (s), recovery.")] = 1,
) -> None:
    """Run the dataflow for a config as `python -m bytewax.run` (sample, replay, simulator or live, by config)."""
    overrides: dict[str, Any] = {}
    if source is not None:
        overrides["source.kind"] = source.value
    if data_dir is not None:
        overrides["sinks.data_dir"] = str(data_dir)
    raise typer.Exit(_run_flow_command("run", config, overrides, workers, recovery_dir, snapshot_s))


@app.command()
def replay(
    files: Annotated[list[str] | None, typer.Argument(help="Parquet/CSV quote files or globs.")] = None,
    capture_dir: Annotated[Path | None, typer.Option(help="A capture layout: <dir>/exchange=*/date=*/.")] = None,
    from_day: Annotated[datetime | None, typer.Option("--from", formats=[DAY], help="First UTC day.")] = None,
    to_day: Annotated[
        datetime | None, typer.Option("--to", formats=[DAY], help="Last UTC day (default --from).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    workers: WorkersOpt = 1,
    batch_rows: Annotated[int | None, typer.Option(min=1, help="Override source.batch_rows.")] = None,
    speed: Annotated[float | None, typer.Option(min=0, help="0 = as fast as possible, 1 = real time.")] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="File format (default: sniffed per file); see connectors/formats.py.")
    ] = None,
) -> None:
    """Replay recorded quotes (files, or a date range of a capture directory) with a progress bar (quotes/s, ETA).

    Examples: `arbflow replay data/capture/**/*.parquet`;
    `arbflow replay --capture-dir data/capture --from 2024-08-08 --to 2024-08-09 -d data/aug`.
    """
    if files and capture_dir is not None:
        raise _fail("give files or --capture-dir with --from/--to, not both")
    if files:
        try:
            paths = expand(files)
        except FileNotFoundError as exc:
            raise _fail(str(exc)) from None
    elif capture_dir is not None and from_day is not None:
        days = _days(from_day.date(), (to_day or from_day).date())
        paths = [p for d in days for p in sorted(capture_dir.glob(f"exchange=*/date={d}/*.parquet"))]
        if not paths:
            raise _fail(f"no capture files in {capture_dir}/exchange=*/date=<{days[0]}..{days[-1]}>/")
    else:
        raise _fail("give quote files, or --capture-dir DIR --from YYYY-MM-DD [--to YYYY-MM-DD]")
    overrides: dict[str, Any] = {"source.kind": "replay", "source.paths": [str(p.resolve()) for p in paths]}
    if data_dir is not None:
        overrides["sinks.data_dir"] = str(data_dir)
    if batch_rows is not None:
        overrides["source.batch_rows"] = batch_rows
    if speed is not None:
        overrides["source.speed"] = speed
    if file_format is not None:
        overrides["source.format"] = file_format
    try:  # a file in no known format is the user's to fix: say so before starting the flow
        for path in paths:
            resolve_format(path, file_format)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    total = _input_rows(paths)
    console.print(f"replaying {total:,} quotes from {len(paths)} file(s)")
    raise typer.Exit(_run_flow_command("replay", config, overrides, workers, log_name="replay", expected_quotes=total))


@app.command()
def capture(
    seconds: Annotated[float, typer.Option("--seconds", "-t", min=0.1, help="Capture this long, then stop.")],
    capture_dir: Annotated[
        Path | None, typer.Option(help="Where the quote files go (default <data dir>/capture).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run the live source for a while, writing replayable quote files (<dir>/exchange=*/date=*/) and the lake.

    Venues, symbols and endpoints come from the live section of the config; the files replay with
    `arbflow replay --capture-dir DIR --from DAY`.
    """
    overrides: dict[str, Any] = {"source.kind": "live", "live.run_for_s": seconds}
    if data_dir is not None:
        overrides["sinks.data_dir"] = str(data_dir)
    capture_dir = capture_dir or Path(_settings(config, overrides).sinks.data_dir) / "capture"
    overrides["live.capture_dir"] = str(capture_dir.resolve())
    started = datetime.now(UTC)
    code = _run_flow_command("capture", config, overrides, 1, log_name="capture")
    table = Table(title=f"captured in {capture_dir}")
    for column in ("exchange", "files", "quotes"):
        table.add_column(column, justify="right" if column != "exchange" else "left")
    for venue_dir in sorted(capture_dir.glob("exchange=*")):
        files = sorted(venue_dir.glob("date=*/*.parquet"))
        table.add_row(venue_dir.name.partition("=")[2], str(len(files)), f"{_input_rows(files):,}")
    console.print(table)
    if code == 0 and (causes := _never_connected(Path(_settings(config, overrides).sinks.data_dir), started)):
        raise _fail("no venue ever connected; last feed event per venue: " + "; ".join(causes), code=1)
    raise typer.Exit(code)


def _never_connected(data_dir: Path, since: datetime) -> list[str]:
    """Each venue's last feed event of this run (``exchange connect_failed: cause``) when none of them ever got market
    data (no ``live`` event since ``since``, receive clock); empty when one did. Why: a capture without network
    otherwise ends "successfully" with 0 quotes."""
    if not (data_dir / "arbflow.duckdb").exists():
        return []
    con = lake.connect(data_dir)
    try:
        rows = con.execute(
            "select exchange, kind, detail, bool_or(kind = 'live') over (partition by exchange) as was_live "
            "from feed_events where ts_recv >= $since "
            "qualify row_number() over (partition by exchange order by ts_recv desc, event_id desc) = 1 order by 1",
            {"since": since},
        ).fetchall()
    finally:
        con.close()
    if not rows or any(was_live for *_, was_live in rows):
        return []
    return [f"{exchange} {kind}: {detail}" for exchange, kind, detail, _ in rows]


@app.command("simulate")
def simulate_cmd(
    out_dir: Annotated[Path | None, typer.Argument(help="Writes quotes/truth/anomalies.parquet here.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Same as OUT_DIR (default <data dir>/sim).")] = None,
    capture_dir: Annotated[Path | None, typer.Option(help="Also write the quotes in the capture layout.")] = None,
    config: ConfigOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override simulator.seed.")] = None,
    duration_s: Annotated[float | None, typer.Option(min=1, help="Override simulator.duration_s.")] = None,
    start: Annotated[datetime | None, typer.Option(formats=[DAY, f"{DAY}T%H:%M:%S"], help="UTC start.")] = None,
) -> None:
    """Write a deterministic synthetic market: quotes plus its ground truth.

    The simulator section of the config sets venues, symbols and rates; the ground truth lists the injected
    opportunities and anomalies. The start defaults to the simulator's fixed day (2024-08-09). Replay the
    result with `arbflow replay OUT/quotes.parquet`.
    """
    if out_dir is not None and out is not None and out_dir != out:
        raise _fail(f"give the output directory once: OUT_DIR {out_dir} or --out {out}")
    settings = _settings(config)
    out = out_dir or out or Path(settings.sinks.data_dir) / "sim"
    updates = {k: v for k, v in {"seed": seed, "duration_s": duration_s}.items() if v is not None}
    sim_cfg = SimulatorConfig.model_validate({**settings.simulator.model_dump(), **updates})
    fees = {name: venue.taker_fee_bps for name, venue in settings.venues.items()}
    begin = (start or DEFAULT_START).replace(tzinfo=UTC)
    result = simulate(sim_cfg, fees, settings.cross.min_net_edge_bps, start=begin)
    quotes_file = result.write(out)
    table = Table(title=f"simulated market (seed {sim_cfg.seed}) in {out}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, frame in (("quotes", result.quotes), ("truth", result.truth), ("anomalies", result.anomalies)):
        table.add_row(f"{name}.parquet", f"{frame.height:,}")
    if capture_dir is not None:
        for (exchange,), frame in result.quotes.group_by("exchange", maintain_order=True):
            writer = CaptureWriter(capture_dir, str(exchange), rows_per_file=1_000_000)
            writer.write(frame, 0)
            writer.flush()
        table.add_row(f"{capture_dir}/exchange=*/date=*/", f"{result.quotes.height:,}")
    console.print(table)
    span = result.quotes["ts_recv"]
    console.print(f"receive clock {span.min()!s} .. {span.max()!s}; replay with `arbflow replay {quotes_file}`")


def _params(pairs: list[str]) -> dict[str, str]:
    given = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _fail(f"--param {pair!r}: expected key=value")
        given[key.strip()] = value
    return given


def _print_rows(columns: list[str], rows: list[tuple], fmt: OutputFormat, title: str) -> None:
    if fmt is OutputFormat.json:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        typer.echo(json.dumps(records, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))
    elif fmt is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        typer.echo(buffer.getvalue(), nl=False)
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)


@app.command()
def query(
    name: Annotated[str | None, typer.Argument(help="Query name (a file sql/queries/<name>.sql).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value (DuckDB parameter).")] = None,
    fmt: FormatOpt = OutputFormat.table,
    list_queries: Annotated[bool, typer.Option("--list", "-l", help="List the named queries.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run a named SQL query over the results (read-only; safe while a flow runs).

    Example: `arbflow query route_spread_stats -p symbol=BTC/USDT -p buy=binance -p sell=okx -f csv`.
    """
    try:
        if list_queries or name is None:
            _list_queries()
            return
        named = queries.get_query(name)
        given = _params(param or [])
        named.bind(given)  # fail on a bad parameter before touching the lake
    except queries.QueryError as exc:
        raise _fail(str(exc)) from None
    con = _connect(data_dir or Path(_settings(config).sinks.data_dir))
    try:
        columns, rows = queries.run(con, named, given)
    finally:
        con.close()
    _print_rows(columns, rows, fmt, f"{name}: {len(rows)} rows")


def _list_queries() -> None:
    table = Table(title="named queries (sql/queries)")
    for column in ("name", "description", "parameters"):
        table.add_column(column, overflow="fold")
    for named in queries.load_queries().values():
        params = "\n".join(
            f"{p.name} {p.type}" + (" (required)" if p.default is None else f" = {_literal(p.type, p.default)}")
            for p in named.params
        )
        table.add_row(named.name, named.description, params)
    console.print(table)


def _literal(kind: str, default: str) -> str:
    return repr(default) if kind == "VARCHAR" else default


def _status(settings: Settings, data_dir: Path) -> dict[str, Any]:
    """Everything ``arbflow status`` reports, as plain data."""
    out: dict[str, Any] = {"data_dir": str(data_dir), "tables": {}, "feeds": [], "jobs": []}
    if (data_dir / "arbflow.duckdb").exists():
        con = lake.connect(data_dir)
        try:
            for table in sorted(lake.table_schemas()):
                days = sorted(
                    p.name[5:] for p in (lake.lake_dir(data_dir) / table).glob("date=*") if p.name != "date=none"
                )
                rows = _scalar(con, f'select count(*) from "{table}"')  # table names come from sql/schema only
                out["tables"][table] = {"rows": rows, "days": len(days), "last_day": days[-1] if days else None}
            columns, rows = queries.run(con, queries.get_query("feed_health"), {})
            out["feeds"] = [dict(zip(columns, row, strict=True)) for row in rows]
        finally:
            con.close()
    out["last_run"] = runs.last_run(data_dir)  # written by the flow itself, whoever started it
    now = datetime.now(UTC)
    for job in settings.schedule.jobs:
        state = read_state(job_root(job))
        out["jobs"].append({"name": job.name, "cron": job.cron, "next_fire": next_fire(job.cron, now),
                            "last": state.get("last"), "days": len(state.get("days", {}))})  # fmt: skip
    out["heartbeats"] = read_heartbeats(data_dir / "heartbeats")
    return out


@app.command()
def status(config: ConfigOpt = None, data_dir: DataDirOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """Lake row counts per table, the last run, feed health, scheduled jobs and module heartbeats."""
    settings = _settings(config)
    data_dir = data_dir or Path(settings.sinks.data_dir)
    report = _status(settings, data_dir)
    if fmt is not OutputFormat.table:
        typer.echo(json.dumps(report, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))
        return
    if not report["tables"]:
        console.print(f"no results in {data_dir} yet (run `arbflow run` or `arbflow replay`)")
    else:
        _print_rows(["table", "rows", "days", "last day"],
                    [(t, f"{v['rows']:,}", v["days"], v["last_day"]) for t, v in report["tables"].items()],
                    OutputFormat.table, f"lake {data_dir}")  # fmt: skip
    last = report["last_run"]
    if last:
        console.print(f"last run: {last['command']} started {last['started']}, {last['status']}, exit {last['exit_code']}, "
                      f"{last['quotes']:,} quotes in {last['elapsed_s']} s")  # fmt: skip
    if report["feeds"]:
        columns = list(report["feeds"][0])
        _print_rows(columns, [tuple(f.values()) for f in report["feeds"]], OutputFormat.table, "feed health")
    if report["jobs"]:
        rows = [(j["name"], j["cron"], j["next_fire"], *(_last_job(j["last"]))) for j in report["jobs"]]
        _print_rows(["job", "cron", "next fire (UTC)", "last day", "status", "quotes"], rows, OutputFormat.table,
                    "scheduled jobs")  # fmt: skip
    if report["heartbeats"]:
        rows = [(m, b.get("ts"), b.get("ok"), b.get("detail")) for m, b in report["heartbeats"].items()]
        _print_rows(["module", "last beat", "ok", "detail"], rows, OutputFormat.table, "heartbeats")


def _last_job(last: dict[str, Any] | None) -> tuple[Any, ...]:
    return (last["day"], last["status"], f"{last['quotes']:,}") if last else ("", "never run", "")


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default: api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api.port, 8080).")] = None,
) -> None:
    """Serve the HTTP API and dashboard (ops/api/); keys from ARBFLOW_API_KEYS, header x-api-key."""
    from ops import api  # FastAPI and uvicorn load only for this command

    argv = [f"--{k}={v}" for k, v in (("config", config), ("host", host), ("port", port)) if v is not None]
    api.main(argv)


@app.command()
def schedule(
    config: ConfigOpt = None,
    once: Annotated[str | None, typer.Option("--once", "--run-once", help="Run this job now, then exit.")] = None,
    list_jobs: Annotated[bool, typer.Option("--list", "-l", help="List the jobs and their next fire times.")] = False,
) -> None:
    """Run the scheduled batch replays ([[schedule.jobs]] in the config) in the foreground; SIGTERM/Ctrl-C stops.

    `--once JOB` runs one job and exits non-zero if a day failed or had no input: what cron, a systemd timer or a
    Kubernetes CronJob should call. Re-running a job replaces its output partitions.
    """
    settings = _settings(config)
    jobs = {job.name: job for job in settings.schedule.jobs}
    if list_jobs:
        now = datetime.now(UTC)
        rows = [(j.name, j.cron, next_fire(j.cron, now), ", ".join(j.paths), str(job_root(j))) for j in jobs.values()]
        _print_rows(["job", "cron", "next fire (UTC)", "input", "output"], rows, OutputFormat.table, "scheduled jobs")
        return
    configure_logging(settings.logging.level)  # JSON lines on stderr: each day run as it finishes
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if once is not None:
        if once not in jobs:
            raise _fail(f"no job {once!r} in [[schedule.jobs]]; jobs: {sorted(jobs)}")
        runs = run_job(jobs[once], datetime.now(UTC), config, stop)
        for day_run in runs:
            detail = f" ({day_run.detail[:300]})" if day_run.detail else ""
            console.print(f"{day_run.job} {day_run.day}: {day_run.status}, {day_run.quotes:,} quotes -> "
                          f"{day_run.partition}{detail}")  # fmt: skip
        raise typer.Exit(0 if runs and all(r.status == "ok" for r in runs) else 1)
    if not jobs:
        raise _fail("no [[schedule.jobs]] in the configuration: nothing to schedule")
    console.print(f"scheduler: {len(jobs)} job(s): " + ", ".join(f"{n} ({j.cron})" for n, j in jobs.items()))
    scheduler = Scheduler(list(jobs.values()), config, settings.sinks.data_dir)
    for day_run in scheduler.run_forever(stop):
        console.print(f"{day_run.job} {day_run.day}: {day_run.status}, {day_run.quotes:,} quotes")
    console.print("scheduler stopped")


@app.command()
def summary(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Print what the last run produced: quotes in, clean, rejected (by reason), signals, windows."""
    data_dir = data_dir or Path(_settings(config).sinks.data_dir)
    con = _connect(data_dir)
    table = Table(title=f"arbflow results in {data_dir}/arbflow.duckdb")
    table.add_column("what")
    table.add_column("rows", justify="right")
    for label, sql in SUMMARY_SQL.items():
        table.add_row(label, f"{_scalar(con, sql):,}")
    console.print(table)
    run = runs.last_run(data_dir)
    if run is not None and run["status"] != "complete":
        console.print(f"the last run ({run['run_id']}) is {run['status']}: {run['reason'] or 'it did not reach the end of its input'}; the lake holds part of its input", markup=False)  # fmt: skip
    reasons = con.execute(
        "select stage, reason, count(*) as n from quotes_rejected group by all order by n desc, reason"
    ).fetchall()
    if reasons:
        by_reason = Table(title="rejected rows by reason")
        for column in ("stage", "reason", "rows"):
            by_reason.add_column(column)
        for stage, reason, n in reasons:
            by_reason.add_row(stage, reason, f"{n:,}")
        console.print(by_reason)
    top = con.execute(
        "select symbol, buy_exchange, sell_exchange, strftime(ts_signal, '%H:%M:%S.%g') as t, "
        "round(net_edge_bps, 1), round(qty, 4), round(expected_profit_quote, 2) "
        "from signals order by net_edge_bps desc limit 5"
    ).fetchall()
    if top:
        best = Table(title="best signals (net of taker fees)")
        for column in ("symbol", "buy", "sell", "ts_signal (UTC)", "net bps", "qty", "profit (quote)"):
            best.add_column(column)
        for row in top:
            best.add_row(*[str(v) for v in row])
        console.print(best)
    con.close()


SUMMARY_SQL = {
    "quotes in": "select (select count(*) from quotes_clean) + (select count(*) from quotes_rejected)",
    "clean": "select count(*) from quotes_clean",
    "rejected": "select count(*) from quotes_rejected",
    "validation runs": "select count(*) from validation_runs",
    "validation failures": "select count(*) from validation_runs where not success",
    "signals": "select count(*) from signals",
    "windows": "select count(*) from spread_stats",
    "late window partials": "select count(*) from spread_stats where is_late",
}


if __name__ == "__main__":
    app()
