"""The Great Expectations audit: real GX, off the hot path, over chunks of the batches the compiled gate judged.

The compiled gate (quality/compiled.py) decides every batch inline. This step re-validates the same rows with GX
itself in a child process (GX is pure Python: on a thread it would hold the flow's GIL for ~2-4 µs a row) and writes its own ``validation_runs`` rows (``engine`` = 'gx', run_id
``audit/<partition>/<first>-<last batch_seq>/<suite>``), each saying whether GX agreed with the compiled gate on that chunk
(``compiled_agrees``); a disagreement is logged as an error, since it means the compiler is wrong.

Deterministic and exactly-once: a chunk is cut by data only (``audit_rows`` rows, or ``audit_interval_s`` seconds of
receive clock between its first and last row), never by wall clock; with ``audit_every`` = N only every N-th chunk
is validated. A chunk's rows are emitted when the next chunk is
cut (waiting for GX if it is still running: the audit applies back-pressure rather than fall behind) or at end of
input, so the same input gives the same rows at the same place in the stream. The snapshot carries the rows not yet
cut and every chunk not yet emitted (with its result when GX has finished it); after a resume, a chunk without a
result is validated again and none is emitted twice.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream
from bytewax.operators import StatefulLogic

from quality.compiled import CompiledGate
from quality.gate import QualityGate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunk:
    """Consecutive judged batches of one source partition, cut for one GX run."""

    partition: str
    first_seq: int
    last_seq: int
    quotes: pl.DataFrame
    runs: pl.DataFrame | None = None  # the GX rows, once GX has finished


@dataclass(frozen=True)
class AuditState:
    """The snapshot: rows not yet cut, chunks not yet emitted (oldest first)."""

    buffer: list[tuple[str, int, pl.DataFrame]] = field(default_factory=list)
    pending: list[Chunk] = field(default_factory=list)
    cuts: int = 0  # chunks cut so far, audited or skipped
    buffered_rows: int = 0  # rows in ``buffer``


COMPACT_FRAMES = 256  # live batches are a few rows: past this many buffered frames, concatenate all but the newest


_GATES: dict[str | None, tuple[QualityGate, CompiledGate]] = {}  # in the audit process: gates per suites dir
_POOL: ProcessPoolExecutor | None = None  # in the flow process: one audit process, shared by every audit step


def _gates(suites_dir: str | None) -> tuple[QualityGate, CompiledGate]:
    if suites_dir not in _GATES:
        _GATES[suites_dir] = QualityGate(suites_dir), CompiledGate(suites_dir)
    return _GATES[suites_dir]


def _warm_up(suites_dir: str | None) -> None:
    """In the audit process: import GX and build its context (~5 s) before the first chunk arrives."""
    _gates(suites_dir)[0].warm_up()


def _audit_in_worker(suites_dir: str | None, chunk: Chunk) -> pl.DataFrame:
    return audit_chunk(*_gates(suites_dir), chunk)


def _exit_with(parent_pid: int) -> None:
    """In the audit process: exit when the flow process is gone (a SIGKILLed flow must not leave it behind)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="audit-parent-watch", daemon=True).start()


def audit_pool() -> ProcessPoolExecutor:
    """The audit process, spawned on first use (the flow's threads must not be forked) and kept for the life of the
    flow process, so runs in one process (tests, the scheduler) pay GX's import once."""
    global _POOL
    if _POOL is None:
        spawn = multiprocessing.get_context("spawn")
        _POOL = ProcessPoolExecutor(1, mp_context=spawn, initializer=_exit_with, initargs=(os.getpid(),))
    return _POOL


def audit_chunk(gx_gate: QualityGate, compiled: CompiledGate, chunk: Chunk) -> pl.DataFrame:
    """GX's validation_runs rows for ``chunk``, each marked with whether the compiled gate gave the same verdict."""
    batch_id = f"audit/{chunk.partition}/{chunk.first_seq}-{chunk.last_seq}"
    theirs = gx_gate.validate(batch_id, chunk.last_seq, chunk.quotes)
    ours = compiled.validate(batch_id, chunk.last_seq, chunk.quotes)
    same_rows = ours.failed.select("reason").equals(theirs.failed.select("reason")) and ours.passed.height == (
        theirs.passed.height
    )
    verdict = ["success", "failed_expectations", "rows_unexpected"]
    agrees = []
    for gx_run, our_run in zip(theirs.runs.iter_rows(named=True), ours.runs.iter_rows(named=True), strict=True):
        same = all(gx_run[k] == our_run[k] for k in verdict) and (same_rows or gx_run["severity"] != "critical")
        if not same:
            log.error(
                "quality audit: GX and the compiled gate disagree on %s (GX %s, compiled %s): the compiler is wrong",
                gx_run["run_id"],
                {k: gx_run[k] for k in verdict},
                {k: our_run[k] for k in verdict},
            )
        agrees.append(same)
    return theirs.runs.with_columns(pl.Series("compiled_agrees", agrees, dtype=pl.Boolean))


