"""Triangular arbitrage on one exchange: vectorized batch evaluation of its cycle book (flows/triangular/markets.py).

A *cycle* starts with an amount of a start asset (USDT), converts it through three markets of one venue and ends in
the start asset again. Each leg either buys a market's base at the ask (paying quote) or sells base at the bid. The
taker fee is charged on what a leg receives, so a leg turns ``x`` input into ``x / ask * (1 - fee)`` base (buy) or
``x * bid * (1 - fee)`` quote (sell). The net edge is the product of these rates minus one.

Sizing uses top-of-book quantities: leg ``k`` accepts at most ``ask_qty * ask`` quote (buy) or ``bid_qty`` base
(sell) as input, and a unit of start asset arrives at leg ``k`` as the product of the earlier legs' rates, so the
executable start amount is ``min_k(capacity_k / arrive_k)`` - the thinnest leg converted back through the cycle -
further capped by ``max_position_usdt``. Each leg's order quantity is then floored to the market's lot step and
checked against its minimum lot and minimum notional (rounding dust stays in the intermediate asset; the expected
profit is that of the unrounded chain).

Evaluation runs on every quote update that touches a cycle, in processing order, against the latest quote of every
other leg (carried across batches in a small state frame, so a bytewax ``stateful_map`` can hold it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from arbflow.settings import EpisodesConfig, TriangularConfig
from connectors.schema import columns
from flows.common.edges import code_groups, edge_marks, event_frame
from flows.common.rejections import Gates, classify, reason_marks, rejection_rows, verdicts
from flows.triangular.markets import LEGS, CycleBook
from flows.triangular.state import PRICE_STATE, STATE_SCHEMA, TriangularState, empty_state, history, positioned

SIGNAL_COLUMNS = columns("signals")


def chain_sizes(rates: np.ndarray, capacities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Executable start amount of chained legs, limited by the thinnest leg converted back to the start asset.

    Args:
        rates: (n, L) output per unit of input of each leg, fees included.
        capacities: (n, L) most input each leg accepts, in that leg's input units.

    Returns:
        ``(max_start, arrive)``: (n,) largest start amount every leg can absorb, and (n, L) how much of leg ``k``'s
        input one unit of start asset becomes.
    """
    arrive = np.cumprod(np.hstack([np.ones((rates.shape[0], 1)), rates[:, :-1]]), axis=1)
    return np.min(capacities / arrive, axis=1), arrive


@dataclass(frozen=True)
class TriangularParams:
    """Per-exchange evaluation settings, built from the validated ``[triangular]`` and ``[episodes]`` sections by
    :meth:`from_config` (no defaults here: the config is the one place they live)."""

    exchange: str
    min_net_edge_bps: float
    max_position_usdt: float
    max_quote_age_ms: float
    max_skew_ms: float
    gap_timeout_ms: float  # [episodes]: an opportunity with no qualifying evaluation for longer has ended

    @staticmethod
    def from_config(exchange: str, tri: TriangularConfig, episodes: EpisodesConfig) -> TriangularParams:
        return TriangularParams(
            exchange,
            tri.min_net_edge_bps,
            tri.max_position_usdt,
            tri.max_quote_age_ms,
            tri.max_skew_ms,
            episodes.gap_timeout_ms,
        )

    @property
    def gates(self) -> Gates:
        return Gates(self.min_net_edge_bps, self.max_quote_age_ms, self.max_skew_ms)


@dataclass(frozen=True)
class TriangularOut:
    """What one batch produced.

    Attributes:
        signals: rows of ``signals`` where an opportunity starts (core.sql columns; ``symbol`` is the route,
            ``notional_quote`` and ``expected_profit_quote`` are in the start asset, ``qty``/``buy_px`` belong to
            the first leg and ``sell_px`` to the last).
        signal_legs: one row per leg of each signal (strategy.sql).
        rejections: would-be cycles (gross edge > 0) that do not qualify, one row where a route's reason starts or
            changes, with reason codes (strategy.sql).
        edge_events: qualifying evaluations and the ones closing them, for episodes (flows/common/episodes.py); the route
            is ``<exchange>:<route>`` and the size is the start amount.
        state: to pass to the next batch.
        evaluations: how many (update, cycle) evaluations ran.
    """

    signals: pl.DataFrame
    signal_legs: pl.DataFrame
    rejections: pl.DataFrame
    edge_events: pl.DataFrame
    state: TriangularState
    evaluations: int


