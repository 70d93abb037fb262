"""API error codes from the design doc: 1xxx system, 2xxx data, 3xxx network, 4xxx business.

Every error the HTTP API returns carries one of these codes, its HTTP status and a message, so a client can branch on
the code instead of parsing text. The body is ``{"error": {"code", "name", "message", "detail"}}``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """Stable numeric codes; the thousands digit is the category."""

    INTERNAL = 1000
    UNAUTHORIZED = 1001
    RATE_LIMITED = 1002
    NOT_FOUND = 1003
    SERVICE_UNAVAILABLE = 1004
    METHOD_NOT_ALLOWED = 1005
    INVALID_PARAMETER = 2000
    DATA_UNAVAILABLE = 2001
    DATA_CORRUPT = 2002
    UPSTREAM_TIMEOUT = 3000
    FEED_DISCONNECTED = 3001
    RISK_LIMIT_BREACHED = 4000
    EMERGENCY_STOP = 4001
    INVALID_STATE = 4002
    NOTHING_TO_REPLAY = 4003

    @property
    def category(self) -> str:
        """system | data | network | business, from the thousands digit."""
        return {1: "system", 2: "data", 3: "network", 4: "business"}[self.value // 1000]

    @property
    def http_status(self) -> int:
        """The HTTP status the API answers with for this code."""
        return _HTTP_STATUS[self]

    @property
    def message(self) -> str:
        """Default human message; callers add specifics in ``detail``."""
        return _MESSAGES[self]


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.INVALID_PARAMETER: 422,
    ErrorCode.DATA_UNAVAILABLE: 404,
    ErrorCode.DATA_CORRUPT: 500,
    ErrorCode.UPSTREAM_TIMEOUT: 504,
    ErrorCode.FEED_DISCONNECTED: 503,
    ErrorCode.RISK_LIMIT_BREACHED: 409,
    ErrorCode.EMERGENCY_STOP: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.NOTHING_TO_REPLAY: 409,
}

_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.INTERNAL: "internal error",
    ErrorCode.UNAUTHORIZED: "missing or invalid API key (header x-api-key)",
    ErrorCode.RATE_LIMITED: "rate limit exceeded for this API key",
    ErrorCode.NOT_FOUND: "no such route",
    ErrorCode.SERVICE_UNAVAILABLE: "service unavailable",
    ErrorCode.METHOD_NOT_ALLOWED: "this route does not accept that method",
    ErrorCode.INVALID_PARAMETER: "invalid request parameter",
    ErrorCode.DATA_UNAVAILABLE: "requested data is not available",
    ErrorCode.DATA_CORRUPT: "stored data could not be read",
    ErrorCode.UPSTREAM_TIMEOUT: "upstream did not answer in time",
    ErrorCode.FEED_DISCONNECTED: "market data feed is disconnected",
    ErrorCode.RISK_LIMIT_BREACHED: "a risk limit forbids this",
    ErrorCode.EMERGENCY_STOP: "emergency stop is active",
    ErrorCode.INVALID_STATE: "not allowed in the current state",
    ErrorCode.NOTHING_TO_REPLAY: "the last replay reached the end of its input: nothing is left to replay",
}


class ApiError(Exception):
    """An error the API reports to its client as ``code`` + message (+ optional detail)."""

    def __init__(self, code: ErrorCode, detail: Any = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code.value} {code.name}: {code.message}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body every API error shares."""
        return {
            "error": {
                "code": int(self.code),
                "name": self.code.name.lower(),
                "message": self.code.message,
                "detail": self.detail,
            }
        }
