"""Live only: merge the venue partitions' quote batches into one stream in receive-clock order, as replay does.

Why: a live source has one partition per venue, and their batches reach the stateful per-symbol steps in whatever
order the threads and Bytewax happen to deliver them. Replay of the capture merges every file by ``ts_recv``. The
stateful math (stream checks, each venue's latest quote for a spread, rising-edge signals) depends on that order, so
without this step a live run and the replay of its capture could produce different signals.

Contract (the ``Resequencer`` below, pure; ``resequence`` is its thin Bytewax step):

- Input: ``RawBatch`` items from the venue partitions and ``Progress(partition, ts_recv_us)`` items, each saying "this
  partition has emitted every quote it will ever emit with ``ts_recv <= ts_recv_us``" (connectors/live.py stamps it
  on the venue's own event loop between frames, so it is exact, not a guess; the one gap is a reply the session must
  send before publishing a frame's quotes, if the socket's write buffer is full: such a row would arrive *late*).
- A quote is *released* once every partition still *heard from* has reported progress at or past its ``ts_recv``.
  A partition is heard from while its last ``Progress`` arrived at most ``max_hold_ms`` ago (receive clock); a
  connected, disconnected or quiet venue keeps reporting (the stamp comes from its event loop), so only a stuck venue
  thread drops out, and it cannot stall the others (its feed_events mark it down anyway). End of input releases all.
- Released rows go out as one ``RawBatch(n, "live", frame)`` per release (``n`` counts releases), ordered by
  (``ts_recv``, partition, offset in the partition). That is exactly replay's order of the capture (``ts_recv``, then
  capture file ``exchange=<venue>/...-<offset>`` order, then row), so both feed the same sequence to the same operators.
  ``quote_id`` keeps its "<venue partition>/<offset>" value. Releases are coalesced to at most one per Bytewax
  activation of the step, so a flow that falls behind gets bigger batches (the quality gate costs per batch).
- A row arriving with ``ts_recv`` below what was already released (a partition came back after dropping out) is
  *late*: it goes out with the next release, is counted in ``late_rows`` and logged.

The added latency is the slowest venue's progress lag: about ``flush_ms`` plus the source's 10 ms poll.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Stream

from connectors.batches import RawBatch
from connectors.exchanges.session import now_us
from connectors.live import Progress

log = logging.getLogger(__name__)
PARTITION = "live"  # the partition name of released batches
_NEVER, _ALWAYS = -(2**62), 2**62
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEYS = ("_ts_us", "_part", "_offset")


@dataclass(frozen=True)
class Resequencer:
    """Held rows and each partition's progress (the state of the step, snapshotted for recovery).

    Attributes:
        partitions: the live partitions whose progress gates a release.
        max_hold_us: a partition silent this long (no ``Progress``) stops gating releases (µs).
        held: rows not yet released, with the order keys ``_ts_us``, ``_part``, ``_offset``.
        progress_us: per partition, the newest reported progress (receive clock, µs).
        heard_us: per partition, when its newest ``Progress`` arrived (receive clock, µs).
        started_us: when the first item arrived (a partition not heard from yet counts from here).
        released_us: the newest ``ts_recv`` released so far.
        releases: number of batches released (the next ``batch_seq``).
        late_rows: rows that arrived after newer rows had been released.
    """

    partitions: tuple[str, ...]
    max_hold_us: int
    held: pl.DataFrame | None = None
    progress_us: dict[str, int] = field(default_factory=dict)
    heard_us: dict[str, int] = field(default_factory=dict)
    started_us: int | None = None
    released_us: int = _NEVER
    releases: int = 0
    late_rows: int = 0

    def _started(self, now_us: int) -> Resequencer:
        return self if self.started_us is not None else replace(self, started_us=now_us)

    def admit(self, batch: RawBatch, now_us: int) -> Resequencer:
        """Hold a venue partition's batch (its rows go out later, merged in receive-clock order)."""
        state = self._started(now_us)
        if batch.frame.height == 0:
            return state
        ts_us = pl.col("ts_recv").cast(pl.Datetime("us", "UTC"), strict=False).dt.epoch("us")
        offset = pl.col("quote_id").str.split("/").list.last().cast(pl.Int64, strict=False)
        keyed = batch.frame.with_columns(
            ts_us.fill_null(state.released_us).alias("_ts_us"),  # no receive time: goes out with the next release
            pl.lit(batch.partition).alias("_part"),
            offset.alias("_offset"),
        )
        late = int(keyed.select((pl.col("_ts_us") < state.released_us).sum()).item())
        if late:
            log.warning("resequence: %d row(s) of %s arrived after newer rows were released", late, batch.partition)
        held = keyed if state.held is None else pl.concat([state.held, keyed], how="diagonal_relaxed")
        return replace(state, held=held, late_rows=state.late_rows + late)

    def advance(self, progress: Progress, now_us: int) -> Resequencer:
        """Record a partition's progress (never moves backwards) and that it was heard from."""
        state = self._started(now_us)
        p = progress.partition
        newest = max(state.progress_us.get(p, progress.ts_recv_us), progress.ts_recv_us)
        return replace(state, progress_us={**state.progress_us, p: newest}, heard_us={**state.heard_us, p: now_us})

    def _heard_since(self, p: str) -> int:
        return self.heard_us.get(p, self.started_us if self.started_us is not None else _NEVER)

    def cut_us(self, now_us: int) -> int:
        """Rows with ``ts_recv`` at or before this may go out: the least progress of the partitions heard from."""
        heard = [p for p in self.partitions if now_us - self._heard_since(p) <= self.max_hold_us]
        if not heard:
            return _ALWAYS
        return min(self.progress_us.get(p, _NEVER) for p in heard)

    def release(self, now_us: int, everything: bool = False) -> tuple[Resequencer, RawBatch | None]:
        """Release what is due at ``now_us`` (receive clock, µs), or ``everything`` (end of input)."""
        if self.held is None:
            return self, None
        due = pl.lit(True) if everything else pl.col("_ts_us") <= self.cut_us(now_us)
        out = self.held.filter(due).sort(*_KEYS)
        if out.height == 0:
            return self, None
        rest = self.held.filter(~due)
        released_us = max(self.released_us, int(out["_ts_us"].max()))  # type: ignore[arg-type]
        state = replace(self, held=rest if rest.height else None, released_us=released_us, releases=self.releases + 1)
        return state, RawBatch(self.releases, PARTITION, out.drop(*_KEYS))

    def next_due_us(self, now_us: int) -> int | None:
        """When a release may be due (receive clock, µs): now if some held row is releasable, else when the next
        heard-from partition would drop out; None when nothing is held."""
        if self.held is None:
            return None
        if int(self.held["_ts_us"].min()) <= self.cut_us(now_us):  # type: ignore[arg-type]
            return now_us
        silent_at = [self._heard_since(p) + self.max_hold_us + 1 for p in self.partitions]
        return min(t for t in silent_at if t > now_us) if any(t > now_us for t in silent_at) else now_us


