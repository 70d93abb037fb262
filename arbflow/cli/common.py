"""What every ``arbflow`` command shares: the consoles, the common options, how a command fails, loads its settings,
opens the lake, runs the SQL it needs (``sql/queries/cli/``) and prints rows."""

from __future__ import annotations

import csv
import io
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from arbflow.errors import ConfigError
from arbflow.settings import Settings, load_settings
from connectors import lake
from connectors.resources import CLI_QUERY_DIR
from ops import queries
from ops.flow_process import flow_env

console = Console()
errors = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file, merged over the defaults.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", "-d", help="Lake directory (default: sinks.data_dir).")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", min=1, help="Bytewax worker threads.")]
DAY = "%Y-%m-%d"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv or json.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    """The exit to raise for the user's mistake: the message on stderr, exit code 2 (1: the run itself failed)."""
    errors.print(Text.assemble(("error:", "red"), " ", message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_for(config: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load and validate exactly what the flow process will see (file + environment + the command's overrides)."""
    try:
        return load_settings(config, environ=flow_env(overrides or {}))
    except ConfigError as exc:
        raise fail(str(exc)) from None


def connect(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the lake's views, or a failure saying how to get results there."""
    if not (data_dir / "arbflow.duckdb").exists():
        msg = f"no results in {data_dir} (run `arbflow run` or `arbflow replay` first, or pass --data-dir)"
        raise fail(msg)
    return lake.connect(data_dir)


def command_query(con: duckdb.DuckDBPyConnection, name: str, **given: str) -> list[dict[str, Any]]:
    """Rows of one of the commands' own queries, ``sql/queries/cli/<name>.sql``, as column -> value."""
    columns, rows = queries.run(con, queries.get_query(name, CLI_QUERY_DIR), given)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def to_json(value: Any) -> str:
    return json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


def print_rows(columns: list[str], rows: list[tuple], fmt: OutputFormat, title: str) -> None:
    if fmt is OutputFormat.json:
        typer.echo(to_json([dict(zip(columns, row, strict=True)) for row in rows]))
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
