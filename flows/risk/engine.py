"""The risk step: paper-execute signals, keep the book, measure risk, enforce limits, trip the kill switch.

One deterministic state machine, meant to run as a single bytewax stateful step. Input events, in arrival order,
are ``(table_name, frame)`` items, the same shape the lake sink takes:

* ``quotes_clean`` (or ``quotes``): clean quotes, connectors.schema columns (+ optional depth lists, see
  flows.risk.execution). They move the clock: time inside risk is the quotes' receive clock ``ts_recv``.
* ``signals``: rows of the ``signals`` table (sql/schema/core.sql).
* ``validation_runs``: rows of that table; critical-suite runs feed the validation-failure-rate kill criterion.

Every decision is a task with a receive-clock time: admit a signal (at ``ts_signal``), execute it (``+ latency_ms``),
unwind a failed leg (``+ execution_timeout_ms``), take a validation run into account (its ``ts_recv_max``), emit
metrics (multiples of ``metrics_interval_ms``). Tasks run in time order, against the quotes received up to their
time, once the watermark has passed them: the slowest symbol stream's clock (latest ``ts_recv`` of that symbol's
quotes, each symbol arriving in order from its own upstream key) minus ``reorder_grace_ms``. Feed a symbol's quotes
and signals of one batch in one ``step`` call. Expected symbols not seen yet hold decisions back until
``stream_stall_ms`` of receive time has passed; a symbol that far behind stops holding them back. So the outputs
depend only on the events, not on how upstream workers interleaved them, and replay gives the same rows.

Outputs: ``dict[table_name, polars.DataFrame]`` for fills, positions, pnl, risk_metrics, alerts (flows/risk/tables.py).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from connectors.config import RiskConfig, Settings
from flows.risk import book, limits, metrics
from flows.risk.execution import LegFill, Outcome, classify, edge_bps, fill_leg, limit_prices
from flows.risk.ledger import Ledger, split_symbol
from flows.risk.tables import iso_us, to_frame

US_PER_MS = 1000
US_PER_DAY = 86_400_000_000
SIGNAL_COLUMNS = (
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
# Task ranks: at one instant, inputs first, then admissions, executions, unwinds, and the metrics tick last.
VALIDATION, ADMIT, EXECUTE, UNWIND, TICK = range(5)


@dataclass
class RiskState:
    """Everything the step carries between events (plain data: picklable for bytewax snapshots)."""

    ledger: Ledger
    history: pl.DataFrame = field(default_factory=book.empty_history)
    clock_us: int | None = None  # latest ts_recv seen
    first_us: int | None = None  # earliest ts_recv seen
    stream_clock: dict[str, int] = field(default_factory=dict)  # symbol -> latest ts_recv of its quotes
    marks_seen: dict[str, float] = field(default_factory=dict)  # last mark per asset, for instants before a quote
    tasks: list[tuple[int, int, str, dict[str, Any]]] = field(default_factory=list)  # heap
    next_tick_us: int | None = None
    open_orders: int = 0
    peak_equity: float | None = None
    max_drawdown: float = 0.0
    day: int | None = None
    day_open_equity: float = 0.0
    last_tick_equity: float | None = None
    pnl_window: list[float] = field(default_factory=list)  # per-interval equity change, valuation currency
    return_window: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "executed": 0, "blocked": 0, "won": 0})
    alerts_last: dict[str, tuple[int, int]] = field(default_factory=dict)
    kill_reason: str | None = None  # None = armed (signals admitted)
    kill_ts_us: int | None = None
    validation: list[tuple[int, int]] = field(default_factory=list)  # (rows_in, rows_unexpected), latest last
    book_at: tuple[int, dict[tuple[str, str], dict[str, Any]]] | None = None  # cache of book.latest at one instant


class _Out:
    """Row buffers of one step."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {
            t: [] for t in ("fills", "positions", "pnl", "risk_metrics", "alerts")
        }

    def frames(self) -> dict[str, pl.DataFrame]:
        return {t: to_frame(t, rows) for t, rows in self.rows.items() if rows}


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
        self.fees_bps = dict(fees_bps)
        self.rebalance_threshold = rebalance_threshold
        self.grace_us = int(cfg.reorder_grace_ms * US_PER_MS)
        self.latency_us = int(cfg.latency_ms * US_PER_MS)
        self.timeout_us = int(cfg.execution_timeout_ms * US_PER_MS)
        self.interval_us = int(cfg.metrics_interval_ms * US_PER_MS)
        self.stale_us = int(cfg.max_feed_stale_ms * US_PER_MS)
        self.cooldown_us = int(cfg.alert_cooldown_ms * US_PER_MS)
        self.keep_us = self.latency_us + self.timeout_us + self.interval_us  # history kept behind the watermark
        self.stall_us = int(cfg.stream_stall_ms * US_PER_MS)

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskEngine:
        """Engine for a run: [risk], taker fees from [venues], rebalance threshold and symbols from [cross]."""
        fees = {name: v.taker_fee_bps for name, v in settings.venues.items()}
        return cls(settings.risk, fees, settings.cross.rebalance_threshold, settings.cross.symbols)

    def initial_state(self) -> RiskState:
        """Fresh book funded with [risk.balances]."""
        start = {v: dict(a) for v, a in self.cfg.balances.items()}
        return RiskState(ledger=Ledger(self.cfg.valuation_currency, start))

    # ---- public steps -------------------------------------------------------------------------------------------

    def step(
        self, state: RiskState, events: Iterable[tuple[str, pl.DataFrame]]
    ) -> tuple[RiskState, dict[str, pl.DataFrame]]:
        """Take events in arrival order, run every task the clock has passed; return state and new rows."""
        out = _Out()
        for table, frame in events:
            if table in QUOTE_TABLES:
                self._take_quotes(state, frame)
            elif table == "signals":
                self._take_signals(state, frame)
            elif table == "validation_runs":
                self._take_validation(state, frame)
            else:
                msg = f"risk step: unexpected event table {table!r} (quotes_clean | signals | validation_runs)"
                raise ValueError(msg)
        watermark = self._watermark(state)
        if watermark is not None:
            self._run_until(state, watermark, out)
            state.history = book.prune(state.history, watermark - self.keep_us)
            state.book_at = None
        return state, out.frames()

    def _watermark(self, state: RiskState) -> int | None:
        """Receive time up to which every live symbol stream has delivered (minus the grace), or None."""
        if state.clock_us is None or state.first_us is None:
            return None
        clocks = [
            state.stream_clock.get(s, state.first_us) for s in set(self.expected_symbols) | set(state.stream_clock)
        ]
        live = [c for c in clocks if state.clock_us - c <= self.stall_us]
        return min(live, default=state.clock_us) - self.grace_us

    def flush(self, state: RiskState) -> tuple[RiskState, dict[str, pl.DataFrame]]:
        """End of input: run every task up to the clock, without waiting out the grace period (ticks included)."""
        out = _Out()
        if state.clock_us is not None:
            self._run_until(state, state.clock_us, out)
            last = max((t for t, *_ in state.tasks), default=state.clock_us)
            self._run_until(state, last, out, ticks=False)  # executions/unwinds scheduled past the last quote
        return state, out.frames()

    def reset_kill_switch(self, state: RiskState, ts_us: int, note: str) -> tuple[RiskState, dict[str, pl.DataFrame]]:
        """Manual reset (an operator's decision, recorded as an alert); the only way back under kill_switch_reset=manual."""
        out = _Out()
        if state.kill_reason is not None:
            self._alert(state, out, ts_us, "kill_switch_reset", "info", None, None, f"manual reset: {note}", force=True)
            state.kill_reason, state.kill_ts_us = None, None
        return state, out.frames()

    # ---- inputs -------------------------------------------------------------------------------------------------

    def _take_quotes(self, state: RiskState, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        new = book.quotes_to_history(frame)
        state.history = pl.concat([state.history, new]).sort("ts_us", maintain_order=True)
        state.book_at = None
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
            heapq.heappush(state.tasks, (row["ts_signal_us"], ADMIT, row["signal_id"], row))

    def _take_validation(self, state: RiskState, frame: pl.DataFrame) -> None:
        runs = frame.filter(pl.col("severity") == "critical") if "severity" in frame.columns else frame
        runs = runs.with_columns(book.to_us("ts_recv_max").alias("ts_us")).filter(pl.col("ts_us").is_not_null())
        for row in runs.select("run_id", "ts_us", "rows_in", "rows_unexpected").to_dicts():
            heapq.heappush(state.tasks, (row["ts_us"], VALIDATION, row["run_id"], row))

    # ---- scheduler ----------------------------------------------------------------------------------------------

    def _run_until(self, state: RiskState, until_us: int, out: _Out, ticks: bool = True) -> None:
        if state.next_tick_us is None and state.first_us is not None:
            state.next_tick_us = (state.first_us // self.interval_us + 1) * self.interval_us
        while True:
            task_t = state.tasks[0][0] if state.tasks else None
            tick_t = state.next_tick_us if ticks else None
            if tick_t is not None and tick_t <= until_us and (task_t is None or tick_t < task_t):
                self._tick(state, tick_t, out)
                state.next_tick_us = tick_t + self.interval_us
                continue
            if task_t is None or task_t > until_us:
                return
            t, rank, _, payload = heapq.heappop(state.tasks)
            if rank == VALIDATION:
                self._validation(state, t, payload, out)
            elif rank == ADMIT:
                self._admit(state, t, payload, out)
            elif rank == EXECUTE:
                self._execute(state, t, payload, out)
            else:
                self._unwind(state, t, payload, out)

    # ---- valuation, limits, kill switch -------------------------------------------------------------------------

    def _book(self, state: RiskState, t_us: int) -> dict[tuple[str, str], dict[str, Any]]:
        """Latest quote per (exchange, symbol) at t; cached, since one decision asks several times."""
        if state.book_at is None or state.book_at[0] != t_us:
            state.book_at = (t_us, book.latest(state.history, t_us))
        return state.book_at[1]

    def _marks(self, state: RiskState, t_us: int) -> dict[str, float]:
        """Asset -> valuation price at t (valuation currency = 1)."""
        val = self.cfg.valuation_currency
        marks = {val: 1.0}
        for symbol, mid in book.mids(self._book(state, t_us), t_us, self.stale_us).items():
            base, quote = split_symbol(symbol)
            if quote == val:
                marks[base] = mid
        state.marks_seen.update(marks)
        return state.marks_seen | marks

    def _evaluate(self, state: RiskState, t_us: int, out: _Out) -> dict[str, Any] | None:
        """Value the book at t, check feeds and limits, raise alerts, trip or re-arm the kill switch.

        Returns the snapshot (None until every held asset has had a mark).
        """
        causes = self._feed_causes(state, t_us, out)
        marks = self._marks(state, t_us)
        ledger = state.ledger
        if not ledger.start_marks:
            if not ledger.marks_complete(marks):
                self._kill_or_rearm(state, t_us, causes, out)
                return None
            ledger.open(marks)
        equity = ledger.equity(marks)
        day = t_us // US_PER_DAY
        if state.day != day:
            state.day, state.day_open_equity = day, equity
        state.peak_equity = equity if state.peak_equity is None else max(state.peak_equity, equity)
        dd = metrics.drawdown(equity, state.peak_equity)
        state.max_drawdown = max(state.max_drawdown, dd)
        gross = ledger.gross_exposure(marks)
        positions = ledger.net_positions(marks)
        snap: dict[str, Any] = {
            "marks": marks,
            "equity_usdt": equity,
            "start_equity_usdt": ledger.start_equity(),
            "realized_pnl_usdt": ledger.realized_pnl,
            "unrealized_pnl_usdt": ledger.unrealized(marks),
            "fees_usdt": ledger.fees,
            "daily_pnl_usdt": equity - state.day_open_equity,
            "drawdown": dd,
            "max_drawdown": state.max_drawdown,
            "gross_exposure_usdt": gross,
            "net_exposure_usdt": sum(positions.values()),
            "leverage": gross / equity if equity > 0 else math.inf,
            "margin_ratio": equity * self.cfg.max_leverage / gross if gross > 0 else None,
        }
        daily_loss = max(0.0, -snap["daily_pnl_usdt"] / state.day_open_equity) if state.day_open_equity > 0 else 0.0
        checks = limits.evaluate(
            self.cfg,
            daily_loss=daily_loss,
            drawdown=dd,
            leverage=snap["leverage"],
            margin_ratio=snap["margin_ratio"],
            max_position_usdt=max((abs(v) for v in positions.values()), default=0.0),
            open_orders=state.open_orders,
        )
        for c in checks:
            if c.severity in ("warning", "critical"):
                verb = "at or beyond" if c.severity == "critical" else f"{c.utilization:.1%} of"
                self._alert(
                    state,
                    out,
                    t_us,
                    c.name,
                    c.severity,
                    c.value,
                    c.limit,
                    f"{c.name} {c.value:.6g} {verb} limit {c.limit:.6g}",
                )
        for asset in ledger.assets():
            if asset != self.cfg.valuation_currency:
                imb = ledger.imbalance(asset)
                if imb > self.rebalance_threshold:
                    msg = f"{asset} inventory drifted {imb:.1%} from its starting split across venues: rebalance"
                    self._alert(state, out, t_us, f"rebalance:{asset}", "warning", imb, self.rebalance_threshold, msg)
        causes += [f"limit:{c.name}" for c in checks if c.severity == "critical" and c.name in limits.KILL_LIMITS]
        snap["risk_level"] = limits.risk_level(checks)
        self._kill_or_rearm(state, t_us, causes, out)
        return snap

    def _feed_causes(self, state: RiskState, t_us: int, out: _Out) -> list[str]:
        """Feed-health kill criteria at t: stale venues and the validation failure rate."""
        causes = []
        for venue, last in sorted(book.last_recv_by_venue(self._book(state, t_us)).items()):
            age_ms = (t_us - last) / US_PER_MS
            if age_ms > self.cfg.max_feed_stale_ms:
                causes.append(f"feed_stale:{venue}")
                msg = f"no quote from {venue} for {age_ms:.0f} ms (limit {self.cfg.max_feed_stale_ms:.0f} ms)"
                self._alert(
                    state, out, t_us, f"feed_stale:{venue}", "critical", age_ms, self.cfg.max_feed_stale_ms, msg
                )
        rate = self._validation_rate(state)
        if rate is not None and rate > self.cfg.max_validation_failure_rate:
            causes.append("validation_failure_rate")
        return causes

    def _validation_rate(self, state: RiskState) -> float | None:
        rows_in = sum(r for r, _ in state.validation)
        return sum(u for _, u in state.validation) / rows_in if rows_in > 0 else None

    def _kill_or_rearm(self, state: RiskState, t_us: int, causes: list[str], out: _Out) -> None:
        if causes and state.kill_reason is None:
            state.kill_reason, state.kill_ts_us = causes[0], t_us
            msg = f"kill switch tripped: {', '.join(causes)}; new signals are blocked"
            self._alert(state, out, t_us, "kill_switch", "critical", None, None, msg, force=True)
        elif (
            not causes
            and state.kill_reason is not None
            and self.cfg.kill_switch_reset == "timed"
            and t_us - (state.kill_ts_us or t_us) >= self.cfg.kill_switch_reset_ms * US_PER_MS
        ):
            msg = f"kill switch re-armed after {self.cfg.kill_switch_reset_ms:.0f} ms (was: {state.kill_reason})"
            self._alert(state, out, t_us, "kill_switch_reset", "info", None, None, msg, force=True)
            state.kill_reason, state.kill_ts_us = None, None

    def _alert(
        self,
        state: RiskState,
        out: _Out,
        t_us: int,
        name: str,
        severity: str,
        value: float | None,
        limit_value: float | None,
        message: str,
        force: bool = False,
    ) -> None:
        rank = limits.LEVEL_RANK.get(severity, 0)
        if not force and not limits.should_alert(state.alerts_last.get(name), rank, t_us, self.cooldown_us):
            return
        state.alerts_last[name] = (rank, t_us)
        out.rows["alerts"].append(
            {
                "alert_id": f"{name}/{severity}/{iso_us(t_us)}",
                "ts_alert": t_us,
                "name": name,
                "severity": severity,
                "value": value,
                "limit_value": limit_value,
                "message": message,
            }
        )

    # ---- tasks --------------------------------------------------------------------------------------------------

    def _validation(self, state: RiskState, t_us: int, run: dict[str, Any], out: _Out) -> None:
        state.validation.append((int(run["rows_in"] or 0), int(run["rows_unexpected"] or 0)))
        del state.validation[: -self.cfg.validation_window_runs]
        rate = self._validation_rate(state)
        if rate is not None and rate > self.cfg.max_validation_failure_rate:
            msg = f"{rate:.2%} of validated rows rejected over the last {len(state.validation)} runs"
            self._alert(
                state, out, t_us, "validation_failure_rate", "critical", rate, self.cfg.max_validation_failure_rate, msg
            )
            self._kill_or_rearm(state, t_us, ["validation_failure_rate"], out)

    def _tick(self, state: RiskState, t_us: int, out: _Out) -> None:
        snap = self._evaluate(state, t_us, out)
        if snap is None:
            return
        equity = snap["equity_usdt"]
        if state.last_tick_equity is not None:
            state.pnl_window.append(equity - state.last_tick_equity)
            state.return_window.append((equity - state.last_tick_equity) / state.last_tick_equity)
            del state.pnl_window[: -self.cfg.var_window]
            del state.return_window[: -self.cfg.var_window]
        state.last_tick_equity = equity
        c = state.counts
        snap.pop("marks")
        out.rows["risk_metrics"].append(
            snap
            | {
                "metrics_id": iso_us(t_us),
                "ts_metrics": t_us,
                "var95_hist_usdt": metrics.var_historical(state.pnl_window, 0.95),
                "var99_hist_usdt": metrics.var_historical(state.pnl_window, 0.99),
                "var95_param_usdt": metrics.var_parametric(state.pnl_window, 0.95),
                "var99_param_usdt": metrics.var_parametric(state.pnl_window, 0.99),
                "sharpe": metrics.sharpe(state.return_window),
                "sortino": metrics.sortino(state.return_window),
                "window_intervals": len(state.pnl_window),
                "signals_total": c["total"],
                "signals_executed": c["executed"],
                "signals_blocked": c["blocked"],
                "success_rate": c["won"] / c["executed"] if c["executed"] else None,
                "open_orders": state.open_orders,
                "kill_switch": state.kill_reason is not None,
                "kill_reason": state.kill_reason,
            }
        )

    # ---- signal lifecycle: admit -> execute -> (unwind) ---------------------------------------------------------

    def _admit(self, state: RiskState, t_us: int, sig: dict[str, Any], out: _Out) -> None:
        state.counts["total"] += 1
        snap = self._evaluate(state, t_us, out)
        reason, qty = self._size(state, t_us, sig, snap)
        if qty <= 0:
            state.counts["blocked"] += 1
            self._pnl_row(state, out, t_us, sig, "blocked", reason, 0.0, 0.0, [], 0.0)
            return
        base, quote = split_symbol(sig["symbol"])
        lim_buy, _ = limit_prices(sig["buy_px"], sig["sell_px"], self.cfg.slippage_tolerance_bps)
        reserve = {"quote": qty * lim_buy * (1 + self.fees_bps[sig["buy_exchange"]] / 1e4), "base": qty}
        state.ledger.reserve(sig["buy_exchange"], quote, reserve["quote"])
        state.ledger.reserve(sig["sell_exchange"], base, reserve["base"])
        state.open_orders += 2
        task = sig | {"qty_sized": qty, "size_reason": reason, "reserve": reserve}
        heapq.heappush(state.tasks, (t_us + self.latency_us, EXECUTE, sig["signal_id"], task))

    def _size(
        self, state: RiskState, t_us: int, sig: dict[str, Any], snap: dict[str, Any] | None
    ) -> tuple[str | None, float]:
        """(reason, qty): qty 0 = blocked for ``reason``; otherwise reason says what sized the signal down, if anything."""
        if state.kill_reason is not None:
            return f"kill_switch:{state.kill_reason}", 0.0
        try:
            base, quote = split_symbol(str(sig["symbol"]))
        except ValueError:
            return "invalid_signal:symbol", 0.0
        numbers = (sig["qty"], sig["buy_px"], sig["sell_px"])
        if not all(isinstance(x, float | int) and math.isfinite(x) and x > 0 for x in numbers):
            return "invalid_signal:qty_or_price", 0.0
        if quote != self.cfg.valuation_currency:
            return f"unsupported_quote_currency:{quote}", 0.0
        for venue in (sig["buy_exchange"], sig["sell_exchange"]):
            if venue not in self.fees_bps:
                return f"unknown_venue:{venue}", 0.0
        if snap is None:
            return "no_marks", 0.0
        if state.open_orders + 2 > self.cfg.max_open_orders:
            return "max_open_orders", 0.0
        q_buy = self._book(state, t_us).get((sig["buy_exchange"], sig["symbol"]))
        q_sell = self._book(state, t_us).get((sig["sell_exchange"], sig["symbol"]))
        if q_buy is None or q_sell is None:
            return f"no_quote:{sig['buy_exchange'] if q_buy is None else sig['sell_exchange']}", 0.0
        if min(q_buy["ask_px"] * q_buy["ask_qty"], q_sell["bid_px"] * q_sell["bid_qty"]) < self.cfg.min_liquidity_usdt:
            return "min_liquidity", 0.0
        lim_buy, _ = limit_prices(sig["buy_px"], sig["sell_px"], self.cfg.slippage_tolerance_bps)
        per_unit_quote = lim_buy * (1 + self.fees_bps[sig["buy_exchange"]] / 1e4)
        caps = [
            (float(sig["qty"]), None),
            (self.cfg.max_position_size_usdt / sig["buy_px"], "max_position_size"),
            (
                state.ledger.available(sig["buy_exchange"], quote) / per_unit_quote,
                f"balance:{sig['buy_exchange']}:{quote}",
            ),
            (state.ledger.available(sig["sell_exchange"], base), f"balance:{sig['sell_exchange']}:{base}"),
        ]
        qty, binding = min(caps, key=lambda c: c[0])
        if qty * sig["buy_px"] < max(self.cfg.min_order_notional_usdt, 1e-9):
            return (f"insufficient_{binding}" if binding else "below_min_order_notional"), 0.0
        return (f"sized_down:{binding}" if binding else None), qty

    def _execute(self, state: RiskState, t_us: int, sig: dict[str, Any], out: _Out) -> None:
        base, quote = split_symbol(sig["symbol"])
        ledger = state.ledger
        ledger.reserve(sig["buy_exchange"], quote, -sig["reserve"]["quote"])
        ledger.reserve(sig["sell_exchange"], base, -sig["reserve"]["base"])
        state.open_orders -= 2
        qty = sig["qty_sized"]
        lim_buy, lim_sell = limit_prices(sig["buy_px"], sig["sell_px"], self.cfg.slippage_tolerance_bps)
        q_buy = self._book(state, t_us).get((sig["buy_exchange"], sig["symbol"]))
        q_sell = self._book(state, t_us).get((sig["sell_exchange"], sig["symbol"]))
        buy = fill_leg(
            q_buy, sig["buy_exchange"], sig["symbol"], "buy", qty, lim_buy, self.fees_bps[sig["buy_exchange"]]
        )
        sell = fill_leg(
            q_sell, sig["sell_exchange"], sig["symbol"], "sell", qty, lim_sell, self.fees_bps[sig["sell_exchange"]]
        )
        self._fill(state, out, t_us, sig, "buy", buy, q_buy)
        self._fill(state, out, t_us, sig, "sell", sell, q_sell)
        outcome = classify(buy, sell, qty, self.cfg.partial_fill_threshold)
        legs = [buy, sell]
        if outcome.unwind_buy_leg_qty > 0 or outcome.unwind_sell_leg_qty > 0:
            n = int(outcome.unwind_buy_leg_qty > 0) + int(outcome.unwind_sell_leg_qty > 0)
            state.open_orders += n
            base_open, cost_open = buy.qty_filled - sell.qty_filled, -(buy.cash_quote + sell.cash_quote)
            state.ledger.hold(base, base_open, cost_open)
            task = sig | {
                "legs": legs,
                "outcome": outcome,
                "leg_quotes": [q_buy, q_sell],
                "open": [base_open, cost_open],
            }
            heapq.heappush(state.tasks, (t_us + self.timeout_us, UNWIND, sig["signal_id"], task))
            snap = self._evaluate(state, t_us, out)
        else:
            snap = self._finish(state, out, t_us, sig, outcome, legs, [])
        self._positions(state, out, t_us, sig, "execute", snap)

    def _unwind(self, state: RiskState, t_us: int, task: dict[str, Any], out: _Out) -> None:
        outcome: Outcome = task["outcome"]
        buy, sell = task["legs"]
        unwinds: list[LegFill] = []
        for leg_name, leg, qty, quote_then in (
            ("unwind_buy", buy, outcome.unwind_buy_leg_qty, task["leg_quotes"][0]),
            ("unwind_sell", sell, outcome.unwind_sell_leg_qty, task["leg_quotes"][1]),
        ):
            if qty <= 0:
                continue
            state.open_orders -= 1
            quote_now = self._book(state, t_us).get((leg.exchange, leg.symbol)) or quote_then
            side = "sell" if leg.side == "buy" else "buy"
            fill = fill_leg(quote_now, leg.exchange, leg.symbol, side, qty, None, self.fees_bps[leg.exchange])
            self._fill(state, out, t_us, task, leg_name, fill, quote_now)
            unwinds.append(fill)
        snap = self._finish(state, out, t_us, task, outcome, [buy, sell], unwinds)
        self._positions(state, out, t_us, task, "unwind", snap)

    def _fill(
        self,
        state: RiskState,
        out: _Out,
        t_us: int,
        sig: dict[str, Any],
        leg: str,
        fill: LegFill,
        quote: dict[str, Any] | None,
    ) -> None:
        if fill.qty_filled > 0:
            state.ledger.trade(
                fill.exchange, fill.symbol, fill.side, fill.qty_filled, fill.avg_px or 0.0, fill.fee_quote
            )
        out.rows["fills"].append(
            {
                "fill_id": f"{sig['signal_id']}/{leg}",
                "signal_id": sig["signal_id"],
                "leg": leg,
                "exchange": fill.exchange,
                "symbol": fill.symbol,
                "side": fill.side,
                "ts_fill": t_us,
                "qty_requested": fill.qty_requested,
                "qty_filled": fill.qty_filled,
                "px": fill.avg_px,
                "limit_px": fill.limit_px,
                "fee_quote": fill.fee_quote,
                "book_ts_recv": quote["ts_us"] if quote else None,
                "status": fill.status,
            }
        )

    def _finish(
        self,
        state: RiskState,
        out: _Out,
        t_us: int,
        sig: dict[str, Any],
        outcome: Outcome,
        legs: list[LegFill],
        unwinds: list[LegFill],
    ) -> dict[str, Any] | None:
        """Book the execution's PnL, write its pnl row, then re-evaluate limits on the new book."""
        fills = legs + unwinds
        realized = sum(f.cash_quote for f in fills)
        fees = sum(f.fee_quote for f in fills)
        if "open" in sig:
            state.ledger.hold(split_symbol(sig["symbol"])[0], -sig["open"][0], -sig["open"][1])
        state.ledger.realize(realized)
        executed = outcome.status != "missed"
        if executed:
            state.counts["executed"] += 1
            state.counts["won"] += int(realized - fees > 0)
        reason = sig.get("size_reason")
        if outcome.status in ("missed", "leg_failure", "partial"):
            reason = ",".join(filter(None, [reason, f"buy:{legs[0].status}", f"sell:{legs[1].status}"]))
        cost = _unwind_cost(outcome, legs, unwinds)
        self._pnl_row(state, out, t_us, sig, outcome.status, reason, sig["qty_sized"], outcome.matched_qty, fills, cost)
        return self._evaluate(state, t_us, out)

    def _pnl_row(
        self,
        state: RiskState,
        out: _Out,
        t_us: int,
        sig: dict[str, Any],
        status: str,
        reason: str | None,
        qty_sized: float,
        qty_matched: float,
        fills: list[LegFill],
        unwind_cost: float,
    ) -> None:
        realized = sum(f.cash_quote for f in fills)
        fees = sum(f.fee_quote for f in fills)
        qty_ref = qty_sized if qty_sized > 0 else sig["qty"]
        expected = self._expected_profit(sig, qty_ref)
        out.rows["pnl"].append(
            {
                "pnl_id": sig["signal_id"],
                "signal_id": sig["signal_id"],
                "strategy": sig["strategy"],
                "symbol": sig["symbol"],
                "buy_exchange": sig["buy_exchange"],
                "sell_exchange": sig["sell_exchange"],
                "ts_signal": sig["ts_signal_us"],
                "ts_decided": t_us,
                "status": status,
                "reason": reason,
                "qty_signal": sig["qty"],
                "qty_sized": qty_sized,
                "qty_matched": qty_matched,
                "signal_net_edge_bps": sig.get("net_edge_bps"),
                "expected_edge_bps": edge_bps(expected, qty_ref, sig["buy_px"]) if expected is not None else None,
                "realized_edge_bps": edge_bps(realized - fees, qty_sized, sig["buy_px"])
                if status != "blocked"
                else None,
                "expected_profit_quote": expected or 0.0,
                "realized_pnl_quote": realized,
                "fees_quote": fees,
                "net_pnl_quote": realized - fees,
                "unwind_cost_quote": unwind_cost,
                "cum_net_pnl_usdt": state.ledger.realized_pnl - state.ledger.fees,
            }
        )

    def _expected_profit(self, sig: dict[str, Any], qty: float) -> float | None:
        """Net profit at the signal's own prices and our fees (None when the signal cannot be priced)."""
        fb, fs = self.fees_bps.get(sig["buy_exchange"]), self.fees_bps.get(sig["sell_exchange"])
        try:
            b, s, q = float(sig["buy_px"]), float(sig["sell_px"]), float(qty)
        except (TypeError, ValueError):
            return None
        if fb is None or fs is None or not all(math.isfinite(x) for x in (b, s, q)):
            return None
        return q * (s - b) - q * b * fb / 1e4 - q * s * fs / 1e4

    def _positions(
        self, state: RiskState, out: _Out, t_us: int, sig: dict[str, Any], stage: str, snap: dict[str, Any] | None
    ) -> None:
        marks = snap["marks"] if snap else {}
        base, quote = split_symbol(sig["symbol"])
        ledger = state.ledger
        for venue in sorted({sig["buy_exchange"], sig["sell_exchange"]}):
            for asset in (base, quote):
                bal = ledger.balance(venue, asset)
                start = ledger.start_balances.get(venue, {}).get(asset, 0.0)
                mark = marks.get(asset)
                out.rows["positions"].append(
                    {
                        "position_id": f"{sig['signal_id']}/{stage}/{venue}/{asset}",
                        "signal_id": sig["signal_id"],
                        "ts_position": t_us,
                        "exchange": venue,
                        "asset": asset,
                        "balance": bal,
                        "start_balance": start,
                        "position_qty": bal - start,
                        "mark_usdt": mark,
                        "position_usdt": (bal - start) * mark if mark is not None else None,
                    }
                )


def _unwind_cost(outcome: Outcome, legs: list[LegFill], unwinds: list[LegFill]) -> float:
    """Loss, fees included, of the quantities that were unwound (0 when nothing was)."""
    buy, sell = legs
    cost = 0.0
    for u in unwinds:
        leg = buy if u.side == "sell" else sell  # an unwind trades against its own leg
        share = u.qty_filled / leg.qty_filled
        leg_flow = share * (leg.cash_quote - leg.fee_quote)  # buy leg: -(cost + fee); sell leg: proceeds - fee
        cost -= leg_flow + (u.cash_quote - u.fee_quote)
    return cost
