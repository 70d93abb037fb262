"""The HTTP API package: ``create_app`` and ``serve`` (app.py); ``arbflow serve`` is its command line."""

from ops.api.app import create_app, serve
from ops.api.common import VERSION

__all__ = ["VERSION", "create_app", "serve"]
