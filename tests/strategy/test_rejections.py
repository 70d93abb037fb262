"""Reason codes for would-be opportunities: every code, the precedence, and cross-exchange spreads end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from flows.common.rejections import REASONS, REJECTION_SCHEMA, Gates, classify, rejections_from_spreads, with_reasons
from flows.cross import spreads

GATES = Gates(min_net_edge_bps=30.0, max_quote_age_ms=1000.0, max_skew_ms=500.0)
OK = {
    "gross_edge_bps": 60.0,
    "net_edge_bps": 40.0,
    "age_ms": 10.0,
    "skew_ms": 5.0,
    "quarantined": False,
    "lot_ok": True,
    "notional_ok": True,
    "risk_ok": True,
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"quarantined": True}, "quarantined_input"),
        ({"age_ms": 1500.0}, "stale_leg"),
        ({"skew_ms": 800.0}, "skew"),
        ({"net_edge_bps": 12.0}, "fees"),
        ({"lot_ok": False}, "thin_size"),
        ({"notional_ok": False}, "min_notional"),
        ({"risk_ok": False}, "risk_block"),
    ],
)
def test_each_gate_produces_its_code(change: dict[str, object], reason: str) -> None:
    out = with_reasons(classify(pl.DataFrame([OK | change]), GATES), GATES).row(0, named=True)
    assert (out["is_signal"], out["reason"], out["reasons"]) == (False, reason, [reason])


def test_codes_follow_the_documented_precedence_and_all_are_listed() -> None:
    everything = {"quarantined": True, "age_ms": 2e3, "skew_ms": 2e3, "net_edge_bps": 0.0, "lot_ok": False,
                  "notional_ok": False, "risk_ok": False}  # fmt: skip
    out = with_reasons(classify(pl.DataFrame([OK | everything]), GATES), GATES).row(0, named=True)
    assert out["reasons"] == list(REASONS)
    assert out["reason"] == "quarantined_input"


def test_signal_has_no_reason_and_non_positive_gross_is_not_a_would_be_opportunity() -> None:
    out = classify(pl.DataFrame([OK, OK | {"gross_edge_bps": -3.0, "net_edge_bps": -23.0}]), GATES)
    assert out["is_signal"].to_list() == [True, False]
    assert out["reason"].to_list() == [None, None]


def test_missing_information_never_passes() -> None:
    row = OK | {"age_ms": None, "risk_ok": None}
    frame = pl.DataFrame([row], schema_overrides={"age_ms": pl.Float64, "risk_ok": pl.Boolean})
    out = with_reasons(classify(frame, GATES), GATES)
    assert out.row(0, named=True)["reasons"] == ["stale_leg", "risk_block"]
    assert out.row(0, named=True)["is_signal"] is False


def test_without_a_lot_flag_a_zero_quantity_is_thin() -> None:
    frame = pl.DataFrame([{k: v for k, v in OK.items() if k != "lot_ok"} | {"qty": 0.0}])
    assert classify(frame, GATES)["reason"].to_list() == ["thin_size"]


T0 = datetime(2024, 8, 8, 23, 55, tzinfo=UTC)


def test_cross_exchange_spreads_from_the_real_evaluator_get_reasons() -> None:
    """okx bids above binance's ask by 40 bps gross: 20 bps of fees leave 20 < 30 net -> fees; later a stale leg."""
    params = spreads.SpreadParams(
        fee_bps={"binance": 10.0, "okx": 10.0},
        min_net_edge_bps=30.0,
        max_quote_age_ms=1000.0,
        max_skew_ms=500.0,
        max_position_usdt=50_000.0,
    )
    rows = [
        ("binance", 60000.0, 60010.0, 0),
        ("okx", 60034.0, 60040.0, 100),  # gross = 60034/60010 - 1 = 4.0 bps: small positive
        ("okx", 60250.0, 60260.0, 200),  # gross = 60250/60010 - 1 = 40 bps, net ~20 bps
        ("okx", 60500.0, 60510.0, 1500),  # binance's quote is 1.5 s old
    ]
    quotes = pl.DataFrame(
        [
            {
                "exchange": ex,
                "symbol": "BTC/USDT",
                "bid_px": bid,
                "bid_qty": 0.0001 if i == 1 else 1.0,
                "ask_px": ask,
                "ask_qty": 1.0,
                "ts_recv": T0 + timedelta(milliseconds=ms),
                "quote_id": f"s/{i}",
            }
            for i, (ex, bid, ask, ms) in enumerate(rows)
        ]
    ).with_columns(pl.col("ts_recv").alias("ts_event"))
    _, evaluation = spreads.evaluate(spreads.BookState(), quotes, params)
    # spreads.evaluate returns the spread rows, or (newer) a lean Evaluation that builds them on demand
    evaluated = evaluation.rows() if hasattr(evaluation, "rows") else evaluation
    gates = Gates(params.min_net_edge_bps, params.max_quote_age_ms, params.max_skew_ms)
    rejected, after = rejections_from_spreads(evaluated, gates, min_qty_base=0.00001, min_notional_quote=10.0)
    assert rejected.schema == pl.Schema(REJECTION_SCHEMA)
    # one row where the route's reason starts or changes: s/2 repeats s/1's "fees" and is not written again
    assert rejected.select("trigger_id", "reason").rows() == [
        ("s/1/binance/okx", "fees"),  # 0.0001 BTC (6 USDT) is also below min notional: fees come first
        ("s/3/binance/okx", "stale_leg"),
    ]
    assert after == {"BTC/USDT/binance/okx": "stale_leg"}
    # carried into the next batch: the same verdict is not written again
    again, _ = rejections_from_spreads(evaluated.tail(1), gates, before=after)
    assert again.height == 0
    assert rejected["reasons"].to_list()[0] == ["fees", "min_notional"]
    assert rejected["rejection_id"].to_list()[0] == "cross/s/1/binance/okx"
    assert rejected["net_edge_bps"][1] == pytest.approx((60500 * 0.999 / (60010 * 1.001) - 1) * 1e4)
