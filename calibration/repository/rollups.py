"""The decision rollups read over windows of whole hours for the fleet views, and
rebuilt from the events.

``event_counts`` / ``event_counts_daily``: decisions per (head, hour or day, coin,
reason); ``event_totals`` / ``event_totals_daily``: decisions and refusals per
(head, hour or day), one row where the others have one per coin and reason.

The fleet views never read ``events``: a window is read as its whole UTC days
from the daily rollup and the hours at its ends from the hourly one, so a
week costs about as many rows as a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from calibration.db import Row, Tx

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


def _pieces(since: dt.datetime, until: dt.datetime) -> list[tuple[str, str, str]]:
    """The whole hours ``[since, until)`` as (unit, first, stop) ranges of rollup keys:
    its whole days (unit ``day``) and the hours around them (unit ``hour``)."""
    if since.minute or since.second or since.microsecond or until.minute or until.second:
        raise ValueError("a rollup window starts and ends on whole hours")
    since, until = since.astimezone(dt.UTC), until.astimezone(dt.UTC)
    first_day, stop_day = _ceil_day(since), until.replace(hour=0)
    pieces: list[tuple[str, str, str]] = []
    ends = [(since, until)]
    if first_day < stop_day:
        pieces.append(("day", day_text(first_day), day_text(stop_day)))
        ends = [(since, first_day), (stop_day, until)]
    for start, stop in ends:
        if start < stop:
            pieces.append(("hour", hour_text(start), hour_text(stop)))
    return pieces


_COUNTS = {"hour": "event_counts", "day": "event_counts_daily"}
_TOTALS = {"hour": "event_totals", "day": "event_totals_daily"}
#: Every rollup, the fleet-wide ones (per hour or day, coin and reason) last.
_ALL = (*_COUNTS.values(), *_TOTALS.values(), "fleet_counts", "fleet_counts_daily")


def window_counts(
    tx: Tx,
    since: dt.datetime,
    until: dt.datetime,
    *,
    heads: Sequence[str] | None = None,
    model: str | None = None,
    refusals_only: bool = False,
) -> dict[tuple[str, str, str], int]:
    """Decisions per (head, coin, reason) in the whole hours ``[since, until)``.

    ``since`` and ``until`` must start UTC hours.  ``heads`` (a page of them) or
    ``model`` narrow the heads; neither: every head.  ``refusals_only`` leaves
    out ``accepted`` (read through the refusals' own index: a few percent of the
    rows).  ``coin`` is ``''`` for decisions without one.  Counts of zero are
    left out.
    """
    if heads is not None and not heads:
        return {}
    scope, scope_params = _scope(heads, model)
    # a literal, not a parameter: PostgreSQL uses a partial index only for a
    # condition it can see at planning time
    if refusals_only:
        scope += " AND reason <> 'accepted'"
    rows = _summed(
        tx,
        since,
        until,
        _COUNTS,
        "head, coin, reason",
        "n",
        scope,
        scope_params,
    )
    return {
        (str(row["head"]), str(row["coin"]), str(row["reason"])): int(row["n"])
        for row in rows
        if row["n"]
    }


def window_totals(
    tx: Tx,
    since: dt.datetime,
    until: dt.datetime,
    *,
    model: str | None = None,
) -> dict[str, tuple[int, int]]:
    """(decisions, refusals) per head in the whole hours ``[since, until)``, every head's
    or ``model``'s; heads with no decision are left out.

    One row per head and hour (or day) whatever the coins and reasons.
    """
    scope, scope_params = _scope(None, model)
    rows = _summed(tx, since, until, _TOTALS, "head", "n, refused", scope, scope_params)
    return {str(row["head"]): (int(row["n"]), int(row["refused"])) for row in rows if row["n"]}


def _summed(
    tx: Tx,
    since: dt.datetime,
    until: dt.datetime,
    tables: dict[str, str],
    keys: str,
    values: str,
    scope: str,
    scope_params: list[Any],
) -> list[Row]:
    """``values`` summed per ``keys`` over the window's pieces (days and hours), in one
    query: the store adds the pieces up, and only the sums cross to Python."""
    selects: list[str] = []
    params: list[Any] = []
    for unit, first, stop in _pieces(since, until):
        selects.append(
            f"SELECT {keys}, {values} FROM {tables[unit]} WHERE {unit} >= ? AND {unit} < ?{scope}"
        )
        params += [first, stop, *scope_params]
    sums = ", ".join(f"SUM({v.strip()}) AS {v.strip()}" for v in values.split(","))
    return tx.fetchall(
        f"SELECT {keys}, {sums} FROM ({' UNION ALL '.join(selects)}) AS w GROUP BY {keys}",
        params,
    )


def hour_totals(tx: Tx, heads: Sequence[str], hours: Sequence[str]) -> dict[tuple[str, str], int]:
    """Decisions per (head, hour) of ``heads`` in the given hours (rollup keys)."""
    if not heads or not hours:
        return {}
    head_marks = ", ".join("?" for _ in heads)
    hour_marks = ", ".join("?" for _ in hours)
    rows = tx.fetchall(
        "SELECT head, hour, n FROM event_totals"
        f" WHERE head IN ({head_marks}) AND hour IN ({hour_marks})",
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
    """Make every rollup exactly the counts of the stored events; the rows each now has.

    The store's triggers keep the rollups right for every row written through
    SQL, so this is needed only after a load that bypassed them (PostgreSQL
    ``session_replication_role = replica`` or disabled triggers, a SQLite file
    written without them).  Run it in a write transaction: it reads every event
    once (grouped), so it takes seconds per million events.
    """
    for table in _ALL:
        tx.execute(f"DELETE FROM {table}")
    tx.execute(
        "INSERT INTO event_counts (head, hour, coin, reason, n)"
        " SELECT head, SUBSTR(at, 1, 13), COALESCE(coin, ''), reason, COUNT(*) FROM events"
        " GROUP BY head, SUBSTR(at, 1, 13), COALESCE(coin, ''), reason"
    )
    # the coarser ones from the hourly counts: far fewer rows than the events
    tx.execute(
        "INSERT INTO event_counts_daily (head, day, coin, reason, n)"
        " SELECT head, SUBSTR(hour, 1, 10), coin, reason, SUM(n) FROM event_counts"
        " GROUP BY head, SUBSTR(hour, 1, 10), coin, reason"
    )
    refused = "SUM(CASE WHEN reason = 'accepted' THEN 0 ELSE n END)"
    tx.execute(
        "INSERT INTO event_totals (head, hour, n, refused)"
        f" SELECT head, hour, SUM(n), {refused} FROM event_counts GROUP BY head, hour"
    )
    tx.execute(
        "INSERT INTO event_totals_daily (head, day, n, refused)"
        f" SELECT head, day, SUM(n), {refused} FROM event_counts_daily GROUP BY head, day"
    )
    tx.execute(
        "INSERT INTO fleet_counts (hour, coin, reason, n)"
        " SELECT hour, coin, reason, SUM(n) FROM event_counts GROUP BY hour, coin, reason"
    )
    tx.execute(
        "INSERT INTO fleet_counts_daily (day, coin, reason, n)"
        " SELECT day, coin, reason, SUM(n) FROM event_counts_daily GROUP BY day, coin, reason"
    )
    counted: dict[str, int] = {}
    for table in _ALL:
        row = tx.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
        counted[table] = int(row["n"]) if row else 0
    return counted
