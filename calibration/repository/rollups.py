"""The decision rollups (``event_counts`` per hour, ``event_counts_daily`` per day) read
over windows of whole hours for the fleet views, and rebuilt from the events.

The fleet views never read ``events``: a window is read as its whole UTC days
from the daily rollup and the hours at its ends from the hourly one, so a
week costs about as many rows as a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from calibration.db import Tx

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def hour_text(moment: dt.datetime) -> str:
    """The hourly rollup's key of the hour holding ``moment`` (``2024-05-01T13``)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H")


def day_text(moment: dt.datetime) -> str:
    """The daily rollup's key of the day holding ``moment`` (``2024-05-01``)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d")


def floor_hour(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour holding ``moment``."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_day(moment: dt.datetime) -> dt.datetime:
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return start if start == moment else start + DAY


def _scope(heads: Sequence[str] | None, model: str | None) -> tuple[str, list[Any]]:
    """SQL conditions (with a leading AND) limiting rows to ``heads`` or to a model's heads."""
    if heads is not None:
        marks = ", ".join("?" for _ in heads)
        return f" AND head IN ({marks})", list(heads)
    if model is not None:
        return " AND head IN (SELECT head FROM fleet_heads WHERE model = ?)", [model]
    return "", []


def window_counts(
    tx: Tx,
    since: dt.datetime,
    until: dt.datetime,
    *,
    heads: Sequence[str] | None = None,
    model: str | None = None,
) -> dict[tuple[str, str, str], int]:
    """Decisions per (head, coin, reason) in the whole hours ``[since, until)``.

    ``since`` and ``until`` must start UTC hours.  ``heads`` (a page of them) or
    ``model`` narrow the heads; neither: every head.  ``coin`` is ``''`` for
    decisions without one.  Counts of zero are left out.
    """
    if since.minute or since.second or since.microsecond or until.minute or until.second:
        raise ValueError("a rollup window starts and ends on whole hours")
    if heads is not None and not heads:
        return {}
    since, until = since.astimezone(dt.UTC), until.astimezone(dt.UTC)
    scope, scope_params = _scope(heads, model)
    first_day, stop_day = _ceil_day(since), until.replace(hour=0)
    parts: list[tuple[str, str, str, str]] = []
    if first_day < stop_day:
        # whole days from the daily rollup, the hours around them from the hourly one
        parts.append(("event_counts_daily", "day", day_text(first_day), day_text(stop_day)))
        ends = [(since, first_day), (stop_day, until)]
    else:
        ends = [(since, until)]
    for start, stop in ends:
        if start < stop:
            parts.append(("event_counts", "hour", hour_text(start), hour_text(stop)))
    totals: dict[tuple[str, str, str], int] = {}
    for table, unit, first, last in parts:
        rows = tx.fetchall(
            f"SELECT head, coin, reason, SUM(n) AS n FROM {table}"
            f" WHERE {unit} >= ? AND {unit} < ?{scope} GROUP BY head, coin, reason",
            [first, last, *scope_params],
        )
        for row in rows:
            key = (str(row["head"]), str(row["coin"]), str(row["reason"]))
            totals[key] = totals.get(key, 0) + int(row["n"])
    return {key: n for key, n in totals.items() if n}


def hour_totals(tx: Tx, heads: Sequence[str], hours: Sequence[str]) -> dict[tuple[str, str], int]:
    """Decisions per (head, hour) of ``heads`` in the given hours (rollup keys)."""
    if not heads or not hours:
        return {}
    head_marks = ", ".join("?" for _ in heads)
    hour_marks = ", ".join("?" for _ in hours)
    rows = tx.fetchall(
        "SELECT head, hour, SUM(n) AS n FROM event_counts"
        f" WHERE head IN ({head_marks}) AND hour IN ({hour_marks}) GROUP BY head, hour",
        [*heads, *hours],
    )
    return {(str(row["head"]), str(row["hour"])): int(row["n"]) for row in rows}


def heads_after(tx: Tx, after: str, limit: int) -> list[str]:
    """Heads that have decisions, after ``after`` in name order, at most ``limit``.

    A loose index scan (one index probe per head, a recursive query both stores
    run): ``SELECT DISTINCT head`` would read every row of the rollup.
    """
    rows = tx.fetchall(
        "WITH RECURSIVE h(head, k) AS ("
        " SELECT (SELECT MIN(head) FROM event_counts_daily WHERE head > ?), 1"
        " UNION ALL"
        " SELECT (SELECT MIN(head) FROM event_counts_daily WHERE head > h.head), k + 1"
        " FROM h WHERE h.head IS NOT NULL AND k < ?"
        ") SELECT head FROM h WHERE head IS NOT NULL",
        (after, limit),
    )
    return [str(row["head"]) for row in rows]


def has_head(tx: Tx, head: str) -> bool:
    """Whether ``head`` has any decision in the rollups."""
    row = tx.fetchone("SELECT 1 AS found FROM event_counts_daily WHERE head = ? LIMIT 1", (head,))
    return row is not None


def rebuild_rollups(tx: Tx) -> dict[str, int]:
    """Make both rollups exactly the counts of the stored events; the rows each now has.

    The store's triggers keep the rollups right for every row written through
    SQL, so this is needed only after a load that bypassed them (PostgreSQL
    ``session_replication_role = replica`` or disabled triggers, a SQLite file
    written without them).  Run it in a write transaction: it reads every event
    once (grouped), so it takes seconds per million events.
    """
    tx.execute("DELETE FROM event_counts")
    tx.execute("DELETE FROM event_counts_daily")
    tx.execute(
        "INSERT INTO event_counts (head, hour, coin, reason, n)"
        " SELECT head, SUBSTR(at, 1, 13), COALESCE(coin, ''), reason, COUNT(*) FROM events"
        " GROUP BY head, SUBSTR(at, 1, 13), COALESCE(coin, ''), reason"
    )
    tx.execute(
        "INSERT INTO event_counts_daily (head, day, coin, reason, n)"
        " SELECT head, SUBSTR(hour, 1, 10), coin, reason, SUM(n) FROM event_counts"
        " GROUP BY head, SUBSTR(hour, 1, 10), coin, reason"
    )
    counted: dict[str, int] = {}
    for table in ("event_counts", "event_counts_daily"):
        row = tx.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
        counted[table] = int(row["n"]) if row else 0
    return counted
