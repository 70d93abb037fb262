"""API documentation pages without a key and without a CDN: ``/docs`` (Swagger UI), ``/redoc`` and ``/openapi.json``.

The JavaScript and CSS come from the ``fastapi-offline`` package (vendored Swagger UI and ReDoc builds), served from
this process, so the pages work on an offline host and under the strict Content-Security-Policy: no inline script
(Swagger UI's start-up code is its own file); only the docs pages allow inline styles (both UIs inject them).
The data routes stay keyed.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import Response

STATIC_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS = {
    "/docs/static/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript"),
    "/docs/static/swagger-ui.css": ("swagger-ui.css", "text/css"),
    "/redoc/static/redoc.standalone.js": ("redoc.standalone.js", "text/javascript"),
}
SWAGGER_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - Swagger UI</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>
"""
SWAGGER_INIT = """SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});
"""
REDOC_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - ReDoc</title></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="/redoc/static/redoc.standalone.js"></script></body></html>
"""
PAGES = {"/docs": SWAGGER_HTML, "/redoc": REDOC_HTML}
DOCS_PATHS = frozenset({"/openapi.json", "/docs/init.js", *PAGES, *ASSETS})
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'; object-src 'none'"
)


def add_docs_routes(app: FastAPI) -> None:
    """Register the pages and their assets (outside the OpenAPI schema)."""
    for path, template in PAGES.items():
        html = template.format(title=app.title)
        app.add_api_route(path, _constant(html, "text/html; charset=utf-8"), methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/docs/init.js", _constant(SWAGGER_INIT, "text/javascript"), methods=["GET"], include_in_schema=False
    )
    for path, (name, media_type) in ASSETS.items():
        app.add_api_route(path, _file(name, media_type), methods=["GET"], include_in_schema=False)


def _constant(body: str, media_type: str):
    def page() -> Response:
        return Response(body, media_type=media_type)

    return page


def _file(name: str, media_type: str):
    def asset() -> Response:
        return Response(
            (STATIC_DIR / name).read_bytes(), media_type=media_type, headers={"Cache-Control": "max-age=86400"}
        )

    return asset
