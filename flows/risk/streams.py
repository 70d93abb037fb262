"""Which input streams hold the risk step's decisions back, and when a silent one stalls: all on the receive clock.

A *stream* is one symbol's quotes (they arrive in order from that symbol's upstream key, every venue together), plus
the quality gate's validation runs once one has arrived. The watched symbols are the expected ones ([cross] symbols
in a run), or every symbol seen when none are expected. A stream's clock is the latest ``ts_recv`` it has delivered
(validation runs: ``ts_recv_max``); the *input clock* is the latest ``ts_recv`` of any quote delivered.

Stall rule: a stream whose clock is more than ``stream_stall_ms`` behind the input clock is *stalled*: it holds
decisions back only to ``input clock - stream_stall_ms`` (never further), so a silent stream delays decisions by a
bounded receive-clock time instead of forever. The watermark (decisions up to it may run) is therefore

    min over watched streams of max(stream clock, input clock - stream_stall_ms) - reorder_grace_ms

A never-seen watched stream counts from the first quote's receive time. No wall clock is read, so the rows never
depend on how fast the machine replays. They do not depend on how upstream workers interleave either, as long as no
stream's delivery lags another's by more than ``stream_stall_ms`` of receive time (data at or before
``input clock - stream_stall_ms`` has then arrived from every stream, and the watermark never passes that point for a
stalled stream).

A stalled symbol is reported on the metrics ticks as a ``stream_stall:<symbol>`` warning once per episode: at the
first tick ``t`` where its latest quote at or before ``t`` is more than ``stream_stall_ms`` old (a receive-clock
instant fixed by the data, not by when the step noticed).
"""

from __future__ import annotations

from typing import Any

from flows.risk.state import US_PER_MS, RiskState

VALIDATION_STREAM = "validation_runs"  # stream_clock key of the quality gate's runs (symbols contain a "/")


def watched(state: RiskState, expected: tuple[str, ...]) -> tuple[str, ...]:
    """The streams that hold decisions back (module doc)."""
    symbols = expected or tuple(s for s in state.stream_clock if s != VALIDATION_STREAM)
    return (*symbols, VALIDATION_STREAM) if VALIDATION_STREAM in state.stream_clock else symbols


def watermark(state: RiskState, expected: tuple[str, ...], stall_us: int, grace_us: int) -> int | None:
    """Receive time up to which decisions may run (module doc), or None before the first quote."""
    if state.clock_us is None or state.first_us is None:
        return None
    floor_us = state.clock_us - stall_us  # a stalled stream holds decisions back to here, no further
    clocks = [max(state.stream_clock.get(s, state.first_us), floor_us) for s in watched(state, expected)]
    return min(clocks, default=state.clock_us) - grace_us


def silences_ms(
    state: RiskState, expected: tuple[str, ...], book_at_t: dict[tuple[str, str], dict[str, Any]], t_us: int
) -> dict[str, float]:
    """Receive-clock ms at ``t_us`` since each watched symbol's latest quote at or before it (``book_at_t``: the
    latest quote per (exchange, symbol) at ``t_us``); a symbol without one counts from the run's first quote."""
    last: dict[str, int] = {}
    for (_venue, symbol), row in book_at_t.items():
        last[symbol] = max(last.get(symbol, row["ts_us"]), row["ts_us"])
    first_us = state.first_us if state.first_us is not None else t_us
    return {s: (t_us - last.get(s, first_us)) / US_PER_MS for s in watched(state, expected) if s != VALIDATION_STREAM}
