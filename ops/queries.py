"""Named SQL queries users run (``arbflow query NAME``): one ``sql/queries/<name>.sql`` file each.

A file starts with a comment header: the first lines describe the query, ``-- @param <name> <TYPE> [= default]
<help>`` lines declare its parameters. The SQL refers to them as DuckDB named parameters (``$symbol``); values are
converted to the declared type here and bound by DuckDB, never formatted into the SQL text. A parameter without a
default is required.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from arbflow.errors import QueryError
from connectors.resources import QUERY_DIR

PARAM_RE = re.compile(
    r"^--\s*@param\s+(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Z]+)"
    r"(?:\s*=\s*(?P<default>'[^']*'|\S+))?\s*(?P<help>.*)$"
)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _timestamp(raw: str) -> datetime:
    value = datetime.fromisoformat(raw)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # naive input is read as UTC


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    msg = f"{raw!r} is not a boolean (true/false)"
    raise ValueError(msg)


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "VARCHAR": str,
    "BIGINT": int,
    "DOUBLE": float,
    "BOOLEAN": _boolean,
    "TIMESTAMPTZ": _timestamp,
}


@dataclass(frozen=True)
class Param:
    """One declared parameter: DuckDB type name, default as text (None = required), help."""

    name: str
    type: str
    default: str | None
    help: str


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    params: tuple[Param, ...]
    sql: str

    def bind(self, given: Mapping[str, str]) -> dict[str, Any]:
        """Typed values for every parameter: given ones converted, defaults filled; unknown or missing ones fail."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            msg = f"query {self.name!r} has no parameter {unknown}; it takes {sorted(declared) or 'none'}"
            raise QueryError(msg)
        missing = [p for p in self.params if given.get(p.name, p.default) is None]
        if missing:
            needs = ", ".join(f"--param {p.name}=<{p.type}> ({p.help})" for p in missing)
            msg = f"query {self.name!r} needs {needs}"
            raise QueryError(msg)
        values: dict[str, Any] = {}
        for param in self.params:
            raw = given.get(param.name, param.default)
            try:
                values[param.name] = CONVERTERS[param.type](raw)
            except ValueError as exc:
                msg = f"query {self.name!r}: --param {param.name}={raw!r} is not a {param.type} ({exc})"
                raise QueryError(msg) from None
        return values


def parse(name: str, text: str) -> NamedQuery:
    """Header comment -> description and parameters; the rest is the SQL. A parameter used but not declared (or
    declared but not used) is an error in the file, caught when it is loaded rather than when a user runs it."""
    description: list[str] = []
    params: list[Param] = []
    body: list[str] = []
    in_header = True
    for line in text.splitlines():
        stripped = line.strip()
        if in_header and stripped.startswith("--"):
            match = PARAM_RE.match(stripped)
            if match:
                kind = match["type"]
                if kind not in CONVERTERS:
                    msg = f"sql/queries/{name}.sql: {match['name']} has type {kind}, not one of {sorted(CONVERTERS)}"
                    raise QueryError(msg)
                default = match["default"]
                if default is not None and default.startswith("'"):
                    default = default[1:-1]
                params.append(Param(match["name"], kind, default, match["help"].strip()))
            else:
                description.append(stripped.lstrip("-").strip())
            continue
        in_header = in_header and not stripped
        body.append(line)
    sql = "\n".join(body).strip()
    used = set(re.findall(r"\$([a-z_][a-z0-9_]*)", sql))
    declared = {p.name for p in params}
    if used != declared:
        msg = f"sql/queries/{name}.sql: parameters used {sorted(used)} but declared {sorted(declared)}"
        raise QueryError(msg)
    return NamedQuery(name, " ".join(d for d in description if d), tuple(params), sql)


def load_queries(query_dir: str | Path = QUERY_DIR) -> dict[str, NamedQuery]:
    """Every ``<name>.sql`` of the directory, by name."""
    queries = {}
    for path in sorted(Path(query_dir).glob("*.sql")):
        if not NAME_RE.match(path.stem):
            msg = f"{path}: query names are lower_snake_case"
            raise QueryError(msg)
        queries[path.stem] = parse(path.stem, path.read_text())
    return queries


def get_query(name: str, query_dir: str | Path = QUERY_DIR) -> NamedQuery:
    queries = load_queries(query_dir)
    if name not in queries:
        msg = f"no query named {name!r}; `arbflow query --list` shows {sorted(queries)}"
        raise QueryError(msg)
    return queries[name]


def run(con: duckdb.DuckDBPyConnection, query: NamedQuery, given: Mapping[str, str]) -> tuple[list[str], list[tuple]]:
    """Bind and execute; returns (column names, rows)."""
    values = query.bind(given)
    cursor = con.execute(query.sql, values)
    columns = [d[0] for d in cursor.description]
    return columns, cursor.fetchall()
