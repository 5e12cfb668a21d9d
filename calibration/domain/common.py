"""Checks shared by the data functions."""

from __future__ import annotations

import datetime as dt
import re

from calibration.db import Tx, format_time
from calibration.errors import InvalidError, NotFoundError
from coinval.catalogue import coins as catalogue_coins

#: Heads a refusal names at most (the message stays one line).
MAX_HEADS_LISTED = 20
_HEAD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def check_head(head: str) -> str:
    """A sensor head name: 1-64 letters, digits and ``._:-``."""
    if not _HEAD.match(head):
        raise InvalidError(
            f"head {head!r} is not a valid name (1-64 letters, digits, '.', '_', ':' or '-',"
            " starting with a letter or digit)"
        )
    return head


def check_coin(coin: str) -> str:
    """A coin id of the catalogue."""
    known = catalogue_coins()
    if coin not in known:
        raise NotFoundError(f"unknown coin id {coin!r}; known: {', '.join(sorted(known))}")
    return coin


def check_head_exists(tx: Tx, head: str) -> str:
    """A head the store holds a profile for; else NotFoundError naming those it does.

    A head comes into the store with its first profile (an import, or ``coinval
    serve --api`` adopting its ``--profile``): teaching on a name that has none
    would teach on nothing, and the coins uploaded next would be refused for
    naming their real head.  So a misspelt head is refused at once, with the
    names that would have worked.
    """
    if tx.fetchone("SELECT 1 AS found FROM profiles WHERE head = ? LIMIT 1", (head,)):
        return head
    rows = tx.fetchall("SELECT DISTINCT head FROM profiles ORDER BY head")
    known = [str(r["head"]) for r in rows]
    listed = ", ".join(known[:MAX_HEADS_LISTED])
    if len(known) > MAX_HEADS_LISTED:
        listed += f" and {len(known) - MAX_HEADS_LISTED} more (GET /api/v1/heads)"
    where = f"heads with a profile: {listed}" if known else "no head has a profile here yet"
    raise NotFoundError(
        f"head {head!r} has no profile in this store; {where}. A head comes into the store"
        " with its first profile: import one (POST /api/v1/profiles, a `coinval teach`"
        " profile) or start `coinval serve --api` with it"
    )


def stored_moment(name: str, moment: dt.datetime) -> str:
    """A moment from a request in the store's UTC text form.

    Raises
    ------
    InvalidError
        Without a timezone, or out of range once in UTC (a year 1 or 9999 moment).
    """
    if moment.tzinfo is None:
        raise InvalidError(f"{name} must carry a timezone (e.g. 2024-05-01T12:00:00Z)")
    try:
        return format_time(moment)
    except OverflowError:
        raise InvalidError(f"{name} is out of range") from None


def in_zone(name: str, moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """``moment`` in ``zone``; InvalidError when it is out of range there."""
    try:
        return moment.astimezone(zone)
    except OverflowError:
        raise InvalidError(f"{name} is out of range") from None
