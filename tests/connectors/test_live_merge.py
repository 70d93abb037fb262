"""connectors/live.py's merge point: one callback for every venue, arrival order kept, ts_recv strictly increasing."""

from __future__ import annotations

import queue

from connectors.exchanges.session import now_us
from connectors.live import _Merge


def test_the_merge_point_keeps_arrival_order_and_makes_ts_recv_strictly_increasing() -> None:
    merge = _Merge()
    binance, okx = merge.emit_for("live-binance"), merge.emit_for("live-okx")
    t = 1_764_870_000_000_000
    binance("quote", {"ts_recv": t})
    okx("quote", {"ts_recv": t})  # same µs on another venue: nudged 1 µs later
    okx("quote", {"ts_recv": t})  # a second row of the same frame
    binance("event", {"ts_recv": t - 5_000})  # the wall clock stepped back 5 ms: never below what was stamped
    okx("quote", {"ts_recv": t + 10})
    before = now_us()
    binance("quote", {"ts_recv": None})  # no stamp: the merge point's own clock
    got = []
    while True:
        try:
            got.append(merge.inbox.get_nowait())
        except queue.Empty:
            break
    assert [(p, k) for p, k, _ in got] == [
        ("live-binance", "quote"), ("live-okx", "quote"), ("live-okx", "quote"), ("live-binance", "event"),
        ("live-okx", "quote"), ("live-binance", "quote"),
    ]  # fmt: skip
    assert [r["ts_recv"] for _, _, r in got[:5]] == [t, t + 1, t + 2, t + 3, t + 10]
    assert got[5][2]["ts_recv"] >= before
