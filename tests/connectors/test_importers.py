"""Importers on real extracts: row counts and first/last values match the source files."""

from __future__ import annotations

import ast
import gzip
import json
from datetime import UTC, datetime

import pytest

from connectors.importers import (
    read_cryptofeed_quotes,
    read_hftbacktest_books,
    read_hftbacktest_quotes,
    read_tardis_books,
    read_tardis_quotes,
)
from connectors.schema import POLARS_QUOTE_SCHEMA
from tests.connectors.conftest import FIXTURES, binance_recording


def _us(ts: datetime) -> int:
    return round(ts.timestamp() * 1_000_000)


def test_hftbacktest_quotes_are_every_book_ticker_line() -> None:
    path = FIXTURES / "binance" / "btcusdt_20240808_head400.txt"
    lines = [ln for ln in path.read_text().splitlines() if "@bookTicker" in ln]
    quotes = read_hftbacktest_quotes(path)
    assert dict(quotes.schema) == POLARS_QUOTE_SCHEMA
    assert quotes.height == len(lines) == 312
    for row, line in ((quotes.row(0, named=True), lines[0]), (quotes.row(-1, named=True), lines[-1])):
        recv_ns, _, payload = line.partition(" ")
        data = json.loads(payload)["data"]
        assert (row["bid_px"], row["ask_qty"], row["seq"]) == (float(data["b"]), float(data["A"]), data["u"])
        assert _us(row["ts_recv"]) == int(recv_ns) // 1000 and row["ts_exchange"] is None


def test_hftbacktest_books_chain_depth_diffs_onto_the_rest_snapshot() -> None:
    snapshot, after, _ = binance_recording()
    diffs = [m["data"] for m in after if "@depth" in m["stream"]]
    path = FIXTURES / "binance" / "btcusdt_20240808_head400.txt"
    every_diff = [json.loads(ln.partition(" ")[2])["data"] for ln in path.read_text().splitlines() if "@depth" in ln]
    # Binance's procedure: diffs received before the snapshot and newer than it are applied onto it
    held = [d for d in every_diff[: len(every_diff) - len(diffs)] if d["u"] > snapshot["lastUpdateId"]]
    books = read_hftbacktest_books(path)
    assert len(held) == 1 and books.height == len(diffs) + 1  # the snapshot + held diff, then one row per diff
    assert books["seq"].to_list() == [held[0]["u"]] + [d["u"] for d in diffs]
    last = books.row(-1, named=True)
    bids = {float(p): float(q) for p, q in snapshot["bids"]}
    for d in held + diffs:
        for p, q in d["b"]:
            bids.pop(float(p), None) if float(q) == 0 else bids.__setitem__(float(p), float(q))
    best = sorted(bids.items(), reverse=True)[:5]
    assert last["bid_px"] == pytest.approx([p for p, _ in best])
    assert last["bid_qty"] == pytest.approx([q for _, q in best])
    assert _us(last["ts_exchange"]) == diffs[-1]["E"] * 1000


def _cryptofeed_payloads(name: str, needle: str) -> list[tuple[float, str]]:
    out = []
    for line in (FIXTURES / "cryptofeed" / name).read_text().splitlines():
        head, sep, payload = line.partition(": ")
        if sep and " " not in head and needle in payload:
            out.append((float(head), payload))
    return out


def test_cryptofeed_binance_session_book_tickers() -> None:
    recorded = _cryptofeed_payloads("BINANCE.ws.1.0", "@bookTicker")
    quotes = read_cryptofeed_quotes(FIXTURES / "cryptofeed" / "BINANCE.ws.1.0")
    assert quotes.height == len(recorded) == 41
    first, last = json.loads(recorded[0][1])["data"], json.loads(recorded[-1][1])["data"]
    assert quotes.row(0, named=True)["symbol"] == "NKN/USDT" and quotes["bid_px"][0] == float(first["b"])
    assert quotes["seq"][-1] == last["u"] and quotes["ask_px"][-1] == float(last["a"])
    assert _us(quotes["ts_recv"][0]) == round(recorded[0][0] * 1_000_000)


