"""The whole arbitrage flow on ``source.kind = "live"`` against three fake venues (real WebSockets on 127.0.0.1).

- A live session and the replay of its capture give the same quote sequence and the same signals in the same order
  (connectors/live.py merges the venues at one point in arrival order, with a strictly increasing ``ts_recv``, and
  replay merges the capture files by ``ts_recv``).
- A venue whose connection drops contributes no quote to any signal after the drop, through the real flow and lake.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import polars as pl
from bytewax.testing import run_main

from arbflow.settings import Settings, load_settings
from connectors import lake
from flows.arbitrage import build_flow
from tests.connectors.conftest import jsonl
from tests.fakes.exchanges import Action, FakeBinance, FakeHtx, FakeOkx
from tests.fixtures.live_flow.derive import binance_tickers

LIVE_TOML = Path(__file__).resolve().parents[2] / "config" / "live.toml"


def binance_script() -> list[Action]:
    """The real bookTicker messages at their recorded pace (spot bookTicker has no venue clock to pace by)."""
    script: list[Action] = []
    previous_ns = None
    for recv_ns, data in binance_tickers():
        if previous_ns is not None:
            script.append(("sleep", (recv_ns - previous_ns) / 1e9))
        script.append(("send", {"stream": "btcusdt@bookTicker", "data": data}))
        previous_ns = recv_ns
    return script


def live_settings(data_dir: Path, urls: dict[str, str], **sections: dict[str, Any]) -> Settings:
    """config/live.toml for BTC/USDT on the three fakes, with a private lake."""
    base = load_settings(LIVE_TOML, environ={}).model_dump()
    base["sinks"]["data_dir"] = str(data_dir)
    # The fixtures span 1.6 s; a 5 s session leaves slack for connecting on a loaded machine.
    base["live"].update(symbols=["BTC/USDT"], ws_urls=urls, stall_timeout_s=30.0, run_for_s=5.0, capture_dir="")
    base["cross"]["symbols"] = ["BTC/USDT"]
    for section, values in sections.items():
        base[section].update(values)
    return Settings.model_validate(base)


def read(data_dir: Path, table: str) -> pl.DataFrame:
    con = lake.connect(data_dir)
    try:
        return pl.from_arrow(con.sql(f'select * from "{table}"').to_arrow_table())  # type: ignore[return-value]
    finally:
        con.close()


def canonical(data_dir: Path, position: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clean quotes in stream order, and signals ordered by the stream position of the update they evaluated (then
    route), with every quote id (buy leg, sell leg, the evaluated update in ``signal_id``) replaced by the quote itself
    (exchange, ts_recv, seq): ids embed the source, which differs between live and replay.

    Args:
        data_dir: the lake.
        position: a quote's position in the stream the flow consumed, from ``quotes_clean`` columns.
    """
    parts = [pl.col("exchange"), pl.col("ts_recv").dt.epoch("us"), pl.col("seq")]
    quotes = (
        read(data_dir, "quotes_clean")
        .select(
            "quote_id", pl.concat_str(parts, separator="|", ignore_nulls=True).alias("quote"), position.alias("_at")
        )
        .sort("_at")
    )
    assert quotes["quote"].n_unique() == quotes["_at"].n_unique() == quotes.height
    names = dict(zip(quotes["quote_id"], quotes["quote"], strict=True))
    at = dict(zip(quotes["quote_id"], quotes["_at"], strict=True))
    signals = read(data_dir, "signals")
    evaluated = signals["signal_id"].str.strip_prefix("cross/").str.replace(r"/[^/]+/[^/]+$", "")
    signals = (
        signals.with_columns(
            evaluated.replace_strict(names).alias("evaluated_quote"),
            evaluated.replace_strict(at).alias("_at"),
            pl.col("buy_quote_id").replace_strict(names).alias("buy_quote"),
            pl.col("sell_quote_id").replace_strict(names).alias("sell_quote"),
        )
        .sort("_at", "buy_exchange", "sell_exchange")
        .drop("signal_id", "buy_quote_id", "sell_quote_id", "episode_id", "_at")  # episode_id embeds the signal_id
    )
    return quotes.select("quote"), signals


