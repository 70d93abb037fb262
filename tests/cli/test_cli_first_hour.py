"""What a newcomer types from the README: positional arguments, help texts, failures that say why."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.cli.conftest import invoke


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