class _Logic(op.StatefulLogic[RawBatch | Progress, RawBatch, Resequencer]):
    """Items only update the state; the release happens in ``on_notify``, once per activation (coalescing)."""

    def __init__(self, state: Resequencer) -> None:
        self.state = state

    def on_item(self, value: RawBatch | Progress) -> tuple[Iterable[RawBatch], bool]:
        if isinstance(value, Progress):
            self.state = self.state.advance(value, now_us())
        else:
            self.state = self.state.admit(value, now_us())
        return [], op.StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[RawBatch], bool]:
        return self._release(everything=False)

    def on_eof(self) -> tuple[Iterable[RawBatch], bool]:
        return self._release(everything=True)

    def _release(self, everything: bool) -> tuple[Iterable[RawBatch], bool]:
        self.state, batch = self.state.release(now_us(), everything)
        return ([batch] if batch is not None else []), op.StatefulLogic.RETAIN

    def notify_at(self) -> datetime | None:
        due_us = self.state.next_due_us(now_us())
        return None if due_us is None else _EPOCH + timedelta(microseconds=due_us)

    def snapshot(self) -> Resequencer:
        return self.state


def resequence(
    step_id: str, up: Stream[RawBatch | Progress], partitions: Iterable[str], max_hold_ms: float
) -> Stream[RawBatch]:
    """One merged, receive-ordered ``RawBatch`` stream from the live partitions' batches and progress items."""
    empty = Resequencer(tuple(sorted(partitions)), int(max_hold_ms * 1000))
    keyed = op.key_on(f"{step_id}_one_key", up, lambda _item: PARTITION)
    merged = op.stateful(step_id, keyed, lambda resumed: _Logic(resumed or empty))
    return op.key_rm(f"{step_id}_unkey", merged)
