"""The HTTP API over a real uvicorn server on 127.0.0.1: keys, rate limit, bad input, headers, every route."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
import pytest
from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from ops_helpers import running_server, write_part

from arbflow.settings import load_settings
from connectors.lake import LakeSink, prepare, table_schemas
from connectors.logs import HeartbeatWriter, PipelineLogHandler, with_fields
from ops.api import create_app
from ops.errors import ErrorCode
from ops.security import ApiKeys, SlidingWindowLimiter, keys_from_env
from ops.supervisor import RestartPolicy, Supervisor

KEY, OTHER = "test-key-0123456789abcdef", "other-key-fedcba9876543210"
PROTECTED = [
    "/api/system/status",
    "/api/system/logs",
    "/api/risk/status",
    "/api/risk/limits",
    "/api/risk/alerts",
    "/api/signals",
    "/api/opportunities",
    "/metrics",
]  # /openapi.json is public since issue 13.13 (test_docs_pages_need_no_key_and_data_routes_stay_keyed)
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HTTP = httpx.Client(timeout=10)  # one client: building an httpx client (TLS context) costs ~0.2 s each


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def _settings(tmp_path, **env):
    environ = {"ARBFLOW__SINKS__DATA_DIR": f'"{tmp_path}"', **env}
    return load_settings(environ=environ)


@pytest.fixture(scope="module")
def shared_base(tmp_path_factory):
    """One server (empty lake) for the read-only checks, so each parametrized case does not start its own."""
    with running_server(create_app(_settings(tmp_path_factory.mktemp("shared")), api_keys=[KEY])) as base:
        yield base


def _get(base, path, key=KEY, **params):
    headers = {"x-api-key": key} if key else {}
    return HTTP.get(base + path, headers=headers, params=params)


def _signal(i: int, symbol: str, ts: datetime) -> dict:
    return {
        "signal_id": f"cross/p0/{i}/binance/okx",
        "strategy": "cross",
        "symbol": symbol,
        "buy_exchange": "binance",
        "sell_exchange": "okx",
        "ts_signal": ts,
        "buy_px": 60000.0,
        "sell_px": 60250.0,
        "qty": 0.5,
        "notional_quote": 30000.0,
        "gross_edge_bps": 41.6,
        "net_edge_bps": 21.6,
        "expected_profit_quote": 64.8,
        "age_ms": 12.0,
        "skew_ms": float("nan"),  # NaN must come back as null, not break the JSON
        "buy_quote_id": f"p0/{i}",
        "sell_quote_id": f"p1/{i}",
        "episode_id": f"cross/BTC/USDT/binance/okx/p0/{i}",
    }


def test_keys_come_from_env_and_compare_exactly():
    assert keys_from_env({"ARBFLOW_API_KEYS": " a1 , ,b2,"}) == ("a1", "b2")
    keys = ApiKeys(("a1", "b2"))
    assert keys.identify("b2") is not None and keys.identify("a1") != keys.identify("b2")
    assert keys.identify("b") is None and keys.identify("b22") is None and keys.identify("") is None
    assert ApiKeys(()).identify("anything") is None


def test_sliding_window_is_exact_not_fixed_slots():
    clock = FakeClock()
    lim = SlidingWindowLimiter(3, 60.0, clock)
    for dt in (0.0, 20.0, 40.0):
        clock.now_s = 1000.0 + dt
        assert lim.acquire("k")[0]
    clock.now_s = 1059.9
    allowed, remaining, retry_after_s = lim.acquire("k")
    assert not allowed and remaining == 0 and retry_after_s == pytest.approx(0.1)
    clock.now_s = 1060.0  # the first hit leaves the window; only one slot frees
    assert lim.acquire("k")[0] and not lim.acquire("k")[0]
    assert lim.acquire("other")[0]
    with pytest.raises(ValueError, match="limit >= 1"):
        SlidingWindowLimiter(0)


def test_health_is_public_and_every_response_has_security_headers(tmp_path):
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY])) as base:
        health = _get(base, "/health", key=None)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        for resp in (health, _get(base, "/api/signals", key=None), _get(base, "/api/signals"), _get(base, "/nope")):
            assert resp.headers["x-frame-options"] == "DENY"
            assert resp.headers["x-content-type-options"] == "nosniff"
            assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


@pytest.mark.parametrize("path", PROTECTED)
def test_401_without_key_and_with_wrong_key(shared_base, path):
    for key in (None, "wrong", KEY[:-1], KEY + "x"):
        resp = _get(shared_base, path, key=key)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == ErrorCode.UNAUTHORIZED == 1001
    assert _get(shared_base, path).status_code == 200


def test_no_configured_key_fails_closed(tmp_path):
    with running_server(create_app(_settings(tmp_path), api_keys=[])) as base:
        assert _get(base, "/api/signals", key="").status_code == 401
        assert _get(base, "/api/signals", key="anything").status_code == 401
        assert _get(base, "/health", key=None).status_code == 200


def test_429_past_100_requests_per_minute_per_key(tmp_path):
    clock = FakeClock()
    app = create_app(_settings(tmp_path), api_keys=[KEY, OTHER], clock=clock)
    with running_server(app) as base, httpx.Client(base_url=base, headers={"x-api-key": KEY}) as client:
        codes = [client.get("/api/risk/limits").status_code for _ in range(100)]
        assert codes == [200] * 100
        over = client.get("/api/risk/limits")
        assert over.status_code == 429 and over.json()["error"]["code"] == ErrorCode.RATE_LIMITED
        assert int(over.headers["retry-after"]) == 60 and over.headers["x-frame-options"] == "DENY"
        assert _get(base, "/api/risk/limits", key=OTHER).status_code == 200  # per key
        assert _get(base, "/health", key=None).status_code == 200  # health is never limited
        clock.now_s += 59.0
        assert client.get("/api/risk/limits").status_code == 429
        clock.now_s += 1.0
        ok = client.get("/api/risk/limits")
        assert ok.status_code == 200 and ok.headers["x-ratelimit-remaining"] == "99"  # all 100 hits left the window


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/signals", {"limit": "0"}, 422),
        ("/api/signals", {"limit": "1001"}, 422),
        ("/api/signals", {"limit": "ten"}, 422),
        ("/api/signals", {"symbol": "btc-usdt"}, 422),
        ("/api/signals", {"buy_exchange": "Binance!"}, 422),
        ("/api/signals", {"since": "yesterday"}, 422),
        ("/api/signals", {"since": "2026-11-27T12:00:00Z", "until": "2026-11-27T11:00:00Z"}, 422),
        ("/api/opportunities", {"since": "0001-01-01T00:00:00+01:00"}, 422),
        ("/api/system/logs", {"level": "LOUD"}, 422),
        ("/api/system/logs", {"module": "a b"}, 422),
        ("/api/risk/alerts", {"severity": "DROP TABLE"}, 422),
        ("/api/does-not-exist", {}, 404),
    ],
)
def test_bad_input_is_a_4xx_with_message_and_code(shared_base, path, params, status):
    resp = _get(shared_base, path, **params)
    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["message"] and error["code"] in (ErrorCode.INVALID_PARAMETER, ErrorCode.NOT_FOUND)
    if status == 422:
        assert error["code"] == 2000 and error["detail"]


def test_wrong_method_is_405_with_code(shared_base):
    resp = HTTP.post(shared_base + "/api/signals", headers={"x-api-key": KEY})
    error = resp.json()["error"]
    assert resp.status_code == 405 and error["code"] == ErrorCode.METHOD_NOT_ALLOWED == 1005
    assert error["name"] == "method_not_allowed"  # issue 13.13: it was not_found


def test_docs_pages_need_no_key_and_data_routes_stay_keyed(shared_base):
    spec = HTTP.get(shared_base + "/openapi.json")
    assert spec.status_code == 200 and "/api/signals/stream" in spec.json()["paths"]
    assert spec.json()["paths"]["/api/signals"]["get"]["security"] == [{"ApiKey": []}]
    for page, asset in (
        ("/docs", "/docs/static/swagger-ui-bundle.js"),
        ("/redoc", "/redoc/static/redoc.standalone.js"),
    ):
        html = HTTP.get(shared_base + page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert asset in html.text and "cdn" not in html.text.lower()  # served here: works offline
        assert "script-src 'self';" in html.headers["content-security-policy"]  # still no inline script
        script = HTTP.get(shared_base + asset)
        assert script.status_code == 200 and len(script.content) > 100_000
    assert "/openapi.json" in HTTP.get(shared_base + "/docs/init.js").text
    assert HTTP.get(shared_base + "/api/signals").status_code == 401


def test_empty_lake_gives_empty_lists_not_500(tmp_path):
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY])) as base:
        for path in ("/api/signals", "/api/opportunities", "/api/risk/alerts", "/api/system/logs"):
            resp = _get(base, path)
            assert resp.status_code == 200 and resp.json()["rows"] == [] and resp.json()["count"] == 0
        assert _get(base, "/api/risk/status").json() == {
            "available": False,
            "risk_level": None,
            "kill_switch": None,
            "metrics": None,
        }
        limits = _get(base, "/api/risk/limits").json()["limits"]
        assert limits["max_drawdown"] == pytest.approx(0.05) and limits["max_open_orders"] == 50


def test_data_routes_read_the_lake_while_it_grows(tmp_path):
    lake = tmp_path / "lake"
    day = T0.date().isoformat()
    write_part(lake, "signals", day, 0, [_signal(i, "BTC/USDT", T0 + timedelta(seconds=i)) for i in range(3)])
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY])) as base:
        body = _get(base, "/api/signals").json()
        assert body["count"] == 3 and [r["signal_id"] for r in body["rows"]] == [
            f"cross/p0/{i}/binance/okx" for i in (2, 1, 0)
        ]
        assert body["rows"][0]["skew_ms"] is None and body["rows"][0]["net_edge_bps"] == pytest.approx(21.6)
        # the flow writes another part while the API runs: visible on the next request, no restart
        write_part(lake, "signals", day, 1, [_signal(10, "ETH/USDT", T0 + timedelta(seconds=10))])
        assert _get(base, "/api/signals").json()["count"] == 4
        eth = _get(base, "/api/signals", symbol="ETH/USDT").json()
        assert [r["signal_id"] for r in eth["rows"]] == ["cross/p0/10/binance/okx"]
        recent = _get(base, "/api/signals", since=(T0 + timedelta(seconds=2)).isoformat(), limit=2).json()
        assert [r["signal_id"] for r in recent["rows"]] == ["cross/p0/10/binance/okx", "cross/p0/2/binance/okx"]
        assert _get(base, "/api/signals", since="2026-11-27T12:00:01", until="2026-11-27T12:00:02").json()["count"] == 1

        write_part(lake, "risk_metrics", day, 0, [
            {"metrics_id": "m1", "ts_metrics": T0, "equity_usdt": 1e6, "risk_level": "low", "kill_switch": False},
            {"metrics_id": "m2", "ts_metrics": T0 + timedelta(seconds=1), "equity_usdt": 9.5e5, "drawdown": 0.05,
             "risk_level": "critical", "kill_switch": True, "kill_reason": "limit:drawdown"},
        ])  # fmt: skip
        risk = _get(base, "/api/risk/status").json()
        assert risk["available"] and risk["risk_level"] == "critical" and risk["kill_switch"] is True
        assert risk["metrics"]["kill_reason"] == "limit:drawdown"
        write_part(lake, "alerts", day, 0, [
            {"alert_id": "a1", "ts_alert": T0, "name": "drawdown", "severity": "warning", "message": "80% of limit"},
            {"alert_id": "a2", "ts_alert": T0 + timedelta(seconds=1), "name": "drawdown", "severity": "critical",
             "message": "limit"},
        ])  # fmt: skip
        crit = _get(base, "/api/risk/alerts", severity="critical").json()
        assert [r["alert_id"] for r in crit["rows"]] == ["a2"]

        handler = PipelineLogHandler(lake)
        logger = __import__("logging").getLogger("arbflow.test.api")
        logger.addHandler(handler)
        logger.setLevel("DEBUG")
        logger.info("batch written", **with_fields(rows=10))
        logger.error("sink retry", **with_fields(table="signals"))
        handler.close()
        logger.removeHandler(handler)
        errors = _get(base, "/api/system/logs", level="ERROR").json()
        assert [r["message"] for r in errors["rows"]] == ["sink retry"]
        all_logs = _get(base, "/api/system/logs", module="arbflow.test.api").json()
        assert {r["level"] for r in all_logs["rows"]} == {"INFO", "ERROR"}


def test_system_status_and_metrics_are_measured_and_show_supervisor_restarts(tmp_path):
    crash_once = (
        "import sys, time, pathlib; p = pathlib.Path(sys.argv[1]); first = not p.exists(); p.touch(); "
        "sys.exit(3) if first else time.sleep(30)"
    )
    sup = Supervisor([sys.executable, "-c", crash_once, str(tmp_path / "ran")], RestartPolicy(3, 0.05, 2.0))
    HeartbeatWriter(tmp_path / "heartbeats", "dataflow").beat(True, "", quotes_in=1234.0, signals=7.0)
    sup.start()
    try:
        deadline = time.monotonic() + 10
        while sup.status().restarts < 1 or sup.status().pid is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with running_server(create_app(_settings(tmp_path), api_keys=[KEY], supervisor=sup)) as base:
            status = _get(base, "/api/system/status").json()
            assert status["supervisor"]["restarts"] == 1 and status["supervisor"]["state"] == "running"
            assert status["supervisor"]["last_exit_code"] == 3 and status["supervisor"]["pid"] == sup.status().pid
            system = status["system"]
            assert 0 <= system["cpu_pct"] <= 100 and 0 < system["memory_pct"] < 100 and system["uptime_s"] > 0
            assert status["process"]["rss_bytes"] > 10 * 2**20
            modules = {m["module"]: m for m in status["modules"]}
            assert modules["dataflow"]["status"] == "healthy" and modules["dataflow"]["counters"]["quotes_in"] == 1234
            assert "api" in modules  # the API beats itself
            text = _get(base, "/metrics").text
            assert "arbflow_supervisor_restarts 1.0" in text
            assert 'arbflow_module_counter{module="dataflow",name="quotes_in"} 1234.0' in text
            assert "arbflow_system_memory_percent" in text and "arbflow_http_request_duration_seconds_bucket" in text
    finally:
        sup.stop(5)


def test_cors_is_off_by_default_and_on_only_for_configured_origins(tmp_path):
    preflight = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}  # no key: browsers omit it
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY])) as base:
        resp = _get(base, "/api/signals", key=KEY)
        assert "access-control-allow-origin" not in resp.headers
        resp = HTTP.options(base + "/api/signals", headers=preflight)
        assert "access-control-allow-origin" not in resp.headers and resp.status_code >= 400
    settings = _settings(tmp_path, ARBFLOW__API__CORS_ORIGINS='["https://dash.example"]')
    with running_server(create_app(settings, api_keys=[KEY])) as base:
        resp = HTTP.options(base + "/api/signals", headers=preflight)
        assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == "https://dash.example"
        assert "x-api-key" in resp.headers["access-control-allow-headers"].lower()
        evil = HTTP.options(base + "/api/signals", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        resp = HTTP.get(base + "/api/signals", headers={"Origin": "https://dash.example", "x-api-key": KEY})
        assert resp.headers["access-control-allow-origin"] == "https://dash.example"
        resp = HTTP.get(base + "/api/signals", headers={"Origin": "https://evil.example", "x-api-key": KEY})
        assert "access-control-allow-origin" not in resp.headers


def test_api_reads_what_the_real_lake_sink_writes(tmp_path):
    """Compatibility with connectors/lake.py: a bytewax run into LakeSink, then the API serves those rows."""
    schemas = table_schemas()
    prepare(tmp_path, schemas)
    frame = pl.DataFrame([_signal(i, "BTC/USDT", T0 + timedelta(seconds=i)) for i in range(4)])
    flow = Dataflow("api_lake")
    op.output("lake", op.input("in", flow, TestingSource([("signals", frame)])), LakeSink(tmp_path, schemas))
    run_main(flow)
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY])) as base:
        body = _get(base, "/api/signals", symbol="BTC/USDT").json()
        assert [r["signal_id"] for r in body["rows"]] == [f"cross/p0/{i}/binance/okx" for i in (3, 2, 1, 0)]
        assert _get(base, "/api/opportunities").json()["rows"] == []


def test_running_api_applies_log_retention(tmp_path):
    lake = tmp_path / "lake"
    old = lake / "pipeline_logs" / "date=2020-01-01" / "DEBUG-1-1-0.parquet"
    fresh_day = datetime.now(UTC).date().isoformat()
    fresh = lake / "pipeline_logs" / f"date={fresh_day}" / "DEBUG-1-1-0.parquet"
    for path in (old, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # retention looks at names and dates only, never at content
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY], check_interval_s=0.05)) as base:
        deadline = time.monotonic() + 10
        while old.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _get(base, "/health", key=None).status_code == 200
    assert fresh.exists() and not old.parent.exists()


def test_damaged_part_file_is_a_coded_error_naming_the_table(tmp_path):
    bad = tmp_path / "lake" / "signals" / "date=2026-11-27" / "part-0000000000.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not parquet")
    with running_server(create_app(_settings(tmp_path), api_keys=[KEY])) as base:
        resp = _get(base, "/api/signals")
        assert resp.status_code == 500 and resp.json()["error"]["code"] == ErrorCode.DATA_CORRUPT
        assert "signals" in resp.json()["error"]["detail"] and resp.headers["x-frame-options"] == "DENY"
        assert _get(base, "/api/opportunities").status_code == 200  # other tables keep serving
