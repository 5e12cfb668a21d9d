"""The decision rollups read over windows of whole hours for the fleet views, and
rebuilt from the events.

``event_counts`` / ``event_counts_block`` / ``event_counts_daily``: decisions per
(head, hour, 4-hour block or day, coin, reason); ``event_totals`` and its block
and daily kin: decisions and refusals per (head, hour, block or day), one row
where the others have one per coin and reason.

The fleet views never read ``events``: a window is read as its whole UTC days
from the daily rollup, the whole blocks around them from the block one, and
the hours left at its ends (three at most each side) from the hourly one, so
a week costs about as many rows as a day, and a day about nine hours' rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from calibration.db import Row, Tx, block_sql, one_of

HOUR = dt.timedelta(hours=1)
BLOCK = dt.timedelta(hours=4)
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


def block_text(moment: dt.datetime) -> str:
    """The 4-hour rollup's key of the block holding ``moment`` (``2024-05-01T12``)."""
    return _floor(moment.astimezone(dt.UTC), BLOCK).strftime("%Y-%m-%dT%H")


def _floor(moment: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    """The start of the UTC hour, 4-hour block or day holding ``moment`` (a UTC time)."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day + (moment - day) // unit * unit


def _ceil(moment: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    start = _floor(moment, unit)
    return start if start == moment else start + unit


def _scope(tx: Tx, heads: Sequence[str] | None, model: str | None) -> tuple[str, list[Any]]:
    """SQL conditions (with a leading AND) limiting rows to ``heads`` or to a model's heads."""
    if heads is not None:
        condition, params = one_of(tx, "head", heads)
        return f" AND {condition}", params
    if model is not None:
        return " AND head IN (SELECT head FROM fleet_heads WHERE model = ?)", [model]
    return "", []


#: The rollup levels, coarsest first: (the rollup's unit, its length, its key's form).
_LEVELS = (("day", DAY, day_text), ("block", BLOCK, block_text), ("hour", HOUR, hour_text))


def _pieces(since: dt.datetime, until: dt.datetime) -> list[tuple[str, str, str]]:
    """The whole hours ``[since, until)`` as (unit, first, stop) ranges of rollup keys:
    its whole days, the whole 4-hour blocks around them, and the hours left at the
    ends (at most three each side)."""
    if since.minute or since.second or since.microsecond or until.minute or until.second:
        raise ValueError("a rollup window starts and ends on whole hours")
    pieces: list[tuple[str, str, str]] = []
    _cut(since.astimezone(dt.UTC), until.astimezone(dt.UTC), 0, pieces)
    return pieces


def _cut(
    since: dt.datetime, until: dt.datetime, level: int, out: list[tuple[str, str, str]]
) -> None:
    if since >= until:
        return
    unit, length, key = _LEVELS[level]
    if level == len(_LEVELS) - 1:
        out.append((unit, key(since), key(until)))
        return
    first, stop = _ceil(since, length), _floor(until, length)
    if first >= stop:  # no whole unit of this level inside
        _cut(since, until, level + 1, out)
        return
    out.append((unit, key(first), key(stop)))
    _cut(since, first, level + 1, out)
    _cut(stop, until, level + 1, out)


_COUNTS = {"hour": "event_counts", "block": "event_counts_block", "day": "event_counts_daily"}
_TOTALS = {"hour": "event_totals", "block": "event_totals_block", "day": "event_totals_daily"}
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
    scope, scope_params = _scope(tx, heads, model)
    # a literal, not a parameter: PostgreSQL uses a partial index only for a
    # condition it can see at planning time
    if refusals_only:
        scope += " AND reason <> 'accepted'"
    keys = "head, coin, reason"
    rows = _summed(
        tx, since, until, _COUNTS, keys, f"{keys}, n", "SUM(n) AS n", scope, scope_params
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

    One row per head and hour (or block, or day) whatever the coins and reasons.
    """
    scope, scope_params = _scope(tx, None, model)
    rows = _summed(
        tx,
        since,
        until,
        _TOTALS,
        "head",
        "head, n, refused",
        "SUM(n) AS n, SUM(refused) AS refused",
        scope,
        scope_params,
    )
    return {str(row["head"]): (int(row["n"]), int(row["refused"])) for row in rows if row["n"]}


def window_coin_tallies(
    tx: Tx, since: dt.datetime, until: dt.datetime, heads: Sequence[str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(decisions, accepted) per (head, coin) of ``heads`` in the whole hours
    ``[since, until)``; ``coin`` is ``''`` for decisions without one.

    What a page of heads shows per coin, summed by the store: a fraction of
    :func:`window_counts`' rows (no reasons) to cross to Python.
    """
    if not heads:
        return {}
    scope, scope_params = _scope(tx, heads, None)
    accepted = "SUM(CASE WHEN reason = 'accepted' THEN n ELSE 0 END) AS accepted"
    rows = _summed(
        tx,
        since,
        until,
        _COUNTS,
        "head, coin",
        "head, coin, reason, n",
        f"SUM(n) AS n, {accepted}",
        scope,
        scope_params,
    )
    return {
        (str(row["head"]), str(row["coin"])): (int(row["n"]), int(row["accepted"]))
        for row in rows
        if row["n"]
    }


def _summed(
    tx: Tx,
    since: dt.datetime,
    until: dt.datetime,
    tables: dict[str, str],
    keys: str,
    columns: str,
    sums: str,
    scope: str,
    scope_params: list[Any],
) -> list[Row]:
    """``sums`` (aggregates of ``columns``) per ``keys`` over the window's pieces (days
    and hours), in one query: the store adds the pieces up, and only the sums cross
    to Python."""
    selects: list[str] = []
    params: list[Any] = []
    for unit, first, stop in _pieces(since, until):
        selects.append(
            f"SELECT {columns} FROM {tables[unit]} WHERE {unit} >= ? AND {unit} < ?{scope}"
        )
        params += [first, stop, *scope_params]
    return tx.fetchall(
        f"SELECT {keys}, {sums} FROM ({' UNION ALL '.join(selects)}) AS w GROUP BY {keys}",
        params,
    )


def hour_totals(tx: Tx, heads: Sequence[str], hours: Sequence[str]) -> dict[tuple[str, str], int]:
    """Decisions per (head, hour) of ``heads`` in the given hours (rollup keys)."""
    if not heads or not hours:
        return {}
    among_heads, head_params = one_of(tx, "head", heads)
    among_hours, hour_params = one_of(tx, "hour", hours)
    rows = tx.fetchall(
        f"SELECT head, hour, n FROM event_totals WHERE {among_heads} AND {among_hours}",
        [*head_params, *hour_params],
    )
    return {(str(row["head"]), str(row["hour"])): int(row["n"]) for row in rows}


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
    block = block_sql(tx.dialect, "hour")
    tx.execute(
        "INSERT INTO event_counts_block (head, block, coin, reason, n)"
        f" SELECT head, {block}, coin, reason, SUM(n) FROM event_counts"
        f" GROUP BY head, {block}, coin, reason"
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
        "INSERT INTO event_totals_block (head, block, n, refused)"
        f" SELECT head, block, SUM(n), {refused} FROM event_counts_block GROUP BY head, block"
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