def evaluate_batch(
    quotes: pl.DataFrame, state: TriangularState | None, book: CycleBook, params: TriangularParams
) -> TriangularOut:
    """Evaluate every cycle touched by each update of one exchange's batch, in processing order.

    Args:
        quotes: clean quotes of ``params.exchange`` (connectors/schema.py columns plus ``quote_id``), rows in
            processing order; an optional boolean ``quarantined`` column marks updates that were quarantined: they
            trigger no evaluation, but until the symbol's next clean update every cycle through it is rejected
            with ``quarantined_input``.
        state: the previous batch's ``TriangularOut.state`` (None or :func:`empty_state` at start).
        book: the exchange's cycles.
        params: thresholds and limits.
    """
    state = empty_state() if state is None else state
    others = quotes.filter(pl.col("exchange") != params.exchange).height if quotes.height else 0
    if others:
        msg = f"triangular evaluator for {params.exchange!r} got {others} quotes of other exchanges: key by exchange"
        raise ValueError(msg)
    q = positioned(quotes, book)
    hist = history(q, state.last)
    last = hist.group_by("symbol").last().select(*STATE_SCHEMA).sort("symbol")
    known = hist.filter(pl.col("bid_px").is_not_null()).select("symbol").unique()
    cycles = book.cycles
    for k in range(LEGS):
        cycles = cycles.join(known, left_on=f"leg{k}_symbol", right_on="symbol", how="semi")
    evals = (
        q.filter(~pl.col("quarantined"))  # a quarantined update only flags its symbol (its clock may be unknown)
        .select("pos", "symbol", pl.col("ts_recv").alias("ts_eval"), pl.col("quote_id").alias("trigger_id"))
        .join(book.touch.join(cycles.select("cycle_idx"), on="cycle_idx", how="semi"), on="symbol")
        .join(cycles, on="cycle_idx")
        .sort("pos", "cycle_idx")
    )
    right = hist.select("pos", "symbol", *PRICE_STATE, "quarantined")
    for k in range(LEGS):
        evals = evals.join_asof(
            right.rename({c: f"leg{k}_{c}" for c in right.columns if c not in ("pos", "symbol")}),
            on="pos",
            by_left=f"leg{k}_symbol",
            by_right="symbol",
            strategy="backward",
            check_sortedness=False,
        )
    mids = hist.select(
        "pos", pl.col("symbol").alias("value_symbol"), ((pl.col("bid_px") + pl.col("ask_px")) / 2).alias("value_mid")
    )
    evals = evals.join_asof(mids, on="pos", by="value_symbol", strategy="backward", check_sortedness=False)
    evals = evals.filter(pl.all_horizontal([pl.col(f"leg{k}_bid_px").is_not_null() for k in range(LEGS)]))
    return _finish(evals, last, state, params, book.cycles["route"])


