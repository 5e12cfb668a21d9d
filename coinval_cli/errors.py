"""What the ``coinval`` command tells its caller: exit statuses and the user's own mistakes."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad flags, files or profile: a message for the user, exit 2."""
