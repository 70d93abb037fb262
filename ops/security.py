"""API security layer: API keys from the environment, a per-key sliding-window rate limit, security headers.

Keys come only from ``ARBFLOW_API_KEYS`` (comma separated) and are compared with ``hmac.compare_digest`` against
every configured key (no early exit, so timing says nothing about which key or prefix matched). With no key
configured every protected route answers 401: the API fails closed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

API_KEYS_ENV = "ARBFLOW_API_KEYS"
API_KEY_HEADER = "x-api-key"

SECURITY_HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def keys_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Configured API keys; blanks around commas are ignored."""
    raw = (os.environ if environ is None else environ).get(API_KEYS_ENV, "")
    return tuple(k.strip() for k in raw.split(",") if k.strip())


class ApiKeys:
    """Checks a presented key in constant time per configured key; returns a stable, non-secret key id."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = tuple(k.encode() for k in keys)

    def __len__(self) -> int:
        return len(self._keys)

    def identify(self, presented: str | None) -> str | None:
        """The matching key's id (sha256 prefix, safe to log and to use as a rate-limit bucket), or None."""
        if not presented:
            return None
        candidate = presented.encode()
        match: bytes | None = None
        for key in self._keys:
            if hmac.compare_digest(candidate, key):
                match = key
        return hashlib.sha256(match).hexdigest()[:12] if match is not None else None


class SlidingWindowLimiter:
    """At most ``limit`` requests per ``window_s`` per bucket, counted over the exact last window (not fixed slots).

    ``clock`` returns seconds (monotonic by default); tests inject a controllable one.
    """

    def __init__(self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0:
            msg = f"rate limit needs limit >= 1 and window_s > 0, got {limit}, {window_s}"
            raise ValueError(msg)
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, bucket: str) -> tuple[bool, int, float]:
        """Count one request: ``(allowed, remaining, retry_after_s)``; a refused request is not counted."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(bucket, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False, 0, max(0.0, hits[0] + self.window_s - now)
            hits.append(now)
            return True, self.limit - len(hits), 0.0
