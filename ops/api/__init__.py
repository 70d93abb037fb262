"""The HTTP API package: ``create_app`` (app.py), ``serve`` and ``main`` (``python -m ops.api``)."""

from ops.api.app import VERSION, create_app, main, serve

__all__ = ["VERSION", "create_app", "main", "serve"]
