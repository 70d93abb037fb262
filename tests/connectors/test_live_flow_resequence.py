"""flows/resequence.py: venue batches merged in receive-clock order once every venue heard from has progressed."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from connectors.batches import RawBatch
from connectors.live import Progress
from flows.resequence import Resequencer

T0 = 1_723_161_254_000_000  # µs, receive clock
PARTS = ("live-binance", "live-htx", "live-okx")


def batch(partition: str, first_offset: int, ts_us: list[int]) -> RawBatch:
    ids = [f"{partition}/{first_offset + i}" for i in range(len(ts_us))]
    ts = [datetime.fromtimestamp(t / 1e6, UTC) for t in ts_us]
    return RawBatch(0, partition, pl.DataFrame({"exchange": [partition[5:]] * len(ts), "ts_recv": ts, "quote_id": ids}))


def test_rows_wait_for_every_venue_then_leave_in_receive_order_with_venue_and_offset_tie_breaks() -> None:
    r = Resequencer(PARTS, max_hold_us=500_000)
    r = r.admit(batch("live-okx", 0, [T0 + 30, T0 + 10]), now_us=T0 + 100)
    r = r.admit(batch("live-binance", 7, [T0 + 10, T0 + 20]), now_us=T0 + 100)
    for p, upto in (("live-okx", 40), ("live-binance", 25)):
        r = r.advance(Progress(p, T0 + upto), now_us=T0 + 100)
    r, out = r.release(now_us=T0 + 200)
    assert out is None  # live-htx has not reported: its quotes up to T0+20 may still come
    r = r.admit(batch("live-htx", 0, [T0 + 10]), now_us=T0 + 300).advance(Progress("live-htx", T0 + 50), T0 + 300)
    r, out = r.release(now_us=T0 + 300)
    assert out is not None and (out.partition, out.batch_seq) == ("live", 0)
    assert out.frame["quote_id"].to_list() == ["live-binance/7", "live-htx/0", "live-okx/1", "live-binance/8"]
    assert r.next_due_us(T0 + 300) is not None and r.held is not None and r.held["quote_id"].to_list() == ["live-okx/0"]
    r, out = r.release(now_us=T0 + 300, everything=True)  # end of input
    assert out is not None and out.frame["quote_id"].to_list() == ["live-okx/0"] and out.batch_seq == 1
    assert r.held is None and r.late_rows == 0


def test_a_venue_silent_past_the_hold_limit_stops_gating_and_its_return_is_counted_late() -> None:
    r = Resequencer(PARTS, max_hold_us=500_000)
    for p in PARTS:
        r = r.advance(Progress(p, T0), now_us=T0)
    r = r.admit(batch("live-binance", 0, [T0 + 100]), T0 + 200).advance(Progress("live-binance", T0 + 200), T0 + 200)
    r = r.advance(Progress("live-okx", T0 + 200), T0 + 200)
    assert r.release(now_us=T0 + 400_000)[1] is None  # live-htx silent for 0.4 s: still waited for
    assert r.next_due_us(T0 + 400_000) == T0 + 500_001  # when it stops gating
    r, out = r.release(now_us=T0 + 500_001)
    assert out is not None and out.frame["quote_id"].to_list() == ["live-binance/0"]
    r = r.admit(batch("live-htx", 0, [T0 + 50]), T0 + 600_000)
    assert r.late_rows == 1 and r.next_due_us(T0 + 600_000) == T0 + 600_000  # goes out with the next release