def _finish(
    evals: pl.DataFrame, last: pl.DataFrame, state: TriangularState, params: TriangularParams, cycle_routes: pl.Series
) -> TriangularOut:
    """The cycle math on joined evaluations (one row per update x cycle, all legs present); ``cycle_routes``: the
    book's routes by ``cycle_idx``.

    Everything every evaluation needs is NumPy over (n, legs) arrays; per-leg detail columns are built only for the
    few rows that become signals or rejections.
    """
    n = evals.height

    def legs(field: str) -> np.ndarray:
        return np.column_stack([evals[f"leg{k}_{field}"].to_numpy() for k in range(LEGS)]).reshape(n, LEGS)

    def leg_us(field: str) -> np.ndarray:
        cols = [evals[f"leg{k}_{field}"].dt.epoch("us").to_numpy() for k in range(LEGS)]
        return np.column_stack(cols).reshape(n, LEGS)

    buy = legs("buy").astype(bool)
    bid, bid_qty, ask, ask_qty = legs("bid_px"), legs("bid_qty"), legs("ask_px"), legs("ask_qty")
    px = np.where(buy, ask, bid)
    gross_rate = np.where(buy, 1.0 / ask, bid)
    rates = gross_rate * (1.0 - legs("fee_bps") / 1e4)
    max_start, arrive = chain_sizes(rates, np.where(buy, ask_qty * ask, bid_qty))
    # start asset valued in USDT through its <start>/USDT mid; NaN until that market has been quoted
    usdt_per_start = np.where(
        evals["value_symbol"].is_null().to_numpy(), 1.0, evals["value_mid"].fill_null(np.nan).to_numpy()
    )
    start = np.minimum(max_start, params.max_position_usdt / usdt_per_start)
    start = np.where(np.isnan(start), max_start, start)  # not capped here; blocked by risk_ok below
    inputs = start[:, None] * arrive
    qty_base = np.where(buy, inputs / ask, inputs)
    step = legs("step")
    safe_step = np.where(step > 0, step, 1.0)
    qty_lot = np.where(step > 0, np.floor(qty_base / safe_step + 1e-9) * safe_step, qty_base)
    net_rate = np.prod(rates, axis=1)
    ts_recv, ts_event = leg_us("ts_recv"), leg_us("ts_event")
    lean = evals.select("pos", "cycle_idx", "ts_eval", "trigger_id").with_columns(
        pl.Series("gross_edge_bps", (np.prod(gross_rate, axis=1) - 1.0) * 1e4, pl.Float64),
        pl.Series("net_edge_bps", (net_rate - 1.0) * 1e4, pl.Float64),
        pl.Series("size_quote", start, pl.Float64),
        pl.Series("expected_profit", start * (net_rate - 1.0), pl.Float64),
        pl.Series("lot_ok", np.all((qty_lot >= legs("min_qty")) & (qty_lot > 0), axis=1), pl.Boolean),
        pl.Series("notional_ok", np.all(qty_lot * px >= legs("min_notional"), axis=1), pl.Boolean),
        pl.Series("risk_ok", ~np.isnan(usdt_per_start), pl.Boolean),
        pl.Series("quarantined", legs("quarantined").astype(bool).any(axis=1), pl.Boolean),
        pl.Series("age_ms", (evals["ts_eval"].dt.epoch("us").to_numpy() - ts_recv.min(axis=1)) / 1000.0, pl.Float64),
        pl.Series("skew_ms", (ts_event.max(axis=1) - ts_event.min(axis=1)) / 1000.0, pl.Float64),
    )
    # the state machines on numbers (cycle indexes, flags); route and id strings only for the rows they mark
    names = cycle_routes.to_frame("route").select(pl.lit(f"{params.exchange}:") + pl.col("route")).to_series()
    groups = code_groups(lean["cycle_idx"].to_numpy(), names)
    is_signal, reason = verdicts(lean, params.gates)
    closing = lean["net_edge_bps"].to_numpy() < params.min_net_edge_bps
    ts_us = lean["ts_eval"].dt.epoch("us").to_numpy()
    marks = edge_marks(groups, ts_us, is_signal, closing, state.open, timedelta(milliseconds=params.gap_timeout_ms))
    is_rising = marks.starts
    is_rejected, reasons_after = reason_marks(groups, reason, state.reasons)
    idx = np.flatnonzero(is_rising | is_rejected | marks.events)
    at = lean["cycle_idx"].gather(idx)
    marked = classify(
        lean[idx].with_columns(
            names.gather(at).alias("route"), (pl.col("trigger_id") + "/" + cycle_routes.gather(at)).alias("event_id")
        ),
        params.gates,
    ).with_columns(pl.col("ts_eval").alias("ts_event"))
    events = event_frame(marked.filter(pl.Series(marks.events[idx])), "triangular")
    keep = pl.Series(is_rising[idx] | is_rejected[idx])
    leg_names = [f"leg{k}_{c}" for k in range(LEGS) for c in ("symbol", "buy", "fee_bps", "quote_id")]
    detail = (
        pl.concat([marked, evals.select(leg_names)[idx]], how="horizontal")
        .with_columns(
            *[
                pl.Series(f"leg{k}_{name}", values[idx, k], pl.Float64)
                for name, values in (
                    ("px", px),
                    ("qty", qty_base),
                    ("qty_lot", qty_lot),
                    ("input", inputs),
                    ("output", inputs * rates),
                )
                for k in range(LEGS)
            ],
            pl.Series("_rising", is_rising[idx], pl.Boolean),
        )
        .filter(keep)
    )
    signals = detail.filter(pl.col("_rising"))
    return TriangularOut(
        signals=_signal_rows(signals, params.exchange),
        signal_legs=_leg_rows(signals),
        rejections=rejection_rows(
            detail.filter(~pl.col("_rising")).with_columns(
                pl.lit(params.exchange).alias("buy_exchange"),
                pl.lit(params.exchange).alias("sell_exchange"),
                pl.col("leg0_qty_lot").alias("qty"),
                pl.col("size_quote").alias("notional_quote"),
            ),
            params.gates,
            strategy="triangular",
            id_column="event_id",
        ),
        edge_events=events,
        state=TriangularState(last, marks.open_after, reasons_after),
        evaluations=n,
    )


