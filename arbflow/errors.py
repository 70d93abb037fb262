"""The project's domain errors, in one place, so every layer raises and catches the same classes.

Each is raised on misconfiguration or on input a caller must fix (bad data inside the flow is quarantined with a
reason instead); the message says what is wrong and what to change.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """The configuration is wrong; the message says which key and what to change."""


class BadFrame(ValueError):
    """A frame that cannot be decoded (garbage, truncated gzip, not JSON): becomes a ``bad_frame`` feed event."""


class QueryError(ValueError):
    """A named query is unknown, malformed, or got parameters it cannot use; the message says what to change."""


class UnknownColumnError(ValueError):
    """A filter named a column the table does not have."""


class SecretsError(RuntimeError):
    """The store cannot be opened; the message says what to fix and never contains secret material."""
