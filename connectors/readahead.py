"""Read-ahead for a partitioned source: each batch is prepared on a helper thread while the previous one flows on.

Replay is CPU-bound and one partition feeds the whole flow, so the stateless first step (normalize, QingXi row checks,
the compiled quality gate) would otherwise run strictly between the keyed steps of consecutive batches. Here the partition
takes its next raw batch as soon as it hands one on and prepares it on a thread; Polars and NumPy release the
GIL for most of their work, so the two overlap on a second core.

Items and their order are exactly what ``op.map(prepare)`` after the plain source would give. The snapshot is the
wrapped partition's state *after the last batch handed on*: a batch read ahead but not yet emitted is read again
after a resume.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Generic, TypeVar

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

X = TypeVar("X")
Y = TypeVar("Y")
S = TypeVar("S")


class _ReadAheadPartition(StatefulSourcePartition[Y, S], Generic[X, Y, S]):
    def __init__(self, inner: StatefulSourcePartition[X, S], prepare: Callable[[X], Y]) -> None:
        self.inner, self.prepare = inner, prepare
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self.position = inner.snapshot()  # the wrapped partition's state after the last batch handed on
        self.ahead: Future[list[Y]] | None = None
        self.ahead_position = self.position
        self.exhausted = False

    def _read(self) -> None:
        """Take the wrapped partition's next batch now; prepare it on the helper thread."""
        try:
            raw = self.inner.next_batch()
        except StopIteration:
            self.exhausted = True
            return
        self.ahead_position = self.inner.snapshot()
        self.ahead = self.pool.submit(lambda: [self.prepare(item) for item in raw])

    def next_batch(self) -> list[Y]:
        if self.ahead is None and not self.exhausted:
            self._read()
        if self.ahead is None:
            raise StopIteration
        items = self.ahead.result()  # re-raises a failure of prepare here, on the worker
        self.position, self.ahead = self.ahead_position, None
        if not self.exhausted:
            self._read()
        return items

    def next_awake(self) -> datetime | None:
        return self.inner.next_awake()  # pacing (replay speed) stays the wrapped partition's

    def snapshot(self) -> S:
        return self.position

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.inner.close()


class ReadAheadSource(FixedPartitionedSource[Y, S], Generic[X, Y, S]):
    """``source`` with ``prepare`` applied to every item, one batch ahead, on a helper thread per partition."""

    def __init__(self, source: FixedPartitionedSource[X, S], prepare: Callable[[X], Y]) -> None:
        self.source, self.prepare = source, prepare

    def list_parts(self) -> list[str]:
        return self.source.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: S | None) -> _ReadAheadPartition[X, Y, S]:
        return _ReadAheadPartition(self.source.build_part(step_id, for_part, resume_state), self.prepare)
