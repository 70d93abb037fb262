"""Valuation, limits, alerts and the kill switch of the paper book, evaluated at one receive-clock instant.

Called by the engine at every decision (signal admission, execution, unwind, validation run) and on each metrics
tick, so a limit trips at the first decision that sees it crossed, never later than the next tick.

Alerts on conditions (a limit near or past its value, a stale feed, missing marks, drifted inventory) are reported
once per level: a condition that holds at one level stays silent until its level changes or it clears (an evaluation
that checks it and finds it fine); a cleared condition that returns within ``alert_cooldown_ms`` at the same or a
lower level stays silent too, so a flapping one cannot flood. Events (kill switch tripped or re-armed, commands)
always alert.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from arbflow.settings import RiskConfig
from flows.risk import book, limits, metrics
from flows.risk.ledger import split_symbol
from flows.risk.state import US_PER_DAY, US_PER_MS, Out, RiskState
from flows.risk.tables import iso_us

log = logging.getLogger(__name__)


class Guard:
    """Risk evaluation over a RiskState (configuration only; all state lives in RiskState)."""

    def __init__(self, cfg: RiskConfig, rebalance_threshold: float, symbols: Iterable[str] = ()) -> None:
        self.cfg = cfg
        self.rebalance_threshold = rebalance_threshold
        self.stale_us = int(cfg.max_feed_stale_ms * US_PER_MS)
        self.cooldown_us = int(cfg.alert_cooldown_ms * US_PER_MS)
        symbols = sorted(symbols)
        self.unpriced, unfunded = limits.valuation_gaps(cfg.balances, symbols, cfg.valuation_currency)
        self.config_gap = limits.gap_message(symbols, self.unpriced, unfunded, cfg.valuation_currency)
        if self.config_gap:
            log.warning(self.config_gap)

    def funded(self) -> dict[str, dict[str, float]]:
        """The starting balances of the paper book: ``risk.balances`` without assets this run can never value."""
        return {v: {a: q for a, q in bal.items() if a not in self.unpriced} for v, bal in self.cfg.balances.items()}

    def book(self, state: RiskState, t_us: int) -> dict[tuple[str, str], dict[str, Any]]:
        """Latest quote per (exchange, symbol) at t; cached, since one decision asks several times."""
        if t_us not in state.book_at:
            state.book_at[t_us] = book.latest(state.history, t_us)
        return state.book_at[t_us]

    def marks(self, state: RiskState, t_us: int) -> dict[str, float]:
        """Asset -> valuation price at t (valuation currency = 1)."""
        val = self.cfg.valuation_currency
        marks = {val: 1.0}
        for symbol, mid in book.mids(self.book(state, t_us), t_us, self.stale_us).items():
            base, quote = split_symbol(symbol)
            if quote == val:
                marks[base] = mid
        state.marks_seen.update(marks)
        return state.marks_seen | marks

    def evaluate(self, state: RiskState, t_us: int, out: Out) -> dict[str, Any] | None:
        """Value the book at t, check feeds and limits, raise alerts, trip or re-arm the kill switch.

        Returns the snapshot (None until every held asset has had a mark).
        """
        seen: set[str] = set()  # condition alerts that hold at t (raised or held back)
        if self.config_gap:  # a condition that never clears: reported once per run
            self.alert(state, out, t_us, "risk_config", "warning", None, None, self.config_gap)
        causes = self._feed_causes(state, t_us, out, seen)
        marks = self.marks(state, t_us)
        ledger = state.ledger
        if not ledger.start_marks:
            if not ledger.marks_complete(marks):
                missing = sorted(set(ledger.assets()) - set(marks))
                msg = (
                    f"no {self.cfg.valuation_currency} price yet for {missing}: book not valued, signals blocked "
                    f"(held in risk.balances; a {self.cfg.valuation_currency} quote for each values the book)"
                )
                self.alert(state, out, t_us, "no_marks", "warning", None, None, msg, seen=seen)
                self._settle(state, seen, ("no_marks", "feed_stale"))
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
                self.alert(
                    state,
                    out,
                    t_us,
                    c.name,
                    c.severity,
                    c.value,
                    c.limit,
                    f"{c.name} {c.value:.6g} {verb} limit {c.limit:.6g}",
                    seen=seen,
                )
        for asset in ledger.assets():
            if asset != self.cfg.valuation_currency:
                imb = ledger.imbalance(asset)
                if imb > self.rebalance_threshold:
                    msg = f"{asset} inventory drifted {imb:.1%} from its starting split across venues: rebalance"
                    self.alert(
                        state, out, t_us, f"rebalance:{asset}", "warning", imb, self.rebalance_threshold, msg, seen=seen
                    )
        self._settle(state, seen, ("no_marks", "feed_stale", "rebalance", *limits.LIMIT_NAMES))
        causes += [f"limit:{c.name}" for c in checks if c.severity == "critical" and c.name in limits.KILL_LIMITS]
        snap["risk_level"] = "critical" if causes else limits.risk_level(checks)  # feed health is critical too
        self._kill_or_rearm(state, t_us, causes, out)
        return snap

    def _feed_causes(self, state: RiskState, t_us: int, out: Out, seen: set[str]) -> list[str]:
        """Feed-health kill criteria at t: stale venues and the validation failure rate."""
        causes = []
        for venue, last in sorted(book.last_recv_by_venue(self.book(state, t_us)).items()):
            age_ms = (t_us - last) / US_PER_MS
            if age_ms > self.cfg.max_feed_stale_ms:
                causes.append(f"feed_stale:{venue}")
                msg = f"no quote from {venue} for {age_ms:.0f} ms (limit {self.cfg.max_feed_stale_ms:.0f} ms)"
                stale = self.cfg.max_feed_stale_ms
                self.alert(state, out, t_us, f"feed_stale:{venue}", "critical", age_ms, stale, msg, seen=seen)
        rate = self._validation_rate(state)
        if rate is not None and rate > self.cfg.max_validation_failure_rate:
            causes.append("validation_failure_rate")
        return causes

    @staticmethod
    def _settle(state: RiskState, seen: set[str], families: tuple[str, ...]) -> None:
        """Clear the active conditions of ``families`` (name before any ':') that this evaluation found fine."""
        for name in [n for n in state.alerts_active if n.split(":")[0] in families and n not in seen]:
            del state.alerts_active[name]

    def _validation_rate(self, state: RiskState) -> float | None:
        rows_in = sum(r for r, _ in state.validation)
        return sum(u for _, u in state.validation) / rows_in if rows_in > 0 else None

    def _kill_or_rearm(self, state: RiskState, t_us: int, causes: list[str], out: Out) -> None:
        if causes and state.kill_reason is None:
            state.kill_reason, state.kill_ts_us = causes[0], t_us
            msg = f"kill switch tripped: {', '.join(causes)}; new signals are blocked"
            self.alert(state, out, t_us, "kill_switch", "critical", None, None, msg, force=True)
        elif (
            not causes
            and state.kill_reason is not None
            and self.cfg.kill_switch_reset == "timed"
            and t_us - (state.kill_ts_us or t_us) >= self.cfg.kill_switch_reset_ms * US_PER_MS
        ):
            msg = f"kill switch re-armed after {self.cfg.kill_switch_reset_ms:.0f} ms (was: {state.kill_reason})"
            self.alert(state, out, t_us, "kill_switch_reset", "info", None, None, msg, force=True)
            state.kill_reason, state.kill_ts_us = None, None

    def alert(
        self,
        state: RiskState,
        out: Out,
        t_us: int,
        name: str,
        severity: str,
        value: float | None,
        limit_value: float | None,
        message: str,
        force: bool = False,
        seen: set[str] | None = None,
    ) -> None:
        """Emit an alert row; ``force`` for events, otherwise a condition: once per level, cooled down (module doc)."""
        rank = limits.LEVEL_RANK.get(severity, 0)
        if not force:
            if seen is not None:
                seen.add(name)
            repeat = limits.is_repeat(state.alerts_active.get(name), rank)
            state.alerts_active[name] = rank
            if repeat or not limits.should_alert(state.alerts_last.get(name), rank, t_us, self.cooldown_us):
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

    def validation(self, state: RiskState, t_us: int, run: dict[str, Any], out: Out) -> None:
        state.validation.append((int(run["rows_in"] or 0), int(run["rows_unexpected"] or 0)))
        del state.validation[: -self.cfg.validation_window_runs]
        rate = self._validation_rate(state)
        if rate is None or rate <= self.cfg.max_validation_failure_rate:
            state.alerts_active.pop("validation_failure_rate", None)
        else:
            msg = f"{rate:.2%} of validated rows rejected over the last {len(state.validation)} runs"
            self.alert(
                state, out, t_us, "validation_failure_rate", "critical", rate, self.cfg.max_validation_failure_rate, msg
            )
            self._kill_or_rearm(state, t_us, ["validation_failure_rate"], out)

    def tick(self, state: RiskState, t_us: int, out: Out) -> None:
        snap = self.evaluate(state, t_us, out)
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

    def command(self, state: RiskState, t_us: int, cmd: dict[str, Any], out: Out) -> None:
        """An operator command at its receive-clock time; ``reset_kill_switch`` is the manual re-arm."""
        if cmd["command"] != "reset_kill_switch":
            msg = f"unknown risk command {cmd['command']!r} ({cmd['command_id']}): ignored"
            self.alert(state, out, t_us, "risk_command", "warning", None, None, msg, force=True)
        elif state.kill_reason is not None:
            note = cmd.get("note") or ""
            msg = f"manual reset ({cmd['command_id']}): {note} (was: {state.kill_reason})"
            self.alert(state, out, t_us, "kill_switch_reset", "info", None, None, msg, force=True)
            state.kill_reason, state.kill_ts_us = None, None
