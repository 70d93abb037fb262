"""The HTTP API package: ``create_app`` (app.py), ``serve`` and ``main`` (``python -m ops.api``)."""

from ops.api.app import create_app, main, serve
from ops.api.common import VERSION

__all__ = ["VERSION", "create_app", "main", "serve"]
