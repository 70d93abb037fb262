"""``arbflow query``: the named SQL of ``sql/queries/`` over the lake, parameters bound by DuckDB (ops/queries.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from arbflow.cli.common import (
    ConfigOpt,
    DataDirOpt,
    FormatOpt,
    OutputFormat,
    connect,
    console,
    fail,
    print_rows,
    settings_for,
)
from ops import queries


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
        raise fail(str(exc)) from None
    con = connect(data_dir or Path(settings_for(config).sinks.data_dir))
    try:
        columns, rows = queries.run(con, named, given)
    finally:
        con.close()
    print_rows(columns, rows, fmt, f"{name}: {len(rows)} rows")


def _params(pairs: list[str]) -> dict[str, str]:
    given = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--param {pair!r}: expected key=value")
        given[key.strip()] = value
    return given


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