def test_a_live_session_and_the_replay_of_its_capture_give_the_same_signals_in_the_same_order(tmp_path: Path) -> None:
    okx = [("send", m) for m in jsonl("live_flow/okx_bbo_tbt.jsonl")]
    htx = [("send", m) for m in jsonl("live_flow/htx_bbo.jsonl")]
    capture = tmp_path / "capture"
    with FakeBinance([binance_script()], {"lastUpdateId": 0, "bids": [], "asks": []}) as fb, \
            FakeOkx([okx], speed=1.0) as fo, FakeHtx([htx], speed=1.0) as fh:  # fmt: skip
        urls = {"binance": fb.url, "okx": fo.url, "htx": fh.url}
        live = live_settings(tmp_path / "live", urls, live={"capture_dir": str(capture)})
        run_main(build_flow(settings=live))
        assert fb.finished.is_set() and fo.finished.is_set() and fh.finished.is_set()
    replay = live_settings(
        tmp_path / "replay", {}, source={"kind": "replay", "paths": [f"{capture}/**/*.parquet"], "batch_rows": 37}
    )
    run_main(build_flow(settings=replay))

    # Live: the merge point makes ts_recv strictly increasing in arrival order. Replay: quote ids count the stream.
    live_quotes, live_signals = canonical(tmp_path / "live", pl.col("ts_recv"))
    offset = pl.col("quote_id").str.split("/").list.last().cast(pl.Int64)
    replay_quotes, replay_signals = canonical(tmp_path / "replay", offset)
    assert live_quotes.height == 312 + len(okx) + len(htx)  # all clean
    assert live_quotes.equals(replay_quotes)  # the same sequence of quotes...
    exchanges = [q.split("|")[0] for q in live_quotes["quote"]]
    assert sum(a != b for a, b in itertools.pairwise(exchanges)) > 10  # ...with the venues interleaved
    # The fixture's lifted OKX bid (80 bps over 5 pushes) clears the fee-aware threshold against both other venues;
    # the dipped HTX ask (70 bps) too; the 35 bps OKX lift does not once fees are paid.
    # Which routes fire depends on how fresh the other legs were at each push (the receive clock of this run), so
    # the test asserts what every run must show: signals exist, and each sells into the lifted OKX book or buys
    # from the dipped HTX one.
    routes = set(zip(replay_signals["buy_exchange"], replay_signals["sell_exchange"], strict=True))
    assert replay_signals.height >= 2
    assert routes <= {("binance", "okx"), ("htx", "okx"), ("htx", "binance")}
    assert live_signals.equals(replay_signals)  # same signals, evaluated on the same update, in the same order


def test_a_dropped_venue_contributes_no_quote_to_any_signal_after_the_drop(tmp_path: Path) -> None:
    okx = [("send", m) for m in jsonl("live_flow/okx_bbo_tbt.jsonl")]
    lifted = 40  # the first OKX push with the lifted bid: its last quote before the connection drops
    htx = [("sleep", 0.6)] + [("send", m) for m in jsonl("live_flow/htx_bbo.jsonl")]  # HTX starts after the drop
    data_dir = tmp_path / "lake"
    with FakeBinance([binance_script()], {"lastUpdateId": 0, "bids": [], "asks": []}) as fb, \
            FakeOkx([okx[: lifted + 1] + [("drop",)], []], speed=1.0) as fo, FakeHtx([htx], speed=1.0) as fh:  # fmt: skip
        settings = live_settings(
            data_dir,
            {"binance": fb.url, "okx": fo.url, "htx": fh.url},
            live={"backoff_initial_s": 0.05, "backoff_max_s": 0.2},
            cross={"max_skew_ms": 1000.0},  # HTX's venue clock starts later with its script: not this test's subject
            sinks={"write_spreads": True},
        )
        run_main(build_flow(settings=settings))
    assert fo.connections == 2
    events = read(data_dir, "feed_events").filter(pl.col("exchange") == "okx").sort("ts_recv")
    dropped_at = events.filter(pl.col("kind") == "disconnect")["ts_recv"][0]
    assert not events.filter(pl.col("ts_recv") >= dropped_at)["feed_up"].any()  # never live again
    clean = read(data_dir, "quotes_clean")
    assert clean.group_by("exchange").len().sort("exchange").rows() == [("binance", 312), ("htx", 78), ("okx", 41)]

    signals = read(data_dir, "signals")
    okx_legs = signals.filter((pl.col("buy_exchange") == "okx") | (pl.col("sell_exchange") == "okx"))
    assert okx_legs.height > 0 and okx_legs["ts_signal"].max() < dropped_at  # OKX did signal before its drop
    spreads = read(data_dir, "spreads").filter(
        ((pl.col("buy_exchange") == "okx") | (pl.col("sell_exchange") == "okx")) & (pl.col("ts_eval") > dropped_at)
    )
    p = settings.cross
    # After the drop, pairs with OKX's last (lifted) bid are young, within skew and clear the threshold: only the
    # feed going down keeps them out of the signals.
    would_qualify = spreads.filter(
        (pl.col("age_ms") <= p.max_quote_age_ms) & (pl.col("skew_ms") <= p.max_skew_ms)
        & (pl.col("net_edge_bps") >= p.min_net_edge_bps)
    )  # fmt: skip
    assert {"binance", "htx"} <= set(would_qualify["buy_exchange"])
    assert not spreads["fresh"].any() and not spreads["is_signal"].any()
