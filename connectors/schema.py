"""Every table's schema, read from ``sql/schema/*.sql`` (the single declaration), plus the quote record.

The DDL is executed in an in-memory DuckDB (so what DuckDB accepts is what we use) and each table's columns come back
as Arrow types; Polars schemas and column lists are derived from those. Nothing else in the code declares a table's
columns: code that needs a subset names the columns it needs (``columns("signals", "signal_id", ...)``), and an unknown
name fails at import, naming the table. The DDL is found through connectors/resources.py, so an installed wheel reads
its own ``arbflow_data/sql``.

A *quote* is one top-of-book update as every source (replay, live, simulator, importers) produces it: the
``quotes_clean`` columns the clean step does not add (:data:`CLEAN_ONLY`), so nothing downstream knows a venue's
quirks. Its Arrow schema is all-nullable: a quote is captured before cleaning, which enforces ``quotes_clean``'s
NOT NULLs and quarantines the rest.

Clocks: ``ts_exchange`` is the venue's own timestamp (null when the venue sends none, e.g. Binance spot bookTicker);
``ts_recv`` is our local receive clock. Both are UTC, microsecond precision. Never assume ``ts_recv >= ts_exchange``:
clocks drift (the bundled Binance recording's clock runs ~1.27 s behind the venue).
"""

from __future__ import annotations

from functools import cache

import duckdb
import polars as pl
import pyarrow as pa

from connectors.resources import SQL_DIR

TS = pa.timestamp("us", tz="UTC")
PL_TS = pl.Datetime("us", "UTC")
CLEAN_ONLY = ("quote_id", "ts_event", "batch_seq")  # quotes_clean columns the clean step adds to a quote


@cache
def _declared() -> dict[str, pa.Table]:
    """A zero-row Arrow table (NOT NULL kept) of every table in ``sql/schema/*.sql``, by table name; tables rather
    than schemas so that Polars dtypes come from ``pl.from_arrow`` (``Schema.empty_table`` would import pandas)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ -> timestamp[us, tz=UTC], whatever the host's zone
        for ddl in sorted((SQL_DIR / "schema").glob("*.sql")):
            con.execute(ddl.read_text())
        names = [r[0] for r in con.execute("select table_name from information_schema.tables order by 1").fetchall()]
        return {name: con.sql(f'select * from "{name}" limit 0').to_arrow_table() for name in names}
    finally:
        con.close()


def tables() -> tuple[str, ...]:
    """Names of every declared table, sorted."""
    return tuple(_declared())


def _empty(table: str) -> pa.Table:
    try:
        return _declared()[table]
    except KeyError:
        msg = f"table {table!r} is not declared in sql/schema/*.sql ({', '.join(_declared())})"
        raise KeyError(msg) from None


def columns(table: str, *names: str) -> tuple[str, ...]:
    """The table's columns in declared order, or the named subset in the given order (unknown names raise)."""
    declared = _empty(table).schema.names
    unknown = [n for n in names if n not in declared]
    if unknown:
        msg = f"{table}: no columns {unknown} in sql/schema (has {', '.join(declared)})"
        raise KeyError(msg)
    return tuple(names) if names else tuple(declared)


def arrow_schema(table: str, *names: str, not_null: bool = True) -> pa.Schema:
    """The table's Arrow schema (or of the named columns); ``not_null=False`` drops the DDL's NOT NULL flags."""
    schema = _empty(table).schema
    fields = [schema.field(n) for n in columns(table, *names)]
    return pa.schema(fields if not_null else [f.with_nullable(True) for f in fields])


def polars_schema(table: str, *names: str) -> dict[str, pl.DataType]:
    """The table's Polars dtypes by column (or of the named columns), in order; a fresh dict on every call."""
    return dict(pl.from_arrow(_empty(table).select(list(columns(table, *names)))).schema)


QUOTE_COLUMNS: tuple[str, ...] = tuple(c for c in columns("quotes_clean") if c not in CLEAN_ONLY)
QUOTE_SCHEMA = arrow_schema("quotes_clean", *QUOTE_COLUMNS, not_null=False)
POLARS_QUOTE_SCHEMA: dict[str, pl.DataType] = polars_schema("quotes_clean", *QUOTE_COLUMNS)
PRICE_COLUMNS: tuple[str, ...] = columns("quotes_clean", "bid_px", "bid_qty", "ask_px", "ask_qty")


def empty_quotes() -> pl.DataFrame:
    """A zero-row frame with the quote schema (for sources with nothing to say yet)."""
    return pl.DataFrame(schema=POLARS_QUOTE_SCHEMA)


def event_time() -> pl.Expr:
    """Event time: the venue clock when the venue gives one, else the receive clock."""
    return pl.coalesce(pl.col("ts_exchange"), pl.col("ts_recv")).alias("ts_event")
