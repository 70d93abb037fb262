"""API response times against the design doc's KPIs (p50 < 100 ms, p95 < 500 ms, p99 < 1000 ms).

Builds a lake of ``--parts`` signals part files x ``--rows`` rows (like a day of flow epochs), serves the real API
with uvicorn on 127.0.0.1, and times sequential requests per route. Run by hand:
    .venv/bin/python bench/api_latency.py --parts 500 --rows 1000 --requests 200
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import uvicorn

from arbflow.settings import load_settings
from connectors.lake import table_schemas
from ops.api import create_app

KEY = "bench-key"


def build_lake(data_dir: Path, parts: int, rows: int) -> int:
    schema = table_schemas()["signals"]
    t0 = datetime(2026, 11, 27, tzinfo=UTC)
    for p in range(parts):
        n0 = p * rows
        cols = {
            "signal_id": [f"cross/p0/{n0 + i}/binance/okx" for i in range(rows)],
            "strategy": ["cross"] * rows,
            "symbol": ["BTC/USDT" if i % 2 else "ETH/USDT" for i in range(rows)],
            "buy_exchange": ["binance"] * rows,
            "sell_exchange": ["okx"] * rows,
            "ts_signal": [t0 + timedelta(milliseconds=n0 + i) for i in range(rows)],
        }
        table = pa.table({f.name: cols.get(f.name, pa.nulls(rows, f.type)) for f in schema}, schema=schema)
        path = data_dir / "lake" / "signals" / "date=2026-11-27" / f"part-{p:010d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    return parts * rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", type=int, default=500)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        total = build_lake(Path(tmp), args.parts, args.rows)
        settings = load_settings(
            environ={"ARBFLOW__SINKS__DATA_DIR": f'"{tmp}"', "ARBFLOW__API__RATE_LIMIT_PER_MIN": "1000000"}
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(settings, api_keys=[KEY]), log_level="warning"))
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        print(f"lake: signals {args.parts} part files, {total:,} rows")
        print(f"{'route':50s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}   KPI p50<100 p95<500 p99<1000")
        with httpx.Client(base_url=base, headers={"x-api-key": KEY}, timeout=30) as client:
            for route in (
                "/health",
                "/api/system/status",
                "/api/signals?limit=100",
                "/api/signals?symbol=BTC/USDT&limit=10",
                "/metrics",
            ):
                client.get(route)  # warm-up
                times_ms = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    assert client.get(route).status_code == 200
                    times_ms.append((time.perf_counter() - start) * 1000)
                q = statistics.quantiles(times_ms, n=100)
                ok = q[49] < 100 and q[94] < 500 and q[98] < 1000
                print(f"{route:50s} {q[49]:8.1f} {q[94]:8.1f} {q[98]:8.1f}   {'met' if ok else 'MISSED'}")
        server.should_exit = True


if __name__ == "__main__":
    main()