def _signal_rows(signals: pl.DataFrame, exchange: str) -> pl.DataFrame:
    last = LEGS - 1
    return signals.select(
        (pl.lit("triangular/") + pl.col("event_id")).alias("signal_id"),
        pl.lit("triangular").alias("strategy"),
        pl.col("route").str.strip_prefix(f"{exchange}:").alias("symbol"),
        pl.lit(exchange).alias("buy_exchange"),
        pl.lit(exchange).alias("sell_exchange"),
        pl.col("ts_eval").alias("ts_signal"),
        pl.col("leg0_px").alias("buy_px"),
        pl.col(f"leg{last}_px").alias("sell_px"),
        pl.col("leg0_qty_lot").alias("qty"),
        pl.col("size_quote").alias("notional_quote"),
        "gross_edge_bps",
        "net_edge_bps",
        pl.col("expected_profit").alias("expected_profit_quote"),
        "age_ms",
        "skew_ms",
        pl.col("leg0_quote_id").alias("buy_quote_id"),
        pl.col(f"leg{last}_quote_id").alias("sell_quote_id"),
        pl.format("triangular/{}/{}", "route", "event_id").alias("episode_id"),  # the episode it opens
    )


def _leg_rows(signals: pl.DataFrame) -> pl.DataFrame:
    parts = [
        signals.select(
            (pl.lit("triangular/") + pl.col("event_id")).alias("signal_id"),
            pl.col("ts_eval").alias("ts_signal"),
            pl.lit(k, pl.Int32).alias("leg_no"),
            pl.col(f"leg{k}_symbol").alias("symbol"),
            pl.when(pl.col(f"leg{k}_buy")).then(pl.lit("buy")).otherwise(pl.lit("sell")).alias("side"),
            pl.col(f"leg{k}_px").alias("px"),
            pl.col(f"leg{k}_qty").alias("qty_base"),
            pl.col(f"leg{k}_qty_lot").alias("qty_base_lot"),
            pl.col(f"leg{k}_input").alias("input_amount"),
            pl.col(f"leg{k}_output").alias("output_amount"),
            pl.col(f"leg{k}_fee_bps").alias("fee_bps"),
            pl.col(f"leg{k}_quote_id").alias("quote_id"),
        )
        for k in range(LEGS)
    ]
    return pl.concat(parts).sort("signal_id", "leg_no")
