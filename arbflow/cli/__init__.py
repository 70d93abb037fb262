"""The ``arbflow`` console script (pyproject.toml ``[project.scripts]``): the Typer app of arbflow/cli/app.py."""

from arbflow.cli.app import app

__all__ = ["app"]
