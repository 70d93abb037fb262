"""``python -m arbflow.cli``: the ``arbflow`` command without the console script."""

from arbflow.cli.app import app

app(prog_name="arbflow")
