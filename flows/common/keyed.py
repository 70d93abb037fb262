"""The one Bytewax adapter for keyed, stateful strategy steps.

Every stateful step of the pipeline is a pure ``step(state, item) -> (state, outputs)`` function owned by a runner;
this module turns such a runner into a Bytewax ``op.stateful`` step, so no strategy writes its own StatefulLogic.
Snapshots are deep copies: runners may keep mutable state, and Bytewax pickles the snapshot later.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Generic, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic

S = TypeVar("S")
X = TypeVar("X")
Y = TypeVar("Y")


class Runner(Generic[X, Y, S]):
    """A keyed step's logic, pure given its state; subclasses define ``initial`` and ``step``."""

    def initial(self) -> S:
        """State of a key seen for the first time."""
        raise NotImplementedError

    def step(self, state: S, item: X) -> tuple[S, Iterable[Y]]:
        """One item: the next state and the items to emit."""
        raise NotImplementedError

    def flush(self, state: S) -> tuple[S, Iterable[Y]]:
        """End of input: what is still open is emitted now (nothing, unless the runner keeps open episodes)."""
        return state, []


class _Logic(StatefulLogic[X, Y, S], Generic[X, Y, S]):
    def __init__(self, runner: Runner[X, Y, S], resume: S | None) -> None:
        self.runner = runner
        self.state = runner.initial() if resume is None else resume

    def on_item(self, value: X) -> tuple[Iterable[Y], bool]:
        self.state, out = self.runner.step(self.state, value)
        return out, StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[Y], bool]:
        self.state, out = self.runner.flush(self.state)
        return out, StatefulLogic.RETAIN

    def snapshot(self) -> S:
        return copy.deepcopy(self.state)


def keyed_step(step_id: str, up: Stream[tuple[str, X]], runner: Runner[X, Y, S]) -> Stream[tuple[str, Y]]:
    """``op.stateful`` with ``runner``'s logic for every key of ``up``."""
    return op.stateful(step_id, up, lambda resume: _Logic(runner, resume))
