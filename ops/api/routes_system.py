"""System routes: health, measured status, logs, dataflow start/stop, collectors, strategies, Prometheus metrics."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.logs import LEVELS, canonical_level
from ops.api.common import VERSION, Context, HealthOut, RowsOut, plain, time_range
from ops.control import collectors, strategies
from ops.lakeread import LakeQuery


def system_routes(ctx: Context) -> APIRouter:
    """The /health, /api/system/*, /api/qingxi/*, /api/celue/* and /metrics routes."""
    router = APIRouter()
    settings, data_dir, monitor, control = ctx.settings, ctx.data_dir, ctx.monitor, ctx.control
    read, rows = ctx.read, ctx.rows
    limiter, keys, started, registry = ctx.limiter, ctx.keys, ctx.started_s, ctx.registry

    @router.get("/health", response_model=HealthOut, tags=["system"])
    def health() -> HealthOut:
        """Liveness for container health checks; no key needed."""
        return HealthOut(status="ok", version=VERSION, uptime_s=time.monotonic() - started)

    @router.get("/api/system/status", tags=["system"])
    def system_status() -> dict[str, Any]:
        """Measured host and process metrics, module health from heartbeats, alerts, supervisor state."""
        status = monitor.check()
        recent = read(LakeQuery(table="system_alerts", equals={}, limit=20))
        return plain(
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

    @router.get("/api/system/logs", response_model=RowsOut, tags=["system"])
    def system_logs(
        level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"] = "DEBUG",
        module: str | None = Query(None, pattern=r"^[A-Za-z0-9_.]{1,100}$"),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> RowsOut:
        """Structured pipeline logs at or above ``level`` (FATAL = CRITICAL), newest first."""
        since_utc, until_utc = time_range(since, until)
        at_or_above = LEVELS[LEVELS.index(canonical_level(level)) :]
        return rows(
            "pipeline_logs",
            equals={"module": module},
            since=since_utc,
            until=until_utc,
            limit=limit,
            min_level_of=("level", at_or_above),
        )

    @router.post("/api/system/start", tags=["system"])
    def system_start() -> dict[str, Any]:
        """Start the dataflow under the Supervisor (restarts on crash, resumes from its recovery snapshot)."""
        return {"started": True, "supervisor": plain(control.start())}

    @router.post("/api/system/stop", tags=["system"])
    def system_stop() -> dict[str, Any]:
        """Stop the supervised dataflow (SIGTERM, then SIGKILL after 20 s); a later start resumes from recovery."""
        return {"stopped": True, "supervisor": plain(control.stop())}

    @router.get("/api/qingxi/collectors/list", tags=["qingxi"])
    def collectors_list() -> dict[str, Any]:
        """Configured venue collectors of the source kind, with feed health from feed_events (live runs)."""
        return {
            "source_kind": settings.source.kind,
            "collectors": plain(collectors(settings, data_dir)),
            "dataflow": plain(control.status()),
        }

    @router.post("/api/qingxi/collectors/start", tags=["qingxi"])
    def collectors_start() -> dict[str, Any]:
        """Collectors run inside the dataflow process: this starts the dataflow with all configured venues."""
        return {"started": True, "collectors": [c["exchange"] for c in collectors(settings, data_dir)],
                "supervisor": plain(control.start())}  # fmt: skip

    @router.post("/api/qingxi/collectors/stop", tags=["qingxi"])
    def collectors_stop() -> dict[str, Any]:
        """Collectors run inside the dataflow process: this stops the dataflow (every venue)."""
        return {"stopped": True, "collectors": [c["exchange"] for c in collectors(settings, data_dir)],
                "supervisor": plain(control.stop())}  # fmt: skip

    @router.get("/api/celue/strategies", tags=["celue"])
    def celue_strategies() -> dict[str, Any]:
        """Configured strategies: enabled, the flow running them, parameters, signals and episodes so far."""
        return {"strategies": plain(strategies(settings, data_dir))}

    @router.get("/metrics", tags=["system"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format: API requests and latency, host gauges, module heartbeats and counters."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
