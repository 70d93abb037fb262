"""``arbflow serve``: the HTTP API and dashboard (ops/api/), the one command line that starts them."""

from __future__ import annotations

from typing import Annotated

import typer

from arbflow.cli.common import ConfigOpt, settings_for


def _print_version(given: bool) -> None:
    if given:
        from ops.api import VERSION  # FastAPI and uvicorn load only for this command

        typer.echo(f"arbflow {VERSION}")
        raise typer.Exit


def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default: api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api.port, 8080).")] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the API version and exit.")
    ] = False,
) -> None:
    """Serve the HTTP API and dashboard (ops/api/); keys from ARBFLOW_API_KEYS, header x-api-key."""
    settings = settings_for(config)
    from ops import api  # FastAPI and uvicorn load only for this command

    api.serve(settings, host, port, config)