def test_cryptofeed_okx_session_tickers_keep_non_spot_rows_for_quarantine() -> None:
    recorded = [(t, p) for t, p in _cryptofeed_payloads("OKX.ws.1.0", '"channel":"tickers"') if '"data"' in p]
    quotes = read_cryptofeed_quotes(FIXTURES / "cryptofeed" / "OKX.ws.1.0")
    assert quotes.height == len(recorded) == 16
    spot = quotes.filter(quotes["symbol"] == "BTC/USDT")
    assert spot.height == sum('"instId":"BTC-USDT"}' in p for _, p in recorded) == 14
    first = json.loads(next(p for _, p in recorded if '"instId":"BTC-USDT"}' in p))["data"][0]
    assert (spot["bid_px"][0], spot["ask_qty"][0]) == (float(first["bidPx"]), float(first["askSz"]))
    assert _us(spot["ts_exchange"][0]) == int(first["ts"]) * 1000
    assert quotes["symbol"].null_count() == 2  # futures/swap tickers: no spot market, quarantined by normalize


def test_cryptofeed_htx_gzip_depth_frames_give_top_of_book() -> None:
    frames = []
    for _, payload in _cryptofeed_payloads("HUOBI.ws.44.0", "b'"):
        msg = json.loads(gzip.decompress(ast.literal_eval(payload)))
        if msg.get("ch", "").endswith("depth.step0"):
            frames.append(msg)
    quotes = read_cryptofeed_quotes(FIXTURES / "cryptofeed" / "HUOBI.ws.44.0")
    assert quotes.height == len(frames) == 26
    for row, msg in ((quotes.row(0, named=True), frames[0]), (quotes.row(-1, named=True), frames[-1])):
        tick = msg["tick"]
        assert (row["bid_px"], row["bid_qty"]) == (tick["bids"][0][0], tick["bids"][0][1])
        assert (row["ask_px"], row["seq"]) == (tick["asks"][0][0], tick["version"])
        assert _us(row["ts_exchange"]) == tick["ts"] * 1000


def test_tardis_quotes_map_venues_and_symbols_and_keep_both_clocks() -> None:
    quotes = read_tardis_quotes(FIXTURES / "tardis" / "binance-okex-huobi_quotes_2024-08-08.csv")
    assert quotes.height == 6
    assert quotes["exchange"].to_list() == ["binance"] * 4 + ["okx", "htx"]
    assert set(quotes["symbol"]) == {"BTC/USDT"}
    first, last = quotes.row(0, named=True), quotes.row(-1, named=True)
    assert (first["bid_px"], first["bid_qty"], first["ask_px"], first["ask_qty"]) == (
        61837.63,
        3.78826,
        61837.64,
        1.54698,
    )
    assert (_us(first["ts_exchange"]), _us(first["ts_recv"])) == (1723161255354791, 1723161254087891)
    assert (last["bid_px"], last["ask_qty"], _us(last["ts_recv"])) == (61838.5, 0.0517, 1723161254161001)


@pytest.mark.parametrize("levels", [5, 25])
def test_tardis_book_snapshots_give_books_and_top_of_book_quotes(levels: int) -> None:
    path = FIXTURES / "tardis" / f"binance_book_snapshot_{levels}_2024-08-08_BTCUSDT.csv"
    snapshot, _, _ = binance_recording()
    books = read_tardis_books(path)
    assert books.height == 2 and books["bid_px"].list.len().to_list() == [levels, levels]
    assert books["ask_px"][0].to_list() == [float(p) for p, _ in snapshot["asks"][:levels]]
    assert books["bid_qty"][-1].to_list() == [float(q) for _, q in snapshot["bids"][1 : levels + 1]]
    quotes = read_tardis_quotes(path)
    assert quotes["bid_px"].to_list() == [float(snapshot["bids"][0][0]), float(snapshot["bids"][1][0])]
    assert quotes["ts_recv"][0] == datetime.fromtimestamp(1723161254.206652, UTC)


def test_a_file_that_is_not_tardis_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a tardis"):
        read_tardis_quotes(bad)
