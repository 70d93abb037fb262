"""HTTP API on port 8080: the app (security, errors, background checks) wiring the routes of routes_system.py
(health, status, logs, start/stop, collectors, strategies, metrics), routes_data.py (risk, signals, their live
stream (stream.py), opportunities, the dashboard), docs.py (/docs, /redoc) and metrics.py (Prometheus).

Security (ops/security.py): ``x-api-key`` on everything but ``/health``, the dashboard files and the docs (keys from ``ARBFLOW_API_KEYS``), 100
requests per minute per key then 429, security headers on every response, CORS only for configured origins. Errors
carry the design doc's codes (ops/errors.py). Pipeline data is read from the Parquet lake through an in-memory DuckDB
(ops/lakeread.py, ops/overview.py), so queries never block the running flow. Start/stop run the dataflow under
the Supervisor (ops/control.py) when the app is given a flow command (``serve`` gives the config's flow). While it runs it also checks the monitor's thresholds
and applies the pipeline_logs retention (hourly). Run with ``arbflow serve`` (arbflow/cli/serve.py), which calls
``serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from arbflow.settings import Settings, load_settings
from connectors.logs import HeartbeatWriter, PipelineLogHandler, apply_retention, configure_logging, with_fields
from ops.alerts import AlertLog
from ops.api.common import VERSION, Context, error_response
from ops.api.docs import DOCS_CSP, DOCS_PATHS, add_docs_routes
from ops.api.metrics import ScrapeCollector, http_metrics
from ops.api.routes_data import DASHBOARD_FILES, data_routes
from ops.api.routes_system import system_routes
from ops.api.stream import PING_S, QUEUE_SIZE, SignalHub, SignalReceiver
from ops.control import FlowCommand, FlowControl, default_flow_command
from ops.errors import ApiError, ErrorCode
from ops.monitor import RequestStats, SystemMonitor, Thresholds
from ops.security import API_KEY_HEADER, SECURITY_HEADERS, ApiKeys, SlidingWindowLimiter, keys_from_env
from ops.supervisor import RestartPolicy, Supervisor

log = logging.getLogger(__name__)
# The dashboard's static files hold no data (every number comes from keyed API calls), so a browser can load them.
# The API docs (/docs, /redoc, /openapi.json) describe routes, not data, so they are public too.
PUBLIC_PATHS = frozenset({"/health", *DASHBOARD_FILES, *DOCS_PATHS})


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
    registry = CollectorRegistry()
    http_requests, http_latency = http_metrics(registry)
    hub = SignalHub(queue_size=stream_queue_size)
    receiver = SignalReceiver(data_dir, hub)
    registry.register(ScrapeCollector(monitor, control.status, hub))
    ctx = Context(settings, data_dir, monitor, control, limiter, keys, hub, registry, time.monotonic(), stream_ping_s)

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
                response = error_response(ApiError(ErrorCode.UNAUTHORIZED))
            else:
                allowed, remaining, retry_after_s = limiter.acquire(key_id)
                if not allowed:
                    response = error_response(
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
            return error_response(ApiError(ErrorCode.INTERNAL))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return error_response(ApiError(ErrorCode.INVALID_PARAMETER, problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}
        code = codes.get(exc.status_code, ErrorCode.INVALID_PARAMETER)
        body = ApiError(code, str(exc.detail)).body()
        return JSONResponse(body, status_code=exc.status_code, headers=dict(exc.headers or {}))

    app.include_router(system_routes(ctx))
    app.include_router(data_routes(ctx))

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
    """Run the API in the foreground with uvicorn (``arbflow serve``, the container's ``api`` command), logging JSON
    lines to stderr and to the lake's ``pipeline_logs`` (what ``/api/system/logs`` reads back).

    ``/api/system/start`` launches the flow of ``config_path`` (default config when None) under the Supervisor.
    """
    settings = settings or load_settings(config_path)
    configure_logging(settings.logging.level)
    lake_logs = PipelineLogHandler(Path(settings.sinks.data_dir) / "lake")
    logging.getLogger().addHandler(lake_logs)
    try:
        uvicorn.run(
            create_app(settings, flow_command=default_flow_command(settings, config_path)),
            host=host or settings.api.host,
            port=port or settings.api.port,
            log_config=None,  # keep our JSON logging
            server_header=False,
            timeout_graceful_shutdown=5,  # signal streams never end by themselves
        )
    finally:
        logging.getLogger().removeHandler(lake_logs)
        lake_logs.close()
