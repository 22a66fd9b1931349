"""One error model for every face.

Each class carries the CLI exit code and the HTTP status a face should use, so the CLI, the
server extension and the magics translate errors the same way without knowing their causes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CozyError(Exception):
    """Base of every error the core raises on purpose; the message is one user-facing line."""

    exit_code = 1
    http_status = 500
    reason = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class UsageError(CozyError):
    """The caller asked for something that does not exist or makes no sense."""

    exit_code = 2
    http_status = 400
    reason = "usage"


class NotFound(UsageError):
    """A named thing (connector, collection, setting) is unknown."""

    http_status = 404
    reason = "not-found"


class ConsentRequired(CozyError):
    """The user has not given the consent this action needs."""

    exit_code = 3
    http_status = 403
    reason = "consent-required"


class GrantRequired(ConsentRequired):
    """A connector needs the user's grant (first use, or its manifest changed)."""

    reason = "grant-required"

    def __init__(self, message: str, *, hint: str | None = None, connector: str = "") -> None:
        super().__init__(message, hint=hint)
        self.connector = connector


class ReconnectNeeded(ConsentRequired):
    """The user's access at a third party lapsed (a bank's 90-day consent, a revoked token)."""

    reason = "reconnect-needed"


class BadInput(CozyError):
    """Input data or settings are malformed; the message names the field or file."""

    exit_code = 4
    http_status = 422
    reason = "bad-input"


class ConnectorFailed(CozyError):
    """A connector raised a fatal error; the sync rolled back and nothing was written."""

    exit_code = 1
    http_status = 502
    reason = "connector-failed"


class IntegrityError(CozyError):
    """Stored or exported data does not match what it claims to be."""

    exit_code = 5
    http_status = 409
    reason = "integrity"


class StoreBusy(CozyError):
    """Another process holds the store's write lock for longer than we wait."""

    exit_code = 1
    http_status = 503
    reason = "busy"


def unknown(kind: str, name: str, known: Iterable[str]) -> NotFound:
    """Build a lookup failure that says "did you mean ..." when a close name exists."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return NotFound(f"unknown {kind} {name!r}; did you mean {close[0]!r}?")
    listing = ", ".join(names) if names else "none"
    return NotFound(f"unknown {kind} {name!r}; known: {listing}")
