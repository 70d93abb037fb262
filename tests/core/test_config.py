"""Configuration is validated at start: a wrong key or value fails with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbflow.errors import ConfigError
from arbflow.settings import load_settings
from tests.core.conftest import REPO

DEFAULT = REPO / "config" / "default.toml"


def test_default_config_carries_the_design_doc_defaults() -> None:
    s = load_settings(DEFAULT, environ={})
    assert s.cross.min_net_edge_bps == pytest.approx(30.0)  # min_spread 0.003
    assert s.cross.max_position_usdt == pytest.approx(50_000.0)  # max_exposure
    assert s.cross.symbols == ["BTC/USDT", "ETH/USDT"]
    assert s.fee_bps("binance") == pytest.approx(10.0)  # fee_rate 0.001


def test_unknown_key_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT.read_text().replace("max_skew_ms = 500.0", "max_skew = 500.0"))
    with pytest.raises(ConfigError, match=r"cross\.max_skew: Extra inputs are not permitted"):
        load_settings(bad, environ={})


def test_wrong_value_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT.read_text().replace("batch_rows = 20000", "batch_rows = 0"))
    with pytest.raises(ConfigError, match=r"source\.batch_rows: Input should be greater than or equal to 1"):
        load_settings(bad, environ={})


def test_environment_overrides_a_key() -> None:
    s = load_settings(DEFAULT, environ={"ARBFLOW__CROSS__MIN_NET_EDGE_BPS": "25", "ARBFLOW__SINKS__DATA_DIR": "out"})
    assert s.cross.min_net_edge_bps == pytest.approx(25.0)
    assert s.sinks.data_dir == "out"


def test_environment_typo_is_named() -> None:
    with pytest.raises(ConfigError, match=r"cross\.min_edge: Extra inputs"):
        load_settings(DEFAULT, environ={"ARBFLOW__CROSS__MIN_EDGE": "25"})


def test_non_usd_cross_symbol_explains_the_size_cap() -> None:
    with pytest.raises(ConfigError, match="max_position_usdt needs USD-quoted symbols"):
        load_settings(DEFAULT, environ={"ARBFLOW__CROSS__SYMBOLS": '["ETH/BTC"]'})


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_one_venue_fee_merges_over_the_default_venues(tmp_path: Path) -> None:
    user = tmp_path / "fee.toml"
    user.write_text("[venues.binance]\ntaker_fee_bps = 5.0\n")
    s = load_settings(user, environ={})
    assert {name: v.taker_fee_bps for name, v in s.venues.items()} == {"binance": 5.0, "okx": 10.0, "htx": 20.0}
    assert s.cross.min_net_edge_bps == pytest.approx(30.0)  # untouched tables keep the defaults
    assert [job.name for job in s.schedule.jobs] == ["replay-previous-day"]


def test_a_list_in_the_user_file_replaces_the_default_list(tmp_path: Path) -> None:
    user = tmp_path / "symbols.toml"
    user.write_text('[cross]\nsymbols = ["ETH/USDT"]\n')
    s = load_settings(user, environ={})
    assert s.cross.symbols == ["ETH/USDT"]
    assert s.cross.max_skew_ms == pytest.approx(500.0)


def test_venue_keys_follow_a_two_venue_source(tmp_path: Path) -> None:
    user = tmp_path / "two.toml"
    user.write_text('[simulator]\nvenues = ["binance", "htx"]\n[market_making]\nenabled = true\n')
    s = load_settings(user, environ={})
    assert s.triangular.exchanges == ["binance", "htx"]
    assert s.market_making.exchanges == ["binance"]
    assert sorted(s.risk.balances) == ["binance", "htx"]
    live = load_settings(user, environ={"ARBFLOW__SOURCE__KIND": '"live"', "ARBFLOW__LIVE__VENUES": '["okx"]'})
    assert live.triangular.exchanges == ["okx"]
    assert sorted(live.risk.balances) == ["okx"]


def test_an_explicit_venue_list_is_kept(tmp_path: Path) -> None:
    user = tmp_path / "tri.toml"
    user.write_text('[simulator]\nvenues = ["binance", "htx"]\n[triangular]\nexchanges = ["htx"]\n')
    assert load_settings(user, environ={}).triangular.exchanges == ["htx"]


def test_a_venue_without_a_fee_is_named_with_its_key_and_no_empty_field(tmp_path: Path) -> None:
    user = tmp_path / "kraken.toml"
    user.write_text('[triangular]\nexchanges = ["binance", "kraken"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(user, environ={})
    text = str(caught.value)
    assert "triangular.exchanges names ['kraken']" in text
    assert "[venues.kraken] taker_fee_bps" in text
    assert ": :" not in text and "Value error" not in text


def test_every_problem_is_named_not_only_the_first(tmp_path: Path) -> None:
    user = tmp_path / "two_bad.toml"
    user.write_text("[source]\nbatch_rows = 0\n[cross]\nmax_skew = 1.0\n")
    with pytest.raises(ConfigError, match=r"source\.batch_rows: .*cross\.max_skew: Extra inputs"):
        load_settings(user, environ={})


def test_live_capture_dir_follows_the_data_dir() -> None:
    live = REPO / "config" / "live.toml"
    assert load_settings(live, environ={}).live.capture_dir == "data/live/capture"
    moved = load_settings(live, environ={"ARBFLOW__SINKS__DATA_DIR": '"/var/lib/arbflow"'})
    assert moved.live.capture_dir == "/var/lib/arbflow/capture"
