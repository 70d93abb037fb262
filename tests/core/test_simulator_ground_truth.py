"""Replaying simulator output: every injected opportunity above the threshold is found, nothing else is signalled,
and every injected anomaly is rejected with the reason the cleaner must give."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.core.conftest import run_flow, settings_for, table


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("sim")
    run_flow(settings_for(data_dir, source={"kind": "simulator", "batch_rows": 2000}))
    return data_dir


def _matches(signals: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Each signal joined to the injected window it falls in (same symbol, lifted selling venue, receive clock)."""
    return signals.join(
        truth, left_on=["symbol", "sell_exchange"], right_on=["symbol", "sell_exchange"], how="left", suffix="_truth"
    ).filter(pl.col("ts_signal").is_between("ts_start", "ts_end", closed="left"))


def test_every_opportunity_above_threshold_found_and_nothing_else(sim_run: Path) -> None:
    truth = pl.read_parquet(sim_run / "input" / "simulator" / "truth.parquet").filter(pl.col("kind") == "cross")
    signals = table(sim_run, "signals")
    above = truth.filter("above_threshold")
    fee_eaten = truth.filter(~pl.col("above_threshold"))
    assert above.height == 6 and fee_eaten.height == 3

    matched = _matches(signals, above)
    # precision 1.0: every signal lies inside an injected window above the threshold
    assert matched["signal_id"].n_unique() == signals.height
    # recall 1.0: every such window is signalled on its designed route
    on_route = matched.filter(pl.col("buy_exchange") == pl.col("buy_exchange_truth"))
    assert on_route["opp_id"].n_unique() == above.height == 6
    # fee-eaten edges (gross > 0, net below the threshold) never become signals
    assert _matches(signals, fee_eaten).height == 0
    assert (signals["net_edge_bps"] >= 30.0).all()


def test_every_injected_anomaly_is_rejected_with_its_reason(sim_run: Path) -> None:
    anomalies = pl.read_parquet(sim_run / "input" / "simulator" / "anomalies.parquet")
    rejected = table(sim_run, "quotes_rejected")
    assert anomalies.height > 20
    assert set(anomalies["kind"]) == {
        "crossed",
        "zero_size",
        "negative_size",
        "nan_price",
        "stale",
        "outlier",
        "duplicate",
        "out_of_order",
    }
    joined = anomalies.join(rejected, on=["exchange", "symbol", "ts_recv", "seq"], how="full", coalesce=True)
    assert joined.height == anomalies.height == rejected.height
    assert joined.filter(pl.col("expected_reason") != pl.col("reason")).height == 0


def test_nothing_is_lost(sim_run: Path) -> None:
    quotes = pl.read_parquet(sim_run / "input" / "simulator" / "quotes.parquet")
    clean, rejected = table(sim_run, "quotes_clean"), table(sim_run, "quotes_rejected")
    assert clean.height + rejected.height == quotes.height
    ids = pl.concat([clean["quote_id"], rejected["quote_id"]])
    assert ids.n_unique() == quotes.height
    runs = table(sim_run, "validation_runs").filter(pl.col("engine") == "compiled")  # gx rows: the async audit
    assert runs.height == 2 * -(-quotes.height // 2000)  # two suites per micro-batch
    assert runs["success"].all()
