"""Malformed input never crashes the flow: every bad row lands in quotes_rejected with one specific reason."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.core.conftest import REPO, run_flow, settings_for, table

FIXTURE = REPO / "tests" / "fixtures" / "malformed" / "quotes.csv"


def test_each_malformed_row_is_rejected_with_its_specific_reason(tmp_path: Path) -> None:
    expected = pl.read_csv(FIXTURE, infer_schema=False).with_row_index("offset")
    run_flow(settings_for(tmp_path, source={"kind": "replay", "paths": [str(FIXTURE)], "batch_rows": 7}))

    rejected = table(tmp_path, "quotes_rejected")
    clean = table(tmp_path, "quotes_clean")
    got = rejected.select(pl.col("quote_id").str.strip_prefix("replay/").cast(pl.UInt32).alias("offset"), "reason")
    want = expected.filter(pl.col("expected_reason").is_not_null()).select("offset", pl.col("expected_reason"))

    assert rejected.height == want.height == 17
    assert got.sort("offset").rows() == want.sort("offset").rows()
    assert sorted(clean["quote_id"]) == ["replay/0", "replay/1", "replay/17", "replay/19"]
    assert rejected["raw"].str.contains("fixture").all()  # the original row is kept for forensics
    stages = dict(rejected.group_by("stage").len().rows())
    assert stages == {"normalize": 6, "clean": 11}  # casting problems first, then QingXi's checks


def test_a_csv_line_with_an_extra_or_missing_field_is_quarantined_and_the_file_goes_on(tmp_path: Path) -> None:
    path = REPO / "tests" / "fixtures" / "malformed" / "ragged_lines.csv"
    lines = path.read_text().splitlines()
    run_flow(settings_for(tmp_path, source={"kind": "replay", "paths": [str(path)], "batch_rows": 2}))

    rejected = table(tmp_path, "quotes_rejected", order_by="quote_id")
    assert rejected.select("quote_id", "stage", "reason", "detail", "raw").rows() == [
        ("replay/1", "normalize", "malformed_line", "line=3", lines[2]),
        ("replay/3", "normalize", "malformed_line", "line=5", lines[4]),
    ]
    assert sorted(table(tmp_path, "quotes_clean")["quote_id"]) == ["replay/0", "replay/2", "replay/4"]
