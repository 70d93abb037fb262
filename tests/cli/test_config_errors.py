"""A user config is merged over the defaults and its errors print literally (no Rich markup eats `[venues.x]`)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import count, invoke


def test_a_config_error_prints_bracketed_keys_literally(tmp_path: Path) -> None:
    user = tmp_path / "kraken.toml"
    user.write_text('[triangular]\nexchanges = ["binance", "kraken"]\n')
    result = invoke("run", "-c", user, "-d", tmp_path / "lake")
    assert result.exit_code == 2
    assert "[venues.kraken] taker_fee_bps" in result.output
    assert ": :" not in result.output
    assert not (tmp_path / "lake" / "arbflow.duckdb").exists()


def test_a_two_venue_config_with_one_fee_override_builds_and_runs(tmp_path: Path) -> None:
    user = tmp_path / "two.toml"
    user.write_text('[simulator]\nvenues = ["binance", "htx"]\n[venues.binance]\ntaker_fee_bps = 5.0\n')
    lake = tmp_path / "lake"
    result = invoke("run", "-c", user, "--source", "simulator", "-d", lake)
    assert result.exit_code == 0, result.output
    assert count(lake, "select count(distinct exchange) from quotes_clean") == 2
    assert count(lake, "select count(*) from quotes_clean where exchange not in ('binance', 'htx')") == 0
    assert count(lake, "select count(*) from signals") > 0
