"""HTTP API on port 8080: health, measured system status, dataflow start/stop, collectors, strategies, logs, risk,
signals, opportunities, Prometheus metrics, and the dashboard (``/dashboard``, static files in ops/dashboard/).

Security (ops/security.py): ``x-api-key`` on everything but ``/health`` (keys from ``ARBFLOW_API_KEYS``), 100
requests per minute per key then 429, security headers on every response, CORS only for configured origins. Errors
carry the design doc's codes (ops/errors.py). Pipeline data is read from the Parquet lake through an in-memory DuckDB
(ops/lakeread.py, ops/overview.py), so queries never block the running flow. Start/stop run the dataflow under
the Supervisor (ops/control.py) when the app is given a flow command (``serve`` gives the config's flow). While it runs it also checks the monitor's thresholds
and applies the pipeline_logs retention (hourly). Run with ``python -m ops.api`` (the CLI's ``serve``
calls ``serve``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import uvicorn
from fastapi import FastAPI, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.config import Settings, load_settings
from connectors.logs import (
    LEVELS,
    HeartbeatWriter,
    PipelineLogHandler,
    apply_retention,
    canonical_level,
    configure_logging,
    with_fields,
)
from ops.alerts import AlertLog
from ops.api.docs import DOCS_CSP, DOCS_PATHS, add_docs_routes
from ops.api.stream import PING_S, QUEUE_SIZE, SignalHub, SignalReceiver, sse_events, stream_metrics
from ops.control import FlowCommand, FlowControl, collectors, default_flow_command, strategies
from ops.errors import ApiError, ErrorCode
from ops.lakeread import LakeQuery, UnknownColumnError, query_rows
from ops.monitor import RequestStats, SystemMonitor, Thresholds
from ops.overview import feed_health, pnl_series, quality_by_venue, spread_chart
from ops.security import API_KEY_HEADER, SECURITY_HEADERS, ApiKeys, SlidingWindowLimiter, keys_from_env
from ops.supervisor import RestartPolicy, Supervisor, SupervisorStatus

log = logging.getLogger(__name__)
VERSION = "0.1.0"
DASHBOARD_DIR = Path(__file__).resolve().parents[1] / "dashboard"
DASHBOARD_FILES = {"/dashboard": "index.html", "/dashboard/app.css": "app.css"} | {
    f"/dashboard/{name}": name for name in ("app.js", "chart.js", "live.js")
}
# The dashboard's static files hold no data (every number comes from keyed API calls), so a browser can load them.
# The API docs (/docs, /redoc, /openapi.json) describe routes, not data, so they are public too.
PUBLIC_PATHS = frozenset({"/health", *DASHBOARD_FILES, *DOCS_PATHS})
SYMBOL = r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$"
NAME = r"^[a-z0-9_]{1,32}$"


class RowsOut(BaseModel):
    """Rows of one lake table, newest first; ``rows`` is empty when the table has no data yet."""

    table: str
    count: int
    rows: list[dict[str, Any]]


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    uptime_s: float


def _utc(value: datetime | None, name: str) -> datetime | None:
    """Naive datetimes are UTC; values that cannot be represented in UTC are a 422, not a crash."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"{name} is out of range") from None


