"""Issue 11 acceptance: a synthetic snapshot market (three venues on a 1 s grid, every venue stamped the same second)
with planted runs, dropouts shorter and longer than the gap timeout and a same-instant double update, through the
core flow's own steps (check_batch with the real GX gate, the stream checks, by_symbol, CrossRunner with its end
of input).

Route binance -> okx (fees 0, min net edge 1 bps) qualifies at 5 bps in three planted runs; htx never lets a route
qualify. Gates: quote age and skew 500 ms, so a venue missing from a second makes the route stale for that second;
gap timeout 2.5 s:

- run A, seconds 5-9: closed by the fresh evaluation at 10 (edge gone);
- run B, seconds 15-20 with okx missing at 18 (a 2 s gap in qualifying evaluations < 2.5 s: neutral, no new signal);
- okx missing at 21-23 (4 s between qualifying evaluations > 2.5 s): B ends by the gap, run C starts at 24;
- run C, seconds 24-26: closed at 27;
- second 12: binance sends two updates in one instant, the first a transient 99.90 ask that with okx's same-second
  bid would show 9 bps: the instant is applied whole, so it is no signal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from arbflow.settings import Settings, load_settings
from connectors.batches import RawBatch
from flows.common.batches import check_batch
from flows.common.clean_stage import CleanRunner
from flows.common.fanout import by_symbol
from flows.cross.spreads import SpreadParams
from flows.cross.step import CrossRunner
from quality.gate import QualityGate

T0 = datetime(2024, 8, 8, 12, 0, tzinfo=UTC)
RECV_MS = {"binance": 5, "okx": 8, "htx": 12}  # each venue's delay from the snapshot second to our receipt
ON = range(5, 10), range(15, 21), range(24, 27)
OKX_MISSING = {18, 21, 22, 23}
SECONDS = 30


def _row(
    venue: str, second: int, bid: float, ask: float, recv_ms: dict[str, int], recv_extra_ms: int = 0
) -> dict[str, object]:
    stamp = T0 + timedelta(seconds=second)
    return {
        "exchange": venue,
        "symbol": "BTC/USDT",
        "bid_px": bid,
        "bid_qty": 2.0,
        "ask_px": ask,
        "ask_qty": 2.0,
        "ts_exchange": stamp,
        "ts_recv": stamp + timedelta(milliseconds=recv_ms[venue] + recv_extra_ms),
        "seq": None,
        "source": "snapshot",
        "quote_id": f"{venue}/{second}/{recv_extra_ms}",  # whatever the receive order
    }


def snapshot_market(recv_ms: dict[str, int] = RECV_MS) -> pl.DataFrame:
    """The planted market in receive order (``recv_ms``: each venue's delay after the snapshot second)."""
    rows = []
    for s in range(SECONDS):
        on = any(s in run for run in ON)
        rows.append(_row("binance", s, 99.99 + (s % 2) * 1e-4, 100.0, recv_ms))
        if s == 12:  # same instant, same venue: a transient quote the venue replaced within the second
            rows[-1] = _row("binance", s, 99.89, 99.90, recv_ms)
            rows.append(_row("binance", s, 99.99, 100.0, recv_ms, recv_extra_ms=1))
        if s not in OKX_MISSING:
            rows.append(_row("okx", s, 100.05 if on else 99.99, 100.06 if on else 100.0, recv_ms))
        rows.append(_row("htx", s, 99.90, 100.10, recv_ms))
    return pl.DataFrame(rows).sort("ts_recv", maintain_order=True)


def settings() -> Settings:
    data = load_settings(environ={}).model_dump()
    data["venues"] = {v: {"taker_fee_bps": 0.0} for v in RECV_MS}
    data["cross"] |= {"symbols": ["BTC/USDT"], "min_net_edge_bps": 1.0, "max_quote_age_ms": 500.0, "max_skew_ms": 500.0}
    data["episodes"] |= {"gap_timeout_ms": 2500.0, "min_duration_ms": 0.0}
    data["sinks"]["write_spreads"] = True
    return Settings.model_validate(data)


def run(market: pl.DataFrame, batch_rows: int) -> dict[str, pl.DataFrame]:
    """The market cut into source batches of ``batch_rows``, through the flow's per-batch and per-symbol steps."""
    cfg, gate = settings(), QualityGate()
    params = SpreadParams({v: 0.0 for v in RECV_MS}, 1.0, 500.0, 500.0, cfg.cross.max_position_usdt)
    logic = CrossRunner(cfg, params, timedelta(seconds=cfg.windows.stats_window_s))
    symbol_states: dict[str, object] = {}
    stage = CleanRunner(cfg.cleaning)
    streams, outs, stage_tables = stage.initial(), [], []
    for seq, start in enumerate(range(0, market.height, batch_rows)):
        checked = check_batch(cfg, gate, RawBatch(seq, "snapshot", market.slice(start, batch_rows)))
        assert checked.passed.height == min(batch_rows, market.height - start)  # nothing quarantined
        streams, [clean] = stage.step(streams, checked)
        stage_tables += clean.tables
        for symbol, part in by_symbol(clean, cfg.cross.symbols):
            symbol_states[symbol], out = logic.step(symbol_states.get(symbol) or logic.initial(), part)
            outs += out
    for symbol in sorted(symbol_states):
        outs += logic.flush(symbol_states[symbol])[1]
    items = [item for item in stage_tables + [i for out in outs for i in out.tables] if item[1].height]
    names = {name for name, _ in items}
    return {n: pl.concat([f for m, f in items if m == n], how="diagonal_relaxed") for n in names}


@pytest.fixture(scope="module")
def whole() -> dict[str, pl.DataFrame]:
    return run(snapshot_market(), 10_000)


def second_of(ts: pl.Series) -> list[int]:
    return [int((t - T0) / timedelta(seconds=1)) for t in ts]


def test_one_signal_per_opportunity_and_the_episodes_it_opens(whole: dict[str, pl.DataFrame]) -> None:
    signals, episodes = whole["signals"], whole["opportunities"].sort("first_seen")
    assert second_of(signals["ts_signal"]) == [5, 15, 24]
    assert set(signals.select("buy_exchange", "sell_exchange").rows()) == {("binance", "okx")}
    assert second_of(episodes["first_seen"]) == [5, 15, 24]
    assert episodes["updates"].to_list() == [5, 5, 3]  # qualifying evaluations: 5-9; 15-17, 19, 20; 24-26
    assert episodes["evaluations"].to_list() == [5, 6, 3]  # B spans the stale evaluation at 18
    assert [None if t is None else second_of(pl.Series([t]))[0] for t in episodes["ts_closed"]] == [10, None, 27]
    # one to one: each signal is the first qualifying evaluation of its episode
    ids = ("cross/BTC/USDT/binance/okx/" + signals["signal_id"].str.strip_prefix("cross/")).to_list()
    assert ids == episodes["episode_id"].to_list()


def test_stale_seconds_are_rejected_once_per_dropout(whole: dict[str, pl.DataFrame]) -> None:
    rejections = whole["rejections"]
    assert rejections.select("buy_exchange", "sell_exchange", "reason").rows() == [("binance", "okx", "stale_leg")] * 2
    assert second_of(rejections["ts_eval"]) == [18, 21]


def test_each_route_is_evaluated_once_per_instant_after_the_whole_instant(whole: dict[str, pl.DataFrame]) -> None:
    spreads = whole["spreads"]
    b_o = spreads.filter((pl.col("buy_exchange") == "binance") & (pl.col("sell_exchange") == "okx"))
    assert b_o.height == SECONDS  # binance quotes every second: one evaluation per instant
    at_12 = b_o.filter(pl.col("ts_eval").dt.second() == 12)
    assert at_12["buy_px"].to_list() == [100.0]  # the instant's final binance quote, not the transient 99.90
    assert spreads.group_by("spread_id").len()["len"].max() == 1
    fresh = b_o.filter("fresh")
    # the instant is applied at htx's +12 ms; the older leg is binance's +5 ms (+6 ms for its second update at 12)
    assert fresh.height == SECONDS - len(OKX_MISSING) and (fresh["skew_ms"] == 0.0).all()
    assert fresh.group_by("age_ms").len().sort("age_ms").rows() == [(6.0, 1), (7.0, SECONDS - len(OKX_MISSING) - 1)]


@pytest.mark.parametrize("batch_rows", [1, 2, 5, 7])
def test_batch_cuts_inside_instants_give_the_same_rows(whole: dict[str, pl.DataFrame], batch_rows: int) -> None:
    cut = run(snapshot_market(), batch_rows)
    assert set(cut) == set(whole)
    for name in ("signals", "opportunities", "rejections", "spreads"):
        key = cut[name].columns[0]
        assert cut[name].sort(key).equals(whole[name].sort(key)), name


def test_the_order_of_rows_within_an_instant_does_not_matter(whole: dict[str, pl.DataFrame]) -> None:
    """Files merged the other way round: the same instants, each venue's rows received in the reverse order."""
    again = run(snapshot_market({"binance": 9, "okx": 6, "htx": 3}), 4)
    assert (
        again["opportunities"]["episode_id"].sort().to_list() == whole["opportunities"]["episode_id"].sort().to_list()
    )
    assert again["signals"]["signal_id"].sort().to_list() == whole["signals"]["signal_id"].sort().to_list()
    assert again["rejections"].height == whole["rejections"].height
