"""Domain errors: what went wrong, in words an operator can act on.

Data functions raise these; only the HTTP layer maps them to status codes
(404, 409, 422), so the same functions serve the serve loop and scripts.
"""

from __future__ import annotations

from typing import Any


class CalibrationError(Exception):
    """Base of every error the service reports to its caller."""

    status = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(CalibrationError):
    """The thing asked for does not exist."""

    status = 404


class ConflictError(CalibrationError):
    """The request does not fit the present state (closed session, last admin key ...)."""

    status = 409


class InvalidError(CalibrationError):
    """The request is well-formed but its content is refused (bad profile, teach refused)."""

    status = 422
