"""The ``arbflow`` command line: run, replay, capture and simulate the pipeline; query, inspect and serve its results;
run scheduled batch replays. One Typer app; each command group lives in its own module.

Flows always run as their own ``python -m bytewax.run`` process (what the README and the container run), so a CLI
run behaves exactly like a deployed one; the CLI only chooses the config overrides (``ARBFLOW__SECTION__KEY``), watches
the lake, and reports.
"""

from __future__ import annotations

import typer

from arbflow.cli.capture import capture, simulate_cmd
from arbflow.cli.query import query
from arbflow.cli.run import replay, run
from arbflow.cli.schedule import schedule
from arbflow.cli.serve import serve
from arbflow.cli.status import status, summary

app = typer.Typer(
    help="arbflow: a replayable crypto-arbitrage pipeline on Bytewax.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: no Markdown or Rich markup eats `*`, `<name>` or `[section]`
)


@app.callback()
def main() -> None:
    """Run, replay, query and operate the arbitrage pipeline."""


for command in (run, replay, capture):
    app.command()(command)
app.command("simulate")(simulate_cmd)
for command in (query, status, serve, schedule, summary):
    app.command()(command)
