"""Every `arbflow` command for real: its output and its effect on the lake."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
import requests

from arbflow.cli import app
from connectors.simulator import DEFAULT_START
from tests.cli.conftest import ARBFLOW, Market, RunLake, count, invoke
from tests.connectors.conftest import binance_recording
from tests.fakes.exchanges import FakeBinance

COMMANDS = ("run", "replay", "capture", "simulate", "query", "status", "serve", "schedule", "summary")
QUOTES_IN = "select (select count(*) from quotes_clean) + (select count(*) from quotes_rejected)"


def test_help_lists_every_command_and_each_command_explains_its_options() -> None:
    top = invoke("--help")
    assert top.exit_code == 0
    for command in COMMANDS:
        assert command in top.output
        own = invoke(command, "--help")
        assert own.exit_code == 0, own.output
        assert "--config" in own.output or command == "simulate"
    assert "--recovery-dir" in invoke("run", "--help").output
    assert "--workers" in invoke("run", "--help").output
    assert "--from" in invoke("replay", "--help").output
    assert "--seconds" in invoke("capture", "--help").output
    assert "--param" in invoke("query", "--help").output
    assert "--once" in invoke("schedule", "--help").output
    assert app.registered_commands  # the console script `arbflow` is this app
    assert Path(ARBFLOW).exists()


def test_simulate_writes_quotes_truth_anomalies_and_a_capture_layout(market: Market) -> None:
    quotes = pl.read_parquet(market.out / "quotes.parquet")
    truth = pl.read_parquet(market.out / "truth.parquet")
    assert quotes.height > 1000 and truth.height > 0 and (market.out / "anomalies.parquet").exists()
    assert quotes["ts_recv"].min().date() == market.day
    captured = {
        path.parent.parent.name: pl.read_parquet(path).height
        for path in market.capture.glob(f"exchange=*/date={market.day}/*.parquet")
    }
    assert set(captured) == {"exchange=binance", "exchange=okx", "exchange=htx"}
    assert sum(captured.values()) == quotes.height


def test_run_processes_every_simulated_quote_with_two_workers_and_recovery(run_lake: RunLake) -> None:
    sim_quotes = pl.read_parquet(run_lake.data_dir / "input" / "simulator" / "quotes.parquet").height
    assert count(run_lake.data_dir, QUOTES_IN) == sim_quotes  # every row clean or rejected, none twice
    assert count(run_lake.data_dir, "select count(*) - count(distinct quote_id) from quotes_clean") == 0
    assert count(run_lake.data_dir, "select count(*) from signals") > 0
    assert any(run_lake.recovery.iterdir())  # the recovery store was created and used
    assert f"{sim_quotes:,} quotes" in run_lake.stdout
    last = json.loads((run_lake.data_dir / "last_run.json").read_text())
    assert last["command"] == "run" and last["exit_code"] == 0 and last["workers"] == 2


def test_run_rejects_a_bad_override_before_starting_a_flow(tmp_path: Path) -> None:
    result = invoke("run", "-d", tmp_path, env={"ARBFLOW__CROSS__MIN_NET_EDGE_BPS": '"lots"'})
    assert result.exit_code == 2
    assert "cross.min_net_edge_bps" in result.output
    assert not (tmp_path / "arbflow.duckdb").exists()


def test_replay_of_a_capture_date_range_shows_progress_and_finds_the_runs_signals(
    tmp_path: Path, market: Market, run_lake: RunLake
) -> None:
    day = market.day.isoformat()
    result = invoke("replay", "--capture-dir", market.capture, "--from", day, "--to", day, "-d", tmp_path)
    assert result.exit_code == 0, result.output
    total = pl.read_parquet(market.out / "quotes.parquet").height
    assert f"replaying {total:,} quotes from 3 file(s)" in result.output
    assert f"{total}/{total}" in result.output and "quotes/s" in result.output and "eta" in result.output
    assert count(tmp_path, QUOTES_IN) == total
    # Same seed, another day: the run (simulator source, default start) and this replay see the same market.
    shift = datetime.combine(market.day, datetime.min.time(), UTC) - DEFAULT_START
    columns = "symbol, buy_exchange, sell_exchange, ts_signal, round(net_edge_bps, 6)"

    def signals(data_dir: Path, shift: timedelta = timedelta(0)) -> list[tuple]:
        con = duckdb.connect(str(data_dir / "arbflow.duckdb"), read_only=True)
        rows = con.execute(f"select {columns} from signals order by all").fetchall()
        con.close()
        return [(*r[:3], r[3] + shift, r[4]) for r in rows]

    assert signals(tmp_path) == signals(run_lake.data_dir, shift)


def test_replay_without_input_says_what_to_give(tmp_path: Path) -> None:
    assert "give quote files" in invoke("replay", "-d", tmp_path).output
    missing = invoke("replay", str(tmp_path / "nothing-*.parquet"), "-d", tmp_path)
    assert missing.exit_code == 2 and "matches no file" in missing.output


def test_status_reports_lake_counts_last_run_and_scheduled_jobs(run_lake: RunLake) -> None:
    result = invoke("status", "-d", run_lake.data_dir, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for table in ("quotes_clean", "quotes_rejected", "signals", "spread_stats", "validation_runs"):
        assert report["tables"][table]["rows"] == count(run_lake.data_dir, f"select count(*) from {table}")
    assert report["tables"]["signals"]["last_day"] == DEFAULT_START.date().isoformat()
    assert report["last_run"]["command"] == "run" and report["last_run"]["exit_code"] == 0
    assert [job["name"] for job in report["jobs"]] == ["replay-previous-day"]  # config/default.toml
    assert report["feeds"] == []  # no live run in this lake
    table = invoke("status", "-d", run_lake.data_dir)
    assert "quotes_clean" in table.output and "last run: run" in table.output and "15 0 * * *" in table.output


def test_summary_keeps_working(run_lake: RunLake) -> None:
    result = invoke("summary", "-d", run_lake.data_dir)
    assert result.exit_code == 0
    n_signals = count(run_lake.data_dir, "select count(*) from signals")
    assert "signals" in result.output and f"{n_signals:,}" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_starts_the_api_over_the_lake(run_lake: RunLake, environ_without_arbflow: dict[str, str]) -> None:
    port = _free_port()
    env = environ_without_arbflow | {"ARBFLOW__SINKS__DATA_DIR": str(run_lake.data_dir), "ARBFLOW_API_KEYS": "k1"}
    proc = subprocess.Popen([ARBFLOW, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        assert requests.get(f"{base}/api/signals", timeout=5).status_code == 401
        served = requests.get(f"{base}/api/signals", params={"limit": 1000}, headers={"x-api-key": "k1"}, timeout=10)
        assert served.status_code == 200
        assert len(served.json()["rows"]) == count(run_lake.data_dir, "select count(*) from signals")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_query_output_formats(run_lake: RunLake, fmt: str) -> None:
    result = invoke("query", "best_signals", "-p", "limit=3", "--format", fmt, "-d", run_lake.data_dir)
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        lines = result.output.strip().splitlines()
        assert lines[0].startswith("symbol,buy_exchange,sell_exchange,ts_signal,net_edge_bps") and len(lines) == 4
    elif fmt == "json":
        rows = json.loads(result.output)
        best = count(run_lake.data_dir, "select round(max(net_edge_bps), 2) from signals")
        assert len(rows) == 3 and rows[0]["net_edge_bps"] == pytest.approx(best)
        assert [r["net_edge_bps"] for r in rows] == sorted((r["net_edge_bps"] for r in rows), reverse=True)
    else:
        assert "best_signals: 3 rows" in result.output


def test_capture_records_a_live_feed_into_replayable_files_and_the_lake(tmp_path: Path) -> None:
    snapshot, after, _ = binance_recording()
    tickers = [m for m in after if m["stream"].endswith("@bookTicker")]
    with FakeBinance([[("send", m) for m in after]], snapshot) as fake:
        env = {
            "ARBFLOW__LIVE__VENUES": '["binance"]',
            "ARBFLOW__LIVE__SYMBOLS": '["BTC/USDT"]',
            "ARBFLOW__LIVE__WS_URLS": f'{{binance = "{fake.url}"}}',
            "ARBFLOW__LIVE__REST_URLS": f'{{binance = "{fake.http_url}"}}',
        }
        result = invoke(
            "capture", "--seconds", "2", "--capture-dir", tmp_path / "cap", "-d", tmp_path / "lake", env=env
        )
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "cap").glob("exchange=binance/date=*/*.parquet"))
    captured = pl.concat([pl.read_parquet(f) for f in files])
    assert captured.height == len(tickers)  # every bookTicker the venue sent, in the quote schema
    assert captured["bid_px"].to_list() == [float(m["data"]["b"]) for m in tickers]
    assert "captured in" in result.output and "binance" in result.output
    assert count(tmp_path / "lake", QUOTES_IN) == len(tickers)
    report = json.loads(invoke("status", "-d", tmp_path / "lake", "--format", "json").output)
    assert [feed["exchange"] for feed in report["feeds"]] == ["binance"]
    assert report["feeds"][0]["events"] == count(tmp_path / "lake", "select count(*) from feed_events") > 0
    assert report["last_run"]["command"] == "capture"
