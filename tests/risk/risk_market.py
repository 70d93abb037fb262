"""A deterministic synthetic market for the risk tests: three venues, two symbols, injected dislocations, and the
signals a plain rule finds in them (so the engine sees realistic streams without the rest of the pipeline)."""

from __future__ import annotations

import numpy as np
import polars as pl
from risk_builders import T0, risk_config

from connectors.schema import POLARS_QUOTE_SCHEMA
from flows.risk.engine import RiskEngine

VENUES = {"binance": 10.0, "okx": 10.0, "htx": 20.0}
SYMBOLS = {"BTC/USDT": 60_000.0, "ETH/USDT": 2_600.0}
STEP_MS, DURATION_MS, LAST_SIGNAL_MS = 100, 60_000, 54_000
BAL = {v: {"USDT": 500_000.0, "BTC": 6.0, "ETH": 120.0} for v in VENUES}


def generate(seed: int = 11) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Quotes every 100 ms per venue and symbol (random walk + venue noise + injected 1.5 s dislocations), and
    the signals a naive rule finds in them (bid on one venue above ask on another by more than both fees)."""
    rng = np.random.default_rng(seed)
    n = DURATION_MS // STEP_MS
    t_ms = np.arange(n) * STEP_MS
    rows = []
    for symbol, px0 in SYMBOLS.items():
        common = px0 * np.exp(np.cumsum(rng.normal(0, 2e-4, n)))
        for venue in VENUES:
            mid = common * (1 + rng.normal(0, 1e-4, n))
            for start in rng.choice(np.arange(20, n - 80), 4, replace=False):
                mid[start : start + 15] *= 1 + rng.choice([-1, 1]) * rng.uniform(40e-4, 80e-4)
            half = mid * rng.uniform(0.5e-4, 1.5e-4, n)
            jitter = rng.integers(0, 30, n)  # receive times jitter within the step
            rows.append(
                pl.DataFrame(
                    {
                        "exchange": venue, "symbol": symbol, "bid_px": mid - half, "bid_qty": rng.uniform(0.5, 3, n) * 60_000 / px0,
                        "ask_px": mid + half, "ask_qty": rng.uniform(0.5, 3, n) * 60_000 / px0,
                        "t_ms": t_ms + jitter,
                    }
                )
            )  # fmt: skip
    q = pl.concat(rows).sort("t_ms", "exchange", "symbol")
    quotes = q.with_columns(
        ts_exchange=pl.lit(None, dtype=POLARS_QUOTE_SCHEMA["ts_exchange"]),
        ts_recv=(pl.lit(T0) + pl.duration(milliseconds=pl.col("t_ms"))).dt.cast_time_unit("us"),
        seq=pl.lit(None, dtype=pl.Int64),
        source=pl.lit("sim"),
    )
    # latest quote per venue at each step, then every ordered venue pair
    grid = q.with_columns(step=pl.col("t_ms") // STEP_MS).group_by("step", "exchange", "symbol").last()
    a, b = grid.rename(lambda c: c + "_a"), grid.rename(lambda c: c + "_b")
    pairs = a.join(b, left_on=["step_a", "symbol_a"], right_on=["step_b", "symbol_b"]).filter(
        pl.col("exchange_a") != pl.col("exchange_b")
    )
    fee = pl.col("exchange_a").replace_strict(VENUES) + pl.col("exchange_b").replace_strict(VENUES)
    sig = pairs.with_columns(
        net_edge_bps=(pl.col("bid_px_b") - pl.col("ask_px_a")) / pl.col("ask_px_a") * 1e4 - fee,
        t_ms=pl.max_horizontal("t_ms_a", "t_ms_b"),
    ).filter((pl.col("net_edge_bps") > 5) & (pl.col("t_ms") >= 2000) & (pl.col("t_ms") <= LAST_SIGNAL_MS))
    signals = sig.select(
        signal_id=pl.format("cross/{}/{}/{}/{}", "t_ms", "symbol_a", "exchange_a", "exchange_b"),
        strategy=pl.lit("cross"), symbol="symbol_a", buy_exchange="exchange_a", sell_exchange="exchange_b",
        ts_signal=(pl.lit(T0) + pl.duration(milliseconds=pl.col("t_ms"))).dt.cast_time_unit("us"),
        buy_px="ask_px_a", sell_px="bid_px_b", qty=pl.min_horizontal("ask_qty_a", "bid_qty_b") * 0.5,
        net_edge_bps="net_edge_bps", t_ms="t_ms",
    ).sort("t_ms", "signal_id")  # fmt: skip
    return quotes.select([*POLARS_QUOTE_SCHEMA, "t_ms"]), signals


def batches(quotes: pl.DataFrame, signals: pl.DataFrame, width_ms: int, signal_delay_ms: int) -> list[list]:
    """Cut the stream into receive-time batches; signals arrive ``signal_delay_ms`` after their quotes."""
    out = []
    for start in range(0, DURATION_MS, width_ms):
        window = (pl.col("t_ms") >= start) & (pl.col("t_ms") < start + width_ms)
        events = [("quotes_clean", quotes.filter(window).drop("t_ms"))]
        late = signals.filter(
            (pl.col("t_ms") + signal_delay_ms >= start) & (pl.col("t_ms") + signal_delay_ms < start + width_ms)
        )
        if late.height:
            events.append(("signals", late.drop("t_ms")))
        out.append(events)
    return out


def make_engine() -> RiskEngine:
    """The engine the synthetic-market tests use: 150 ms latency (quotes move within it), 1 s grace and metrics."""
    cfg = risk_config(
        balances=BAL, latency_ms=150, reorder_grace_ms=1000, execution_timeout_ms=500, metrics_interval_ms=1000,
        var_window=30, max_drawdown=0.5, max_daily_loss=0.5, min_liquidity_usdt=10_000, max_open_orders=50,
    )  # fmt: skip
    return RiskEngine(cfg, VENUES, rebalance_threshold=0.1, expected_symbols=SYMBOLS)


def run(event_batches: list[list]) -> dict[str, pl.DataFrame]:
    """Step the engine through the batches, flush, and concatenate each output table."""
    engine = make_engine()
    state = engine.initial_state()
    parts: dict[str, list[pl.DataFrame]] = {}
    for events in event_batches:
        state, out = engine.step(state, events)
        for t, f in out.items():
            parts.setdefault(t, []).append(f)
    state, out = engine.flush(state)
    for t, f in out.items():
        parts.setdefault(t, []).append(f)
    return {t: pl.concat(fs) for t, fs in parts.items()}
