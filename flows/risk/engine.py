"""The risk step: paper-execute signals, keep the book, measure risk, enforce limits, trip the kill switch.

One deterministic state machine, meant to run as a single bytewax stateful step. Input events, in arrival order,
are ``(table_name, frame)`` items, the same shape the lake sink takes:

* ``quotes_clean`` (or ``quotes``): clean quotes, connectors.schema columns (+ optional depth lists, see
  flows.risk.execution). They move the clock: time inside risk is the quotes' receive clock ``ts_recv``.
* ``books``: depth snapshots (sql/schema/feeds.sql); legs then walk their levels.
* ``signals``: rows of the ``signals`` table (sql/schema/core.sql).
* ``validation_runs``: rows of that table; critical-suite runs feed the validation-failure-rate kill criterion.
* ``risk_commands``: operator commands (``command_id``, ``command`` = reset_kill_switch, ``ts_command``, ``note``).

Every decision is a task with a receive-clock time: admit a signal (at ``ts_signal``), execute it (``+ latency_ms``),
unwind a failed leg (``+ execution_timeout_ms``), take a validation run into account (its ``ts_recv_max``), emit
metrics (multiples of ``metrics_interval_ms``). Tasks run in time order, against the quotes received up to their
time, once the watermark has passed them: the slowest symbol stream's clock (latest ``ts_recv`` of that symbol's
quotes, each symbol arriving in order from its own upstream key) minus ``reorder_grace_ms``. Feed a symbol's quotes
and signals of one batch in one ``step`` call. A stream more than ``stream_stall_ms`` of receive time behind the
latest quote is stalled: it holds decisions back by that much at most, and raises a ``stream_stall:<symbol>`` warning
(flows/risk/streams.py has the precise rule). Symbols that are not expected (when some are) never hold decisions back.
No wall clock is read anywhere: the outputs depend only on the events, not on how upstream workers interleaved them
or how fast the machine replays, and replay gives the same rows.

Outputs: ``dict[table_name, polars.DataFrame]`` for fills, positions, pnl, risk_metrics, alerts (flows/risk/tables.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

import polars as pl

from arbflow.settings import RiskConfig, Settings
from connectors.schema import columns
from flows.risk import book, streams
from flows.risk.guard import Guard
from flows.risk.ledger import Ledger
from flows.risk.paper import PaperTrader
from flows.risk.state import ADMIT, COMMAND, EXECUTE, US_PER_MS, VALIDATION, Out, RiskState, schedule
from flows.risk.streams import VALIDATION_STREAM

__all__ = ["INPUT_TABLES", "QUOTE_TABLES", "RiskEngine", "RiskState"]

# the signals columns paper execution reads
SIGNAL_COLUMNS = columns(
    "signals",
    "signal_id",
    "strategy",
    "symbol",
    "buy_exchange",
    "sell_exchange",
    "ts_signal",
    "buy_px",
    "sell_px",
    "qty",
)
QUOTE_TABLES = ("quotes_clean", "quotes")
INPUT_TABLES = (*QUOTE_TABLES, "books", "signals", "validation_runs", "risk_commands")


class RiskEngine:
    """Pure step function over RiskState; configuration is fixed at construction."""

    def __init__(
        self,
        cfg: RiskConfig,
        fees_bps: Mapping[str, float],
        rebalance_threshold: float,
        expected_symbols: Iterable[str] = (),
    ) -> None:
        self.cfg = cfg
        self.expected_symbols = tuple(sorted(expected_symbols))
        self.guard = Guard(cfg, rebalance_threshold, self.expected_symbols)
        self.trader = PaperTrader(cfg, fees_bps, self.guard)
        self.grace_us = int(cfg.reorder_grace_ms * US_PER_MS)
        self.interval_us = int(cfg.metrics_interval_ms * US_PER_MS)
        self.stall_us = int(cfg.stream_stall_ms * US_PER_MS)
        # quotes kept behind the watermark: enough for executions and unwinds of signals admitted before it
        self.keep_us = self.trader.latency_us + self.trader.timeout_us + self.interval_us

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskEngine:
        """Engine for a run: [risk], taker fees from [venues], rebalance threshold and symbols from [cross]."""
        fees = {name: v.taker_fee_bps for name, v in settings.venues.items()}
        return cls(settings.risk, fees, settings.cross.rebalance_threshold, settings.cross.symbols)

    def initial_state(self) -> RiskState:
        """Fresh book funded with [risk.balances] (less the assets the expected symbols can never value)."""
        start = self.guard.funded()
        return RiskState(ledger=Ledger(self.cfg.valuation_currency, start))

    def step(
        self, state: RiskState, events: Iterable[tuple[str, pl.DataFrame]]
    ) -> tuple[RiskState, dict[str, pl.DataFrame]]:
        """Take events in arrival order, run every task the watermark has passed; return state and new rows."""
        out = Out()
        for table, frame in events:
            if table in QUOTE_TABLES:
                self._take_quotes(state, frame)
            elif table == "books":
                self._take_quotes(state, book.books_to_quotes(frame))
            elif table == "signals":
                self._take_signals(state, frame)
            elif table == "validation_runs":
                self._take_validation(state, frame)
            elif table == "risk_commands":
                self._take_commands(state, frame)
            else:
                msg = f"risk step: unexpected event table {table!r} ({' | '.join(INPUT_TABLES)})"
                raise ValueError(msg)
        watermark = streams.watermark(state, self.expected_symbols, self.stall_us, self.grace_us)
        if watermark is not None:
            self._run_until(state, watermark, out)
            state.history = book.prune(state.history, watermark - self.keep_us)
            state.book_at.clear()
        return state, out.frames()

    def flush(self, state: RiskState) -> tuple[RiskState, dict[str, pl.DataFrame]]:
        """End of input: run every task up to the clock, without waiting out the grace period (ticks included)."""
        out = Out()
        if state.clock_us is not None:
            self._run_until(state, state.clock_us, out)
            last = max((t for t, *_ in state.tasks), default=state.clock_us)
            self._run_until(state, last, out, ticks=False)  # executions/unwinds scheduled past the last quote
        return state, out.frames()

    def reset_kill_switch(self, state: RiskState, ts_us: int, note: str) -> tuple[RiskState, dict[str, pl.DataFrame]]:
        """Manual re-arm now (an operator's decision, recorded as an alert). In a running flow send a
        ``risk_commands`` event instead, so the reset takes its place in receive-time order."""
        out = Out()
        self.guard.command(
            state, ts_us, {"command_id": f"manual/{ts_us}", "command": "reset_kill_switch", "note": note}, out
        )
        return state, out.frames()

    # ---- inputs -------------------------------------------------------------------------------------------------

    def _take_quotes(self, state: RiskState, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        new = book.quotes_to_history(frame)
        state.history = pl.concat([state.history, new]).sort("ts_us", maintain_order=True)
        state.book_at.clear()
        per_symbol = new.group_by("symbol").agg(pl.col("ts_us").max())
        for symbol, ts_us in per_symbol.iter_rows():
            state.stream_clock[symbol] = max(state.stream_clock.get(symbol, ts_us), ts_us)
        first, latest = int(new["ts_us"].min()), int(new["ts_us"].max())  # type: ignore[arg-type]
        state.first_us = first if state.first_us is None else min(state.first_us, first)
        state.clock_us = latest if state.clock_us is None else max(state.clock_us, latest)

    def _take_signals(self, state: RiskState, frame: pl.DataFrame) -> None:
        missing = [c for c in SIGNAL_COLUMNS if c not in frame.columns]
        if missing:
            msg = f"risk: signal frame lacks columns {missing}; expected the signals table (sql/schema/core.sql)"
            raise ValueError(msg)
        rows = frame.with_columns(book.to_us("ts_signal").alias("ts_signal_us")).to_dicts()
        for row in rows:
            if row["ts_signal_us"] is None:  # decided (blocked) when it arrived, with the reason
                row |= {"ts_signal_us": state.clock_us or 0, "invalid": "invalid_signal:ts_signal"}
            schedule(state, row["ts_signal_us"], ADMIT, str(row["signal_id"]), row)

    def _take_commands(self, state: RiskState, frame: pl.DataFrame) -> None:
        """Operator commands (command_id, command, ts_command receive clock, note), e.g. reset_kill_switch."""
        rows = frame.with_columns(book.to_us("ts_command").alias("ts_us")).to_dicts()
        for row in rows:
            schedule(
                state,
                row["ts_us"] if row["ts_us"] is not None else state.clock_us or 0,
                COMMAND,
                str(row["command_id"]),
                row,
            )

    def _take_validation(self, state: RiskState, frame: pl.DataFrame) -> None:
        runs = frame.filter(pl.col("severity") == "critical") if "severity" in frame.columns else frame
        runs = runs.with_columns(book.to_us("ts_recv_max").alias("ts_us")).filter(pl.col("ts_us").is_not_null())
        for row in runs.select("run_id", "ts_us", "rows_in", "rows_unexpected").to_dicts():
            schedule(state, row["ts_us"], VALIDATION, str(row["run_id"]), row)
            # validation runs are a stream of their own: once seen, decisions also wait for them
            state.stream_clock[VALIDATION_STREAM] = max(state.stream_clock.get(VALIDATION_STREAM, 0), row["ts_us"])

    # ---- scheduler ----------------------------------------------------------------------------------------------

    def _run_until(self, state: RiskState, until_us: int, out: Out, ticks: bool = True) -> None:
        if state.next_tick_us is None and state.first_us is not None:
            state.next_tick_us = (state.first_us // self.interval_us + 1) * self.interval_us
        if ticks and state.next_tick_us is not None and state.next_tick_us <= until_us:
            tick_times = range(state.next_tick_us, until_us + 1, self.interval_us)
            state.book_at.update(book.latest_many(state.history, list(tick_times)))  # one query for all ticks
        while True:
            task_t = state.tasks[0][0] if state.tasks else None
            tick_t = state.next_tick_us if ticks else None
            if tick_t is not None and tick_t <= until_us and (task_t is None or tick_t < task_t):
                self._stream_alerts(state, tick_t, out)
                self.guard.tick(state, tick_t, out)
                state.next_tick_us = tick_t + self.interval_us
                continue
            if task_t is None or task_t > until_us:
                return
            t, rank, _key, _seq, payload = heapq.heappop(state.tasks)
            if rank == COMMAND:
                self.guard.command(state, t, payload, out)
            elif rank == VALIDATION:
                self.guard.validation(state, t, payload, out)
            elif rank == ADMIT:
                self.trader.admit(state, t, payload, out)
            elif rank == EXECUTE:
                self.trader.execute(state, t, payload, out)
            else:
                self.trader.unwind(state, t, payload, out)

    def _stream_alerts(self, state: RiskState, t_us: int, out: Out) -> None:
        """At a metrics tick: a ``stream_stall:<symbol>`` warning for each watched symbol silent for more than
        ``stream_stall_ms`` of receive time (once per episode; it clears when the symbol quotes again)."""
        limit_ms = self.cfg.stream_stall_ms
        silences = streams.silences_ms(state, self.expected_symbols, self.guard.book(state, t_us), t_us)
        for symbol, silent_ms in silences.items():
            name = f"stream_stall:{symbol}"
            if silent_ms <= limit_ms:
                state.alerts_active.pop(name, None)
                continue
            msg = f"no {symbol} quote for {silent_ms:.0f} ms of receive time (limit {limit_ms:.0f} ms)"
            self.guard.alert(state, out, t_us, name, "warning", silent_ms, limit_ms, msg)