class AuditLogic(StatefulLogic[tuple[str, int, pl.DataFrame], pl.DataFrame, AuditState]):
    """One partition's audit: accumulate judged batches, cut chunks by data, run GX in the audit process, emit in chunk
    order. Its own StatefulLogic, not a flows/common/keyed.py runner: a snapshot must look at the audit process's
    finished results, which a pure ``step(state, item)`` cannot."""

    def __init__(
        self, rows: int, interval: timedelta, suites_dir: str | None, resume: AuditState | None, every: int = 1
    ) -> None:
        self.rows, self.interval, self.every = rows, interval, every
        self.suites_dir, self.pool = suites_dir, audit_pool()
        self.pool.submit(_warm_up, suites_dir)
        self.state = resume or AuditState()
        self.running: dict[int, Future[pl.DataFrame]] = {}  # by first_seq
        for chunk in self.state.pending:
            if chunk.runs is None:  # cut before the snapshot, not finished by then: validate again
                self._submit(chunk)

    def _submit(self, chunk: Chunk) -> None:
        self.running[chunk.first_seq] = self.pool.submit(_audit_in_worker, self.suites_dir, chunk)

    def _cut(self) -> None:
        buffer, cuts = self.state.buffer, self.state.cuts
        if cuts % self.every:  # not audited: one chunk in ``every``, by chunk number
            self.state = AuditState([], self.state.pending, cuts + 1)
            return
        frames = pl.concat([frame for _, _, frame in buffer], how="vertical")
        chunk = Chunk(buffer[0][0], buffer[0][1], buffer[-1][1], frames)
        self.state = AuditState([], [*self.state.pending, chunk], cuts + 1)
        self._submit(chunk)

    def _emit(self, keep: int) -> list[pl.DataFrame]:
        """The GX rows of every pending chunk but the newest ``keep``, oldest first (waiting for GX if need be)."""
        out = []
        while len(self.state.pending) > keep:
            chunk, *rest = self.state.pending
            runs = chunk.runs if chunk.runs is not None else self.running.pop(chunk.first_seq).result()
            out.append(runs)
            self.state = replace(self.state, pending=rest)
        return out

    def on_item(self, value: tuple[str, int, pl.DataFrame]) -> tuple[list[pl.DataFrame], bool]:
        """Buffer the batch (in place, in O(1): at live rates thousands of tiny batches make up a chunk), cut when full."""
        if value[2].height:
            buffer = self.state.buffer
            buffer.append(value)
            if len(buffer) > COMPACT_FRAMES:  # the first and last entries keep the chunk's first and last batch_seq
                merged = pl.concat([frame for _, _, frame in buffer[:-1]], how="vertical")
                buffer[:-1] = [(buffer[0][0], buffer[0][1], merged)]
            self.state = replace(self.state, buffered_rows=self.state.buffered_rows + value[2].height)
        buffered = self.state.buffered_rows
        if not buffered:
            return [], StatefulLogic.RETAIN
        first, last = self.state.buffer[0][2]["ts_recv"].min(), self.state.buffer[-1][2]["ts_recv"].max()
        if buffered >= self.rows or (first is not None and last is not None and last - first >= self.interval):
            self._cut()
            return self._emit(keep=1), StatefulLogic.RETAIN
        return [], StatefulLogic.RETAIN

    def on_eof(self) -> tuple[list[pl.DataFrame], bool]:
        if self.state.buffer:
            self._cut()
        return self._emit(keep=0), StatefulLogic.RETAIN

    def snapshot(self) -> AuditState:
        pending = []
        for chunk in self.state.pending:
            future = self.running.get(chunk.first_seq)
            done = chunk.runs is None and future is not None and future.done() and future.exception() is None
            pending.append(replace(chunk, runs=future.result()) if done else chunk)
        return replace(self.state, buffer=list(self.state.buffer), pending=pending)  # on_item appends in place


def quality_audit(
    step_id: str,
    judged: Stream[tuple[str, int, pl.DataFrame]],
    rows: int,
    interval_s: float,
    suites_dir: str | None,
    every: int = 1,
) -> Stream[tuple[str, pl.DataFrame]]:
    """``(partition, batch_seq, rows the compiled gate judged)`` in -> ``("validation_runs", GX rows)`` out; one audit
    per source partition, whose batches arrive in order. ``every``: audit one chunk in that many (GX costs ~2-4 µs a
    row, which a fast replay may not afford for every row)."""
    if rows <= 0 or interval_s <= 0 or every <= 0:
        msg = f"quality.audit_rows ({rows}), audit_interval_s ({interval_s}) and audit_every ({every}) must be positive"
        raise ValueError(msg)
    interval = timedelta(seconds=interval_s)
    keyed = op.key_on(f"{step_id}_key", judged, lambda item: item[0])
    runs = op.stateful(step_id, keyed, lambda resume: AuditLogic(rows, interval, suites_dir, resume, every))
    return op.map(f"{step_id}_rows", runs, lambda kv: ("validation_runs", kv[1]))
