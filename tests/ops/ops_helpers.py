"""Shared helpers for the ops tests: a real uvicorn server on a free 127.0.0.1 port, lake part files from the DDL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import uvicorn

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "sql" / "schema"


def wait_until(predicate: Any, timeout_s: float, what: str, poll_s: float = 0.2) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll_s)


@contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a socket bound to port 0; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            msg = "uvicorn did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def ddl_schema(table: str) -> pa.Schema:
    """The Arrow schema of a table declared in sql/schema/*.sql."""
    con = duckdb.connect()
    for ddl in sorted(SCHEMA_DIR.glob("*.sql")):
        con.execute(ddl.read_text())
    schema = con.sql(f'select * from "{table}" limit 0').to_arrow_table().schema
    con.close()
    return pa.schema([f.with_nullable(True) for f in schema])


def write_part(lake: Path, table: str, day: str, part: int, rows: list[dict[str, Any]]) -> Path:
    """One lake part file (tmp + rename, like the sink) with the table's DDL schema; missing columns are null."""
    path = lake / table / f"date={day}" / f"part-{part:010d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=ddl_schema(table)), tmp)
    tmp.replace(path)
    return path
