"""`arbflow query NAME`: named SQL files, parameters bound by DuckDB (never formatted into the SQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arbflow.errors import QueryError
from ops.queries import load_queries, parse
from tests.cli.conftest import RunLake, count, invoke

EXPECTED = {"best_signals", "rejection_reasons", "validation_failures", "route_spread_stats", "route_summary",
            "feed_events", "feed_health", "opportunities", "risk_metrics", "risk_alerts", "pnl_by_status"}  # fmt: skip


def rows(run_lake: RunLake, *args: str) -> list[dict]:
    result = invoke("query", *args, "--format", "json", "-d", run_lake.data_dir)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_list_shows_every_query_with_its_description_and_parameters() -> None:
    assert set(load_queries()) == EXPECTED
    listed = invoke("query", "--list")
    assert listed.exit_code == 0
    for name in ("best_signals", "route_spread_stats", "feed_health"):
        assert name in listed.output
    assert "(required)" in listed.output  # route_spread_stats' symbol/buy/sell


def test_every_query_runs_on_a_real_lake(run_lake: RunLake) -> None:
    route = ["-p", "symbol=BTC/USDT", "-p", "buy=binance", "-p", "sell=okx"]
    for name in sorted(EXPECTED):
        rows(run_lake, name, *(route if name == "route_spread_stats" else []))


def test_parameters_filter_like_the_equivalent_sql(run_lake: RunLake) -> None:
    btc = rows(run_lake, "best_signals", "-p", "symbol=BTC/USDT", "-p", "limit=100000")
    assert len(btc) == count(run_lake.data_dir, "select count(*) from signals where symbol = 'BTC/USDT'") > 0
    assert {r["symbol"] for r in btc} == {"BTC/USDT"}
    strong = rows(run_lake, "best_signals", "-p", "min_net_edge_bps=50", "-p", "limit=100000")
    assert len(strong) == count(run_lake.data_dir, "select count(*) from signals where net_edge_bps >= 50")
    windows = rows(run_lake, "route_spread_stats", "-p", "symbol=ETH/USDT", "-p", "buy=okx", "-p", "sell=htx")
    sql = "select count(*) from spread_stats where symbol='ETH/USDT' and buy_exchange='okx' and sell_exchange='htx'"
    assert len(windows) == count(run_lake.data_dir, sql) > 0
    later = rows(run_lake, "route_spread_stats", "-p", "symbol=ETH/USDT", "-p", "buy=okx", "-p", "sell=htx",
                 "-p", f"since={windows[-1]['window_start']}")  # fmt: skip
    assert later == [w for w in windows if w["window_start"] >= windows[-1]["window_start"]]
    reasons = rows(run_lake, "rejection_reasons")
    assert sum(r["rows"] for r in reasons) == count(run_lake.data_dir, "select count(*) from quotes_rejected")


def test_a_quote_in_a_value_is_data_not_sql(run_lake: RunLake) -> None:
    assert rows(run_lake, "best_signals", "-p", "symbol=x' or '1'='1") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["best_signals", "-p", "colour=red"], "has no parameter ['colour']"),
        (["best_signals", "-p", "limit=ten"], "limit='ten' is not a BIGINT"),
        (["best_signals", "-p", "limit"], "expected key=value"),
        (["route_spread_stats", "-p", "symbol=BTC/USDT"], "needs --param buy=<VARCHAR>"),
        (["no_such_query"], "no query named 'no_such_query'"),
    ],
)
def test_bad_queries_and_parameters_fail_with_a_message(run_lake: RunLake, args: list[str], message: str) -> None:
    result = invoke("query", *args, "-d", run_lake.data_dir)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_query_without_a_lake_says_how_to_make_one(tmp_path: Path) -> None:
    result = invoke("query", "best_signals", "-d", tmp_path)
    assert result.exit_code == 2 and "arbflow run" in result.output


def test_a_query_file_using_an_undeclared_parameter_is_rejected_when_loaded() -> None:
    with pytest.raises(QueryError, match=r"used \['venue'\] but declared \[\]"):
        parse("broken", "-- no header params\nselect * from signals where buy_exchange = $venue")
