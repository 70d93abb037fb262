"""Triangular signals and episodes through a real Bytewax run (normalize + QingXi + GX gate from the core flow),
against the simulator's injected triangular opportunities: recall 1.0, precision 1.0, episodes on the injected
start and end; identical rows for any batch size."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from arbflow.errors import ConfigError
from arbflow.settings import Settings, load_settings
from connectors.batches import RawBatch
from connectors.lake import table_schemas, to_arrow
from connectors.simulator import SimResult, simulate
from flows.common.batches import check_batch
from flows.common.clean_stage import clean_stage
from flows.triangular.step import runners_for, triangular_tables
from quality.gate import QualityGate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def settings() -> Settings:
    base = load_settings(REPO / "config" / "default.toml", environ={}).model_dump()
    base["simulator"] |= {"symbols": ["BTC/USDT", "ETH/USDT", "ETH/BTC"], "duration_s": 100.0}
    base["triangular"] |= {"discover": True}
    return Settings.model_validate(base)


@pytest.fixture(scope="module")
def market(settings: Settings) -> SimResult:
    fees = {name: v.taker_fee_bps for name, v in settings.venues.items()}
    return simulate(settings.simulator, fees, settings.cross.min_net_edge_bps)


def batches_of(market: SimResult, batch_rows: int) -> list[RawBatch]:
    quotes = market.quotes.with_row_index("offset").select(
        pl.exclude("offset"), pl.format("sim/{}", "offset").alias("quote_id")
    )
    return [
        RawBatch(i, "sim", quotes.slice(start, batch_rows))
        for i, start in enumerate(range(0, quotes.height, batch_rows))
    ]


def build(settings: Settings, items: list, sink: list) -> Dataflow:
    """Source -> the core flow's check_batch (normalize, QingXi row checks, GX gate) -> stream checks ->
    triangular_tables."""
    gate = QualityGate()
    flow = Dataflow("triangular")
    checked = op.map("check", op.input("raw", flow, TestingSource(items)), lambda b: check_batch(settings, gate, b))
    op.output(
        "out",
        triangular_tables("tri", clean_stage("clean", checked, settings.cleaning).batches, settings),
        TestingSink(sink),
    )
    return flow


def collect(sink: list) -> dict[str, pl.DataFrame]:
    """Tables by name; rows replayed after a resume carry the same id and contents, so one per id is kept."""
    names = {name for name, _ in sink}
    frames = {name: pl.concat([f for n, f in sink if n == name], how="diagonal_relaxed") for name in names}
    keys = {name: ["signal_id", "leg_no"] if name == "signal_legs" else [f.columns[0]] for name, f in frames.items()}
    return {name: f.unique(keys[name], keep="first").sort(keys[name]) for name, f in frames.items()}


def run(settings: Settings, market: SimResult, batch_rows: int) -> dict[str, pl.DataFrame]:
    sink: list = []
    run_main(build(settings, batches_of(market, batch_rows), sink))
    return collect(sink)


@pytest.fixture(scope="module")
def tables(settings: Settings, market: SimResult) -> dict[str, pl.DataFrame]:
    return run(settings, market, batch_rows=1500)


def test_every_injected_triangle_signalled_and_nothing_outside_injected_windows(
    tables: dict[str, pl.DataFrame], market: SimResult
) -> None:
    """Recall 1.0 on the injected triangles; precision 1.0: every signal lies in a window where the simulator lifted
    a book of that venue. A cross-exchange injection lifts one USDT leg of a venue, which mispriced that venue's
    triangle too: those are real triangular opportunities, and the only other ones allowed."""
    truth = market.truth.filter(pl.col("kind") == "triangular")
    assert truth.height >= 3 and truth["above_threshold"].all()
    windows = market.truth.select("opp_id", "kind", pl.col("sell_exchange").alias("venue"), "ts_start", "ts_end")
    signals = tables["signals"]
    inside = signals.join(windows, left_on="buy_exchange", right_on="venue").filter(
        pl.col("ts_signal").is_between("ts_start", "ts_end", closed="left")
    )
    assert inside["signal_id"].n_unique() == signals.height  # precision 1.0
    on_triangles = inside.filter(pl.col("kind") == "triangular")
    assert on_triangles["opp_id"].n_unique() == truth.height  # recall 1.0
    # the lifted ETH/BTC bid pays on USDT > ETH > BTC > USDT (buy ETH/USDT, sell ETH/BTC, sell BTC/USDT), from the
    # first lifted quote on, once per opportunity
    firsts = on_triangles.sort("ts_signal").group_by("opp_id", maintain_order=True).first()
    assert set(firsts["symbol"]) == {"USDT>ETH>BTC>USDT"}
    assert firsts.sort("opp_id")["ts_signal"].to_list() == truth.sort("opp_id")["ts_start"].to_list()
    assert on_triangles.height == truth.height
    assert (signals["net_edge_bps"] >= 20.0).all()
    legs = tables["signal_legs"]
    assert legs.height == 3 * signals.height


def test_episodes_start_and_end_on_the_injected_updates(tables: dict[str, pl.DataFrame], market: SimResult) -> None:
    truth = market.truth.filter(pl.col("kind") == "triangular").sort("ts_start")
    routes = [f"{ex}:USDT>ETH>BTC>USDT" for ex in truth["sell_exchange"]]
    episodes = (
        tables["opportunities"]
        .join(truth.with_columns(pl.Series("route", routes)), on="route")
        .filter(pl.col("first_seen").is_between("ts_start", "ts_end", closed="left"))
        .sort("first_seen")
    )
    assert episodes["opp_id"].to_list() == truth["opp_id"].to_list()  # one episode per injected triangle
    # it starts with the lifted ETH/BTC quote and ends with the quote that removes the lift
    assert episodes["first_seen"].to_list() == truth["ts_start"].to_list()
    assert episodes["ts_closed"].to_list() == truth["ts_end"].to_list()
    assert (~episodes["is_blip"]).all()
    assert (episodes["net_edge_bps_peak"] >= 20.0).all()
    assert (episodes["duration_ms"] > 2000.0).all()  # injected for 3 s


def test_periodic_n_leg_scans_find_every_injected_triangle_and_only_inside_windows(
    tables: dict[str, pl.DataFrame], market: SimResult
) -> None:
    truth = market.truth.filter(pl.col("kind") == "triangular")
    found = tables["cycles_found"].with_columns(pl.col("scan_id").str.split("/").list.first().alias("venue"))
    windows = market.truth.select("opp_id", "kind", pl.col("sell_exchange").alias("venue"), "ts_start", "ts_end")
    inside = found.join(windows, on="venue").filter(pl.col("ts_scan").is_between("ts_start", "ts_end"))
    assert inside["cycle_id"].n_unique() == found.height  # every scan hit lies in an injected window
    hits = inside.filter(pl.col("kind") == "triangular")
    assert hits["opp_id"].n_unique() == truth.height  # every injected triangle, seen by a 1 s scan
    for venue in truth["sell_exchange"]:
        route = ">".join(f"{venue}:{a}" for a in ("USDT", "ETH", "BTC", "USDT"))
        assert route in hits.filter(pl.col("venue") == venue)["route"].to_list()
    assert (found["n_legs"] == 3).all() and (found["net_edge_bps"] >= 20.0).all()


def test_rows_fit_the_lake_tables(tables: dict[str, pl.DataFrame]) -> None:
    schemas = table_schemas()
    for name, frame in tables.items():
        assert to_arrow(frame, schemas[name], name).num_rows == frame.height


def test_batch_size_does_not_change_any_row(
    settings: Settings, market: SimResult, tables: dict[str, pl.DataFrame]
) -> None:
    assert_same(run(settings, market, batch_rows=4000), tables)


def test_two_workers_give_the_same_rows(settings: Settings, market: SimResult, tables: dict[str, pl.DataFrame]) -> None:
    sink: list = []
    cluster_main(build(settings, batches_of(market, 1500), sink), [], 0, worker_count_per_proc=2)
    assert_same(collect(sink), tables)


def test_abort_and_resume_from_snapshots_gives_the_same_rows(
    settings: Settings, market: SimResult, tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    items = batches_of(market, 1500)
    sink: list = []
    flow = build(settings, [*items[:2], TestingSource.ABORT(), *items[2:]], sink)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)  # stops at the ABORT item
    before = len(sink)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert 0 < before < len(sink)
    assert_same(collect(sink), tables)


def assert_same(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    assert set(got) == set(want)
    for name, frame in want.items():
        assert got[name].equals(frame), name


def test_a_path_no_venue_lists_is_a_configuration_error(settings: Settings) -> None:
    bad = settings.model_copy(
        update={"triangular": settings.triangular.model_copy(update={"paths": ["BTC/USDT-XYZ/BTC-XYZ/USDT"]})}
    )
    with pytest.raises(ConfigError, match="XYZ/BTC"):
        runners_for(bad, ["okx", "htx"])
    # the BNB path exists on binance only (okx and htx list no BNB market): fine while binance is configured
    assert set(runners_for(settings, ["binance", "okx"])) == {"binance", "okx"}
    with pytest.raises(ConfigError, match="BNB/BTC"):
        runners_for(settings, ["okx"])
