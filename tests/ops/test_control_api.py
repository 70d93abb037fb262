"""Control routes over a real server: dataflow start/stop under the Supervisor, collectors, strategies.

The child here is a real process that idles until stopped (the start/stop state machine does not need a flow); the
real arbitrage flow runs under these routes in test_dashboard.py and test_flow_supervised.py.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import httpx
import psutil
import pytest
from ops_helpers import running_server, write_part

from arbflow.settings import load_settings
from ops.api import create_app
from ops.control import FlowCommand

KEY = "control-key-0123456789abcdef"
HTTP = httpx.Client(timeout=30)
IDLE = FlowCommand([sys.executable, "-c", "import time; time.sleep(600)"])
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _settings(tmp_path, **env):
    return load_settings(environ={"ARBFLOW__SINKS__DATA_DIR": f'"{tmp_path}"', **env})


def _post(base, path, key=KEY):
    return HTTP.post(base + path, headers={"x-api-key": key} if key else {})


def _get(base, path, key=KEY):
    return HTTP.get(base + path, headers={"x-api-key": key} if key else {})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/system/start"),
        ("POST", "/api/system/stop"),
        ("GET", "/api/qingxi/collectors/list"),
        ("POST", "/api/qingxi/collectors/start"),
        ("POST", "/api/qingxi/collectors/stop"),
        ("GET", "/api/celue/strategies"),
        ("GET", "/api/dashboard/overview"),
    ],
)
def test_control_routes_need_the_key(tmp_path, method, path):
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY], flow_command=IDLE)) as base:
        for key in (None, "wrong-key"):
            response = HTTP.request(method, base + path, headers={"x-api-key": key} if key else {})
            assert response.status_code == 401 and response.json()["error"]["code"] == 1001
            assert response.headers["X-Frame-Options"] == "DENY"


def test_start_stop_state_machine_and_no_orphan_after_shutdown(tmp_path):
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY], flow_command=IDLE)) as base:
        assert _get(base, "/api/system/status").json()["supervisor"] is None  # nothing started yet
        stop_idle = _post(base, "/api/system/stop")
        assert stop_idle.status_code == 409 and stop_idle.json()["error"]["code"] == 4002

        started = _post(base, "/api/system/start").json()["supervisor"]
        assert started["state"] == "running" and psutil.pid_exists(started["pid"])
        again = _post(base, "/api/system/start")
        assert again.status_code == 409 and "already running" in again.json()["error"]["detail"]
        status = _get(base, "/api/system/status").json()["supervisor"]
        assert status["pid"] == started["pid"] and status["restarts"] == 0
        assert "arbflow_supervisor_running 1.0" in _get(base, "/metrics").text

        stopped = _post(base, "/api/system/stop").json()["supervisor"]
        assert stopped["state"] == "stopped" and stopped["pid"] is None
        assert not psutil.pid_exists(started["pid"]) or psutil.Process(started["pid"]).status() == "zombie"
        assert _post(base, "/api/system/stop").status_code == 409

        # collectors run inside the dataflow process: their start/stop is the dataflow's
        restarted = _post(base, "/api/qingxi/collectors/start").json()
        assert restarted["collectors"] == ["binance", "okx", "htx"]
        second_pid = restarted["supervisor"]["pid"]
        assert second_pid != started["pid"] and psutil.pid_exists(second_pid)
        assert _post(base, "/api/qingxi/collectors/start").status_code == 409
        assert _post(base, "/api/qingxi/collectors/stop").json()["supervisor"]["state"] == "stopped"
        third_pid = _post(base, "/api/system/start").json()["supervisor"]["pid"]
    # the server shut down with a flow it started still running: it stopped it
    assert not psutil.pid_exists(third_pid) or psutil.Process(third_pid).status() == "zombie"


def test_start_without_a_flow_command_is_a_coded_409(tmp_path):
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY])) as base:
        response = _post(base, "/api/system/start")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == 4002 and "arbflow serve" in response.json()["error"]["detail"]


def test_collectors_list_the_live_venues_with_feed_health_from_feed_events(tmp_path):
    lake = tmp_path / "lake"

    def event(i, exchange, kind, up, dt_s):
        return {"event_id": f"live-{exchange}/event/{i}", "exchange": exchange, "kind": kind, "feed_up": up,
                "ts_recv": T0 + timedelta(seconds=dt_s), "attempt": 0, "detail": f"{kind} detail"}  # fmt: skip

    write_part(lake, "feed_events", "2026-11-27", 0, [
        event(0, "binance", "live", True, 0), event(1, "okx", "live", True, 1),
        event(2, "binance", "disconnect", False, 5), event(3, "binance", "stall", False, 4),
    ])  # fmt: skip
    env = {"ARBFLOW__SOURCE__KIND": '"live"', "ARBFLOW__LIVE__VENUES": '["binance", "okx", "htx"]'}
    with running_server(create_app(_settings(tmp_path, **env), api_keys=[KEY])) as base:
        body = _get(base, "/api/qingxi/collectors/list").json()
    assert body["source_kind"] == "live" and body["dataflow"] is None
    by_venue = {c["exchange"]: c for c in body["collectors"]}
    assert list(by_venue) == ["binance", "okx", "htx"]
    binance = by_venue["binance"]
    assert binance["feed_up"] is False and binance["feed"]["last_kind"] == "disconnect"
    assert binance["feed"]["events"] == 3 and binance["feed"]["disconnects"] == 1 and binance["feed"]["stalls"] == 1
    assert by_venue["okx"]["feed_up"] is True and by_venue["okx"]["feed"]["events"] == 1
    assert by_venue["htx"]["feed_up"] is None and by_venue["htx"]["feed"] is None  # never connected: no events
    assert binance["transport"] == "native" and binance["symbols"] == ["BTC/USDT", "ETH/USDT", "ETH/BTC"]


def test_strategies_report_configuration_and_live_counts(tmp_path):
    lake = tmp_path / "lake"
    signals = [
        {"signal_id": f"cross/p0/{i}/binance/okx", "strategy": "cross", "symbol": "BTC/USDT",
         "buy_exchange": "binance", "sell_exchange": "okx", "ts_signal": T0 + timedelta(seconds=i), "buy_px": 6e4,
         "sell_px": 6.03e4, "qty": 0.1, "notional_quote": 6e3, "gross_edge_bps": 50.0, "net_edge_bps": 30.0,
         "expected_profit_quote": 18.0, "age_ms": 3.0, "skew_ms": 1.0, "buy_quote_id": f"p0/{i}",
         "sell_quote_id": f"p1/{i}"}
        for i in range(3)
    ]  # fmt: skip
    signals.append({**signals[0], "signal_id": "triangular/x", "strategy": "triangular"})
    write_part(lake, "signals", "2026-11-27", 0, signals)
    write_part(lake, "opportunities", "2026-11-27", 0, [
        {"episode_id": "cross/BTC/USDT/binance/okx/p0/0", "strategy": "cross", "route": "BTC/USDT/binance/okx",
         "first_seen": T0, "last_seen": T0 + timedelta(seconds=2), "duration_ms": 2000.0, "updates": 3,
         "net_edge_bps_peak": 31.0, "net_edge_bps_mean": 30.0, "size_max_quote": 6e3, "is_blip": False,
         "is_late": False},
    ])  # fmt: skip
    env = {"ARBFLOW__CROSS__MIN_NET_EDGE_BPS": "25.0", "ARBFLOW__MARKET_MAKING__ENABLED": "true"}
    with running_server(create_app(_settings(tmp_path, **env), api_keys=[KEY])) as base:
        found = {s["name"]: s for s in _get(base, "/api/celue/strategies").json()["strategies"]}
    assert list(found) == ["cross", "triangular", "market_making"]
    cross = found["cross"]
    assert cross["enabled"] and cross["paper_traded"] and cross["parameters"]["min_net_edge_bps"] == pytest.approx(25.0)
    assert cross["signals"] == 3 and cross["opportunities"] == 1
    assert cross["last_signal_ts"].startswith("2026-11-27T12:00:02")
    assert found["triangular"]["signals"] == 1 and found["triangular"]["opportunities"] == 0
    assert found["market_making"]["enabled"] and found["market_making"]["signals"] == 0
    assert found["market_making"]["parameters"]["spread_bps"] == pytest.approx(20.0)
