"""Domain errors: what went wrong, in words an operator can act on.

Data functions raise these; only the HTTP layer maps them to status codes
(400, 401, 404, 409, 413, 415, 422, 503), so the same functions serve the
serve loop and scripts.
"""

from __future__ import annotations

from typing import Any


class CalibrationError(Exception):
    """Base of every error the service reports to its caller.

    ``details`` goes out as ``errors`` (a bounded list), ``extra`` as more
    top-level fields of the reply (counts), ``headers`` as response headers.
    """

    status = 400

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.extra = extra or {}
        self.headers = headers or {}


class NotFoundError(CalibrationError):
    """The thing asked for does not exist."""

    status = 404


class ConflictError(CalibrationError):
    """The request does not fit the present state (closed session, last admin key ...)."""

    status = 409


class InvalidError(CalibrationError):
    """The request is well-formed but its content is refused (bad profile, teach refused)."""

    status = 422


class KeyRevokedError(CalibrationError):
    """The key that asked for a change was revoked before the change could be made."""

    status = 401


class StoreBusyError(CalibrationError):
    """The store's write lock could not be had in time: try again shortly."""

    status = 503
