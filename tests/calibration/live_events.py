"""A decided coin stored as the acceptor's own service records it, for store tests."""

from __future__ import annotations

import datetime as dt

from calibration.db import Tx, format_time
from calibration.repository import events as events_repo


def insert_live(tx: Tx, at: dt.datetime, head: str, coin: str | None, reason: str) -> int:
    """One ``live`` event (no signature, profile or key); its id."""
    return events_repo.insert_event(
        tx,
        at=format_time(at),
        head=head,
        signature_id=None,
        coin=coin,
        accepted=reason == "accepted",
        reason=reason,
        detail=None,
        profile_id=None,
        source="live",
        signature=None,
    )
