"""Configuration is validated at start: a wrong key or value fails with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import ConfigError, load_settings
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
