"""Data routes: risk, signals (and their live stream), opportunities, the dashboard overview and its static files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response, StreamingResponse

from ops.api.common import NAME, SYMBOL, Context, RowsOut, plain, time_range
from ops.api.stream import sse_events
from ops.control import collectors, strategies
from ops.lakeread import LakeQuery
from ops.overview import feed_health, pnl_series, quality_by_venue, spread_chart

DASHBOARD_DIR = Path(__file__).resolve().parents[1] / "dashboard"
DASHBOARD_FILES = {"/dashboard": "index.html", "/dashboard/app.css": "app.css"} | {
    f"/dashboard/{name}": name for name in ("app.js", "chart.js", "live.js")
}


def data_routes(ctx: Context) -> APIRouter:
    """The /api/risk/*, /api/signals*, /api/opportunities and /api/dashboard/overview routes and /dashboard files."""
    router = APIRouter()
    settings, data_dir, monitor, control = ctx.settings, ctx.data_dir, ctx.monitor, ctx.control
    read, rows = ctx.read, ctx.rows
    hub, stream_ping_s = ctx.hub, ctx.stream_ping_s

    @router.get("/api/risk/status", tags=["risk"])
    def risk_status() -> dict[str, Any]:
        """The latest risk_metrics row: risk level, kill switch, equity, drawdown, VaR (null before the first)."""
        latest = read(LakeQuery(table="risk_metrics", equals={}, limit=1))
        metrics = plain(latest[0]) if latest else None
        return {
            "available": metrics is not None,
            "risk_level": metrics.get("risk_level") if metrics else None,
            "kill_switch": metrics.get("kill_switch") if metrics else None,
            "metrics": metrics,
        }

    @router.get("/api/risk/limits", tags=["risk"])
    def risk_limits() -> dict[str, Any]:
        """The configured risk limits ([risk] in the config)."""
        return {"limits": settings.risk.model_dump()}

    @router.get("/api/risk/alerts", response_model=RowsOut, tags=["risk"])
    def risk_alerts(
        severity: str | None = Query(None, pattern=NAME),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> RowsOut:
        """Risk alerts raised by the risk step, newest first."""
        since_utc, until_utc = time_range(since, until)
        return rows("alerts", equals={"severity": severity}, since=since_utc, until=until_utc, limit=limit)

    @router.get("/api/signals", response_model=RowsOut, tags=["data"])
    def signals(
        symbol: str | None = Query(None, pattern=SYMBOL, description="ccxt unified, e.g. BTC/USDT"),
        buy_exchange: str | None = Query(None, pattern=NAME),
        sell_exchange: str | None = Query(None, pattern=NAME),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> RowsOut:
        """Arbitrage signals, newest first (receive clock ``ts_signal``)."""
        since_utc, until_utc = time_range(since, until)
        equals = {"symbol": symbol, "buy_exchange": buy_exchange, "sell_exchange": sell_exchange}
        return rows("signals", equals=equals, since=since_utc, until=until_utc, limit=limit)

    @router.get(
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

    @router.get("/api/opportunities", response_model=RowsOut, tags=["data"])
    def opportunities(
        symbol: str | None = Query(None, pattern=SYMBOL),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> RowsOut:
        """Opportunity episodes, newest first; empty until the flow has written some."""
        since_utc, until_utc = time_range(since, until)
        return rows("opportunities", equals={"symbol": symbol}, since=since_utc, until=until_utc, limit=limit)

    @router.get("/api/dashboard/overview", tags=["data"])
    def dashboard_overview(
        windows: int = Query(30, ge=1, le=500, description="spread windows per route"),
        points: int = Query(300, ge=2, le=5000, description="PnL/drawdown points"),
    ) -> dict[str, Any]:
        """Everything the dashboard shows, in one call (one request per refresh keeps it far below the rate limit)."""
        latest = read(LakeQuery(table="risk_metrics", equals={}, limit=1))
        return plain(
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
        router.add_api_route(path, dashboard_file(name, media), methods=["GET"], include_in_schema=False)

    return router
