"""Legal-tender schedule: when a coin may be credited, in Europe/London time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from coinval.catalogue import CoinSpec

LONDON = ZoneInfo("Europe/London")


def parse_moment(text: str) -> dt.datetime:
    """An ISO date-time (or date) for ``--at``; a naive one is London local time.

    Raises
    ------
    ValueError
        With a message fit for the command line.
    """
    try:
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LONDON)
        # At the calendar's edges a time zone shift leaves the representable
        # range: find out here, with a message, not in the middle of a run.
        moment.astimezone(LONDON)
    except (ValueError, OverflowError):
        raise ValueError(
            f"--at {text!r} is not an ISO date-time (e.g. 2017-10-14T23:59:00 or 2017-10-15)"
        ) from None
    return moment


def now() -> dt.datetime:
    """The present moment, timezone-aware."""
    return dt.datetime.now(tz=LONDON)


def is_legal_tender(spec: CoinSpec, at: dt.datetime) -> bool:
    """Whether ``spec`` is legal tender at ``at``.

    A coin is legal tender from 00:00 London time on its first day, and stops
    being so at 00:00 London time on its ``legal_tender_until`` day.
    """
    day = at.astimezone(LONDON).date()
    if spec.legal_tender_from is not None and day < spec.legal_tender_from:
        return False
    return not (spec.legal_tender_until is not None and day >= spec.legal_tender_until)
