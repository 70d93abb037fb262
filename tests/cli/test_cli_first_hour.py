"""What a newcomer types from the README: positional arguments, help texts, failures that say why."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import polars as pl

from tests.cli.conftest import Market, count, invoke


def test_simulate_accepts_the_output_directory_as_a_positional_argument(tmp_path: Path) -> None:
    result = invoke("simulate", tmp_path / "sim", "--duration-s", "5")
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "sim" / "quotes.parquet").height > 0
    assert (tmp_path / "sim" / "truth.parquet").exists()
    same = invoke("simulate", "-o", tmp_path / "opt", "--duration-s", "5")
    assert same.exit_code == 0, same.output
    assert pl.read_parquet(tmp_path / "opt" / "quotes.parquet").equals(
        pl.read_parquet(tmp_path / "sim" / "quotes.parquet")
    )


def test_simulate_with_two_different_output_directories_fails(tmp_path: Path) -> None:
    result = invoke("simulate", tmp_path / "a", "-o", tmp_path / "b")
    assert result.exit_code == 2
    assert "give the output directory once" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_capture_where_no_venue_ever_connects_fails_with_the_feed_event_cause(tmp_path: Path) -> None:
    port = _closed_port()  # nothing listens there: every connect is refused
    env = {
        "ARBFLOW__LIVE__VENUES": '["binance"]',
        "ARBFLOW__LIVE__SYMBOLS": '["BTC/USDT"]',
        "ARBFLOW__LIVE__WS_URLS": f'{{binance = "ws://127.0.0.1:{port}"}}',
        "ARBFLOW__LIVE__REST_URLS": f'{{binance = "http://127.0.0.1:{port}"}}',
    }
    result = invoke("capture", "--seconds", "2", "--capture-dir", tmp_path / "cap", "-d", tmp_path / "lake", env=env)
    assert result.exit_code == 1, result.output
    assert "no venue ever connected" in result.output
    assert "binance connect_failed:" in result.output
    detail = count(tmp_path / "lake", "select max(detail) from feed_events where kind = 'connect_failed'")
    assert detail and detail in " ".join(result.output.split())


def test_a_query_missing_several_parameters_names_every_one(tmp_path: Path) -> None:
    result = invoke("query", "route_spread_stats", "-d", tmp_path)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    for name in ("symbol", "buy", "sell"):
        assert f"--param {name}=<VARCHAR>" in text
    assert "--param since" not in text  # it has a default


def test_help_texts_keep_globs_placeholders_and_bracketed_words() -> None:
    def text(*args: str) -> str:
        result = invoke(*args, "--help")
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    assert "<dir>/exchange=*/date=*/." in text("replay")
    assert "sql/queries/<name>.sql" in text("query")
    assert "[[schedule.jobs]]" in text("schedule")
    assert "OUT_DIR" in text("simulate").upper()


def test_replay_in_one_batch_shows_a_real_rate_not_zero(tmp_path: Path, market: Market) -> None:
    total = pl.read_parquet(market.out / "quotes.parquet").height
    result = invoke("replay", market.out / "quotes.parquet", "--batch-rows", str(10 * total), "-d", tmp_path / "lake")
    assert result.exit_code == 0, result.output
    bar = next(line for line in result.output.splitlines() if f"{total}/{total}" in line)
    rate = re.search(r"([\d,]+) quotes/s", bar)
    assert rate is not None, bar
    assert int(rate[1].replace(",", "")) > 0, bar
