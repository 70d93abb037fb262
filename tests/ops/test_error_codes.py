"""API error codes: the design doc's categories, an HTTP status and a message for each, one body shape."""

from __future__ import annotations

from ops.errors import ApiError, ErrorCode


def test_every_code_has_category_status_and_message():
    assert len({int(c) for c in ErrorCode}) == len(ErrorCode)
    for code in ErrorCode:
        assert code.category == {1: "system", 2: "data", 3: "network", 4: "business"}[int(code) // 1000]
        assert 400 <= code.http_status < 600 and code.message
    assert {c.category for c in ErrorCode} == {"system", "data", "network", "business"}
    assert ErrorCode.UNAUTHORIZED.http_status == 401 and ErrorCode.RATE_LIMITED.http_status == 429
    assert ErrorCode.INVALID_PARAMETER.http_status == 422 and int(ErrorCode.INVALID_PARAMETER) == 2000


def test_api_error_body_and_message():
    err = ApiError(ErrorCode.EMERGENCY_STOP, "kill switch: drawdown 5.2% > 5%")
    assert err.body() == {
        "error": {
            "code": 4001,
            "name": "emergency_stop",
            "message": "emergency stop is active",
            "detail": "kill switch: drawdown 5.2% > 5%",
        }
    }
    assert str(err) == "4001 EMERGENCY_STOP: emergency stop is active (kill switch: drawdown 5.2% > 5%)"