def _range(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    since_utc, until_utc = _utc(since, "since"), _utc(until, "until")
    if since_utc and until_utc and since_utc >= until_utc:
        raise ApiError(ErrorCode.INVALID_PARAMETER, "since must be before until")
    return since_utc, until_utc


def _plain(obj: Any) -> Any:
    """Dataclasses and datetimes -> JSON-ready values (NaN -> null)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return jsonable_encoder(obj)


def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.code.http_status, headers=err.headers)


class _Collector:
    """Prometheus gauges measured at scrape time: host, modules (heartbeats + their counters), supervisor."""

    def __init__(
        self, monitor: SystemMonitor, supervisor: Callable[[], SupervisorStatus | None], hub: SignalHub
    ) -> None:
        self.monitor, self.supervisor, self.hub = monitor, supervisor, hub

    def collect(self) -> Any:
        system = self.monitor.system()
        for name, value, doc in (
            ("arbflow_system_cpu_percent", system.cpu_pct, "Host CPU use, all cores"),
            ("arbflow_system_memory_percent", system.memory_pct, "Host memory use"),
            ("arbflow_system_disk_percent", system.disk_pct, "Use of the filesystem holding the data directory"),
            ("arbflow_system_uptime_seconds", system.uptime_s, "Seconds since host boot"),
        ):
            yield GaugeMetricFamily(name, doc, value=value)
        up = GaugeMetricFamily(
            "arbflow_module_up", "1 when the module's last heartbeat is fresh and ok", labels=["module"]
        )
        age = GaugeMetricFamily("arbflow_module_heartbeat_age_seconds", "Age of the last heartbeat", labels=["module"])
        counters = GaugeMetricFamily(
            "arbflow_module_counter", "Counters a module reports with its heartbeat", labels=["module", "name"]
        )
        for health in self.monitor.modules(system.ts):
            up.add_metric([health.module], 1.0 if health.status == "healthy" else 0.0)
            if health.age_s is not None:
                age.add_metric([health.module], health.age_s)
            for name, value in sorted(health.counters.items()):
                counters.add_metric([health.module, name], float(value))
        yield from (up, age, counters)
        for name, (value, doc) in stream_metrics(self.hub.stats, len(self.hub.subscribers)).items():
            yield GaugeMetricFamily(name, doc, value=value)
        status = self.supervisor()
        if status is not None:
            yield GaugeMetricFamily(
                "arbflow_supervisor_restarts", "Restarts of the supervised dataflow", value=status.restarts
            )
            yield GaugeMetricFamily(
                "arbflow_supervisor_running", "1 when the supervised dataflow runs", value=status.state == "running"
            )


def create_app(
    settings: Settings | None = None,
    *,
    api_keys: Sequence[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    supervisor: Supervisor | None = None,
    check_interval_s: float = 15.0,
    flow_command: FlowCommand | None = None,
    stream_ping_s: float = PING_S,
    stream_queue_size: int = QUEUE_SIZE,
) -> FastAPI:
    """Build the app. Keys default to ``ARBFLOW_API_KEYS``; ``clock`` drives the rate limiter (tests inject one).

    ``supervisor`` (already started elsewhere) is reported by the status routes and can be stopped;
    ``flow_command`` lets ``/api/system/start`` launch the dataflow (without it, start answers 409);
    ``stream_ping_s`` is the keep-alive comment interval of ``/api/signals/stream``, ``stream_queue_size`` the
    signals a subscriber may have unread before the stream drops some for it.
    """
    settings = settings or load_settings()
    data_dir = Path(settings.sinks.data_dir)
    keys = ApiKeys(tuple(api_keys) if api_keys is not None else keys_from_env())
    if not len(keys):
        log.warning("no API key configured: every route but /health answers 401", **with_fields(env="ARBFLOW_API_KEYS"))
    limiter = SlidingWindowLimiter(settings.api.rate_limit_per_min, 60.0, clock)
    requests = RequestStats()
    alerts = AlertLog(data_dir / "lake")
    monitor = SystemMonitor(data_dir, Thresholds.from_config(settings.monitor), alerts=alerts, requests=requests)
    heartbeat = HeartbeatWriter(monitor.heartbeat_dir, "api")
    policy = RestartPolicy.from_config(settings.monitor)
    replay = settings.source.kind != "live"
    control = FlowControl(flow_command, policy, alerts.raise_alert, supervisor, data_dir=data_dir, replay=replay)
    started = time.monotonic()

    registry = CollectorRegistry()
    http_requests = Counter("arbflow_http_requests", "API requests", ["method", "route", "status"], registry=registry)
    http_latency = Histogram(
        "arbflow_http_request_duration_seconds",
        "API response time",
        ["route"],
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        registry=registry,
    )
    hub = SignalHub(queue_size=stream_queue_size)
    receiver = SignalReceiver(data_dir, hub)
    registry.register(_Collector(monitor, control.status, hub))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def checks() -> None:
            next_retention_s = 0.0
            while True:
                try:
                    n_requests = float(requests.snapshot()["requests"] or 0)
                    await asyncio.to_thread(heartbeat.beat, True, "", requests=n_requests)
                    await asyncio.to_thread(monitor.check)
                    if time.monotonic() >= next_retention_s:  # hourly: the shortest retention (DEBUG) is a day
                        retention = settings.logging.retention_days
                        lake = data_dir / "lake"
                        deleted = await asyncio.to_thread(apply_retention, lake, datetime.now(UTC), retention)
                        if deleted:
                            log.info("log retention applied", **with_fields(files_deleted=len(deleted)))
                        next_retention_s = time.monotonic() + 3600.0
                except Exception:  # the loop must outlive one bad round (a full disk, a vanished file)
                    log.exception("background checks failed; retrying")
                await asyncio.sleep(check_interval_s)

        receiver.start(asyncio.get_running_loop())
        task = asyncio.create_task(checks())
        try:
            yield
        finally:
            receiver.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(control.shutdown)

    app = FastAPI(
        title="arbflow API",
        version=VERSION,
        description="Crypto-arbitrage pipeline: system status, logs, risk, signals. Header x-api-key on all but /health "
        "and these docs.",
        docs_url=None,  # FastAPI's pages load scripts from a CDN, which the CSP (and an offline host) forbid:
        redoc_url=None,  # ops/api/docs.py serves them from this process
        lifespan=lifespan,
    )
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=[API_KEY_HEADER],
        )

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response: Response
        preflight = request.method == "OPTIONS" and "access-control-request-method" in request.headers
        if request.url.path in PUBLIC_PATHS or preflight:  # browsers send CORS preflights without the key
            response = await _call(request, call_next)
        else:
            key_id = keys.identify(request.headers.get(API_KEY_HEADER))
            if key_id is None:
                response = _error_response(ApiError(ErrorCode.UNAUTHORIZED))
            else:
                allowed, remaining, retry_after_s = limiter.acquire(key_id)
                if not allowed:
                    response = _error_response(
                        ApiError(
                            ErrorCode.RATE_LIMITED,
                            f"{limiter.limit} requests per minute; retry in {retry_after_s:.1f} s",
                            headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))},
                        )
                    )
                else:
                    response = await _call(request, call_next)
                    response.headers["X-RateLimit-Limit"] = str(limiter.limit)
                    response.headers["X-RateLimit-Remaining"] = str(remaining)
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        if request.url.path in DOCS_PATHS:
            response.headers["Content-Security-Policy"] = DOCS_CSP
        elapsed_s = time.perf_counter() - start
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.record(elapsed_s * 1000.0, response.status_code)
        http_requests.labels(request.method, route, str(response.status_code)).inc()
        http_latency.labels(route).observe(elapsed_s)
        return response

    async def _call(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        try:
            return await call_next(request)
        except Exception:
            log.exception("unhandled error", **with_fields(path=request.url.path))
            return _error_response(ApiError(ErrorCode.INTERNAL))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return _error_response(ApiError(ErrorCode.INVALID_PARAMETER, problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}
        code = codes.get(exc.status_code, ErrorCode.INVALID_PARAMETER)
        body = ApiError(code, str(exc.detail)).body()
        return JSONResponse(body, status_code=exc.status_code, headers=dict(exc.headers or {}))

    def read(q: LakeQuery) -> list[dict[str, Any]]:
        try:
            return query_rows(data_dir, q)
        except UnknownColumnError as exc:
            raise ApiError(ErrorCode.INVALID_PARAMETER, str(exc)) from None
        except duckdb.Error as exc:  # a damaged part file: say which table, keep serving the rest
            log.exception("lake read failed", **with_fields(table=q.table))
            raise ApiError(ErrorCode.DATA_CORRUPT, f"table {q.table} could not be read: {type(exc).__name__}") from None

    def rows(table: str, **kw: Any) -> RowsOut:
        found = read(LakeQuery(table=table, **kw))
        return RowsOut(table=table, count=len(found), rows=_plain(found))

    @app.get("/health", response_model=HealthOut, tags=["system"])
    def health() -> HealthOut:
        """Liveness for container health checks; no key needed."""
        return HealthOut(status="ok", version=VERSION, uptime_s=time.monotonic() - started)

    @app.get("/api/system/status", tags=["system"])
    def system_status() -> dict[str, Any]:
        """Measured host and process metrics, module health from heartbeats, alerts, supervisor state."""
        status = monitor.check()
        recent = read(LakeQuery(table="system_alerts", equals={}, limit=20))
        return _plain(
            {
                **status,
                "recent_alerts": recent,
                "supervisor": control.status(),
                "api": {
                    "uptime_s": time.monotonic() - started,
                    "rate_limit_per_min": limiter.limit,
                    "keys_configured": len(keys),
                },
            }
        )

    @app.get("/api/system/logs", response_model=RowsOut, tags=["system"])
    def system_logs(
        level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"] = "DEBUG",
        module: str | None = Query(None, pattern=r"^[A-Za-z0-9_.]{1,100}$"),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> RowsOut:
        """Structured pipeline logs at or above ``level`` (FATAL = CRITICAL), newest first."""
        since_utc, until_utc = _range(since, until)
        at_or_above = LEVELS[LEVELS.index(canonical_level(level)) :]
        return rows(
            "pipeline_logs",
            equals={"module": module},
            since=since_utc,
            until=until_utc,
            limit=limit,
            min_level_of=("level", at_or_above),
        )

    @app.get("/api/risk/status", tags=["risk"])
    def risk_status() -> dict[str, Any]:
        """The latest risk_metrics row: risk level, kill switch, equity, drawdown, VaR (null before the first)."""
        latest = read(LakeQuery(table="risk_metrics", equals={}, limit=1))
        metrics = _plain(latest[0]) if latest else None
        return {
            "available": metrics is not None,
            "risk_level": metrics.get("risk_level") if metrics else None,
            "kill_switch": metrics.get("kill_switch") if metrics else None,
            "metrics": metrics,
        }

    @app.get("/api/risk/limits", tags=["risk"])
    def risk_limits() -> dict[str, Any]:
        """The configured risk limits ([risk] in the config)."""
        return {"limits": settings.risk.model_dump()}

    @app.get("/api/risk/alerts", response_model=RowsOut, tags=["risk"])
    def risk_alerts(
        severity: str | None = Query(None, pattern=NAME),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> RowsOut:
        """Risk alerts raised by the risk step, newest first."""
        since_utc, until_utc = _range(since, until)
        return rows("alerts", equals={"severity": severity}, since=since_utc, until=until_utc, limit=limit)

    @app.get("/api/signals", response_model=RowsOut, tags=["data"])
    def signals(
        symbol: str | None = Query(None, pattern=SYMBOL, description="ccxt unified, e.g. BTC/USDT"),
        buy_exchange: str | None = Query(None, pattern=NAME),
        sell_exchange: str | None = Query(None, pattern=NAME),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> RowsOut:
        """Arbitrage signals, newest first (receive clock ``ts_signal``)."""
        since_utc, until_utc = _range(since, until)
        equals = {"symbol": symbol, "buy_exchange": buy_exchange, "sell_exchange": sell_exchange}
        return rows("signals", equals=equals, since=since_utc, until=until_utc, limit=limit)

    @app.get(
        "/api/signals/stream",
        tags=["data"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
    )
    async def signals_stream(last_event_id: str | None = Header(None, max_length=400)) -> StreamingResponse:
        """Signals as Server-Sent Events the moment the flow computes them, before the lake write.

        Each signal is ``id: <signal_id>`` / ``event: signal`` / ``data: <row JSON>``; a ``: ping`` comment every
        15 s; ``Last-Event-ID`` replays the last 1000 signals after that id; a subscriber that reads too slowly gets
        ``event: dropped`` with ``{"dropped": n}`` instead of the signals it missed. One request, whatever its length,
        counts once against the rate limit.
        """
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            sse_events(hub, last_event_id, stream_ping_s), media_type="text/event-stream", headers=headers
        )

    @app.get("/api/opportunities", response_model=RowsOut, tags=["data"])
    def opportunities(
        symbol: str | None = Query(None, pattern=SYMBOL),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> RowsOut:
        """Opportunity episodes, newest first; empty until the flow has written some."""
        since_utc, until_utc = _range(since, until)
        return rows("opportunities", equals={"symbol": symbol}, since=since_utc, until=until_utc, limit=limit)

    @app.post("/api/system/start", tags=["system"])
    def system_start() -> dict[str, Any]:
        """Start the dataflow under the Supervisor (restarts on crash, resumes from its recovery snapshot)."""
        return {"started": True, "supervisor": _plain(control.start())}

    @app.post("/api/system/stop", tags=["system"])
    def system_stop() -> dict[str, Any]:
        """Stop the supervised dataflow (SIGTERM, then SIGKILL after 20 s); a later start resumes from recovery."""
        return {"stopped": True, "supervisor": _plain(control.stop())}

    @app.get("/api/qingxi/collectors/list", tags=["qingxi"])
    def collectors_list() -> dict[str, Any]:
        """Configured venue collectors of the source kind, with feed health from feed_events (live runs)."""
        return {
            "source_kind": settings.source.kind,
            "collectors": _plain(collectors(settings, data_dir)),
            "dataflow": _plain(control.status()),
        }

    @app.post("/api/qingxi/collectors/start", tags=["qingxi"])
    def collectors_start() -> dict[str, Any]:
        """Collectors run inside the dataflow process: this starts the dataflow with all configured venues."""
        return {"started": True, "collectors": [c["exchange"] for c in collectors(settings, data_dir)],
                "supervisor": _plain(control.start())}  # fmt: skip

    @app.post("/api/qingxi/collectors/stop", tags=["qingxi"])
    def collectors_stop() -> dict[str, Any]:
        """Collectors run inside the dataflow process: this stops the dataflow (every venue)."""
        return {"stopped": True, "collectors": [c["exchange"] for c in collectors(settings, data_dir)],
                "supervisor": _plain(control.stop())}  # fmt: skip

    @app.get("/api/celue/strategies", tags=["celue"])
    def celue_strategies() -> dict[str, Any]:
        """Configured strategies: enabled, the flow running them, parameters, signals and episodes so far."""
        return {"strategies": _plain(strategies(settings, data_dir))}

    @app.get("/api/dashboard/overview", tags=["data"])
    def dashboard_overview(
        windows: int = Query(30, ge=1, le=500, description="spread windows per route"),
        points: int = Query(300, ge=2, le=5000, description="PnL/drawdown points"),
    ) -> dict[str, Any]:
        """Everything the dashboard shows, in one call (one request per refresh keeps it far below the rate limit)."""
        latest = read(LakeQuery(table="risk_metrics", equals={}, limit=1))
        return _plain(
            {
                "ts": datetime.now(UTC),
                "spread_chart": spread_chart(data_dir, settings.cross.min_net_edge_bps, windows),
                "signals": read(LakeQuery(table="signals", equals={}, limit=20)),
                "opportunities": read(LakeQuery(table="opportunities", equals={}, limit=20)),
                "risk": latest[0] if latest else None,
                "pnl": pnl_series(data_dir, points),
                "alerts": read(LakeQuery(table="alerts", equals={}, limit=20)),
                "quality": quality_by_venue(data_dir),
                "feeds": feed_health(data_dir),
                "collectors": collectors(settings, data_dir),
                "strategies": strategies(settings, data_dir),
                "modules": monitor.modules(datetime.now(UTC)),
                "supervisor": control.status(),
            }
        )

    def dashboard_file(name: str, media_type: str) -> Callable[[], Response]:
        def serve_file() -> Response:
            return Response((DASHBOARD_DIR / name).read_bytes(), media_type=media_type)

        return serve_file

    for path, name in DASHBOARD_FILES.items():
        media = {"html": "text/html; charset=utf-8", "js": "text/javascript", "css": "text/css"}[name.rsplit(".")[-1]]
        app.add_api_route(path, dashboard_file(name, media), methods=["GET"], include_in_schema=False)

    @app.get("/metrics", tags=["system"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format: API requests and latency, host gauges, module heartbeats and counters."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
            }
            for path, ops in schema["paths"].items():
                if path not in PUBLIC_PATHS:
                    for op in ops.values():
                        op["security"] = [{"ApiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    add_docs_routes(app)
    app.state.monitor, app.state.alerts, app.state.limiter, app.state.signal_hub = monitor, alerts, limiter, hub
    return app


def serve(
    settings: Settings | None = None,
    host: str | None = None,
    port: int | None = None,
    config_path: str | Path | None = None,
) -> None:
    """Run the API in the foreground with uvicorn (what ``arbflow serve`` and the container's ``api`` command do).

    ``/api/system/start`` launches the flow of ``config_path`` (default config when None) under the Supervisor.
    """
    settings = settings or load_settings(config_path)
    uvicorn.run(
        create_app(settings, flow_command=default_flow_command(settings, config_path)),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,  # keep our JSON logging
        server_header=False,
        timeout_graceful_shutdown=5,  # signal streams never end by themselves
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.api", description="Serve the arbflow HTTP API.")
    parser.add_argument("--config", help="TOML config file (default: config/default.toml)")
    parser.add_argument("--host", help="bind address (default: [api] host)")
    parser.add_argument("--port", type=int, help="port (default: [api] port, 8080)")
    parser.add_argument("--version", action="version", version=f"arbflow {VERSION}")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    configure_logging(settings.logging.level)
    lake_logs = PipelineLogHandler(Path(settings.sinks.data_dir) / "lake")
    logging.getLogger().addHandler(lake_logs)  # /api/system/logs reads these back
    try:
        serve(settings, args.host, args.port, args.config)
    finally:
        lake_logs.close()


if __name__ == "__main__":
    main()
