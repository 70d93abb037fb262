"""``GET /api/signals/stream`` against real parts: uvicorn on 127.0.0.1, the real arbitrage flow in its own process
publishing over the Unix datagram socket, the Parquet lake it writes; and the backpressure contract (a stalled
subscriber never slows the publisher nor the other subscribers), asserted by counts and order, not by timings."""

from __future__ import annotations

import stat
import subprocess
import threading
from pathlib import Path

import duckdb
import httpx
import polars as pl
from ops_helpers import running_server, wait_until
from sse_client import Reader, StalledClient

from arbflow.settings import load_settings
from connectors.lake import table_glob
from connectors.logs import read_heartbeats
from connectors.signal_bus import SignalPublisher, socket_path
from ops.api import create_app
from ops.flow_process import flow_argv, flow_env

KEY = "stream-key-0123456789abc"
MARKET = {"source.kind": "simulator", "simulator.duration_s": 120.0, "source.batch_rows": 200}


def _settings(data_dir: Path, rate_limit_per_min: int = 100):
    env = {"ARBFLOW__SINKS__DATA_DIR": f'"{data_dir}"', "ARBFLOW__API__RATE_LIMIT_PER_MIN": str(rate_limit_per_min)}
    return load_settings(environ=env)


def _frame(first: int, n: int, pad: int = 0) -> pl.DataFrame:
    ids = [f"cross/test/{i:06d}" for i in range(first, first + n)]
    return pl.DataFrame({"signal_id": ids, "strategy": ["cross"] * n, "pad": ["x" * pad] * n})


def test_stream_needs_the_key_and_outlives_the_rate_limit(tmp_path: Path):
    app = create_app(_settings(tmp_path, rate_limit_per_min=3), api_keys=[KEY], stream_ping_s=0.2)
    with running_server(app) as base:
        assert httpx.get(f"{base}/api/signals/stream").status_code == 401
        wrong = httpx.get(f"{base}/api/signals/stream", headers={"x-api-key": "wrong-key-0123456789"})
        assert wrong.status_code == 401 and wrong.json()["error"]["name"] == "unauthorized"
        assert stat.S_IMODE(socket_path(tmp_path).stat().st_mode) == 0o600  # no other user can inject signals
        reader = Reader(base, KEY, until=lambda events: len([e for e in events if e.event == "signal"]) >= 2)
        statuses = [httpx.get(f"{base}/api/signals", headers={"x-api-key": KEY}).status_code for _ in range(3)]
        assert statuses[-1] == 429  # the stream took one of the 3 requests; the limit is reached
        publisher = SignalPublisher(socket_path(tmp_path))
        publisher.publish(_frame(0, 2))
        assert reader.join() == ["cross/test/000000", "cross/test/000001"]  # the long-lived stream was not cut
    assert publisher.counts.sent_rows == 2 and publisher.counts.dropped_rows == 0


def test_flow_signals_reach_stream_subscribers_and_a_reconnect_gets_the_missed_ones_once(tmp_path: Path):
    app = create_app(_settings(tmp_path), api_keys=[KEY], stream_ping_s=0.2)
    with running_server(app) as base:
        done = threading.Event()
        fast = Reader(base, KEY, until=lambda _events: done.is_set(), timeout_s=120)
        early = Reader(base, KEY, until=lambda events: len([e for e in events if e.event == "signal"]) >= 5)
        env = flow_env({**MARKET, "sinks.data_dir": str(tmp_path)})
        run = subprocess.run(flow_argv(None), env=env, capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr[-2000:]
        glob = table_glob(tmp_path, "signals").replace("'", "''")
        with duckdb.connect() as con:
            lake_ids = [r[0] for r in con.execute(f"select signal_id from read_parquet('{glob}')").fetchall()]
        assert len(lake_ids) > 5
        wait_until(lambda: len(fast.ids()) >= len(lake_ids), 30, "every lake signal on the stream", poll_s=0.02)
        seen_early = early.join()
        assert len(seen_early) == 5
        again = Reader(
            base, KEY, last_event_id=seen_early[-1], until=lambda ev: len(ev) >= len(lake_ids) - 5, timeout_s=20
        )
        replayed = again.join()
        hub = app.state.signal_hub
        done.set()
        received = fast.join()
    assert sorted(received) == sorted(lake_ids) and len(set(received)) == len(received)  # exactly the lake's ids
    assert seen_early == received[:5]
    assert replayed == received[5:]  # the missed ones, each once, in the order they were published
    assert hub.stats.gaps == 0 and hub.stats.bad_datagrams == 0 and hub.stats.signals == len(lake_ids)
    final = read_heartbeats(tmp_path / "heartbeats")["dataflow"]["counters"]  # the flow's own count of what it sent
    assert (final["signals_published"], final["signals_publish_dropped"]) == (len(lake_ids), 0)


def test_a_stalled_subscriber_slows_neither_the_publisher_nor_other_subscribers(tmp_path: Path):
    total, per_frame = 4000, 25  # 2 kB rows: 8 MB, far more than the stalled connection's socket buffers hold
    app = create_app(_settings(tmp_path), api_keys=[KEY], stream_ping_s=0.2, stream_queue_size=32)
    with running_server(app) as base:
        stalled = StalledClient(base, KEY)
        fast = Reader(base, KEY, until=lambda events: len(events) >= total, timeout_s=120)
        hub = app.state.signal_hub
        wait_until(lambda: len(hub.subscribers) == 2, 10, "both subscribers", poll_s=0.02)
        publisher = SignalPublisher(socket_path(tmp_path))
        for first in range(0, total, per_frame):
            publisher.publish(_frame(first, per_frame, pad=2000))
            # pace on the fast reader (it keeps up; the stalled one never reads): the queues of 32 never overflow for it
            wait_until(
                lambda f=first: len(fast.events) >= f + per_frame,
                20,
                "the fast subscriber to read the frame",
                poll_s=0.02,
            )
        received = fast.join()

        def accounted(events) -> bool:
            return sum(e.event == "signal" for e in events) + sum(e.dropped for e in events) >= total

        slow = stalled.read_events(accounted)
    expected = [f"cross/test/{i:06d}" for i in range(total)]
    assert received == expected  # every signal, in order, despite the stalled neighbour
    assert publisher.counts.dropped_rows == 0 and publisher.counts.sent_rows == total  # never blocked nor refused
    slow_ids = [e.id for e in slow if e.event == "signal"]
    dropped = sum(e.dropped for e in slow)
    assert dropped > 0 and len(slow_ids) + dropped == total
    assert slow_ids == sorted(slow_ids) and set(slow_ids) <= set(expected)  # a gap-marked, ordered subsequence
    assert hub.stats.subscriber_drops == dropped
