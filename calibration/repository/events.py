"""Decision events: what the engine decided, when, on which head; and their counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from calibration.db import Row, Tx

_PUBLIC = (
    "id, at, head, signature_id, coin, accepted, reason, detail, profile_id, source,"
    " signature IS NOT NULL AS has_signature"
)


@dataclass(frozen=True)
class EventFilter:
    """Which events to read; every field is optional."""

    head: str | None = None
    coin: str | None = None
    reason: str | None = None
    since: str | None = None
    until: str | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions and their parameters."""
        where: list[str] = []
        params: list[Any] = []
        for column, value, op in (
            ("head", self.head, "="),
            ("coin", self.coin, "="),
            ("reason", self.reason, "="),
            ("at", self.since, ">="),
            ("at", self.until, "<"),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        return where, params


def insert_event(
    tx: Tx,
    *,
    at: str,
    head: str,
    signature_id: str | None,
    coin: str | None,
    accepted: bool,
    reason: str,
    detail: str | None,
    profile_id: int | None,
    source: str,
    signature: str | None,
) -> int:
    """Record one decision; its event id."""
    row = tx.fetchone(
        "INSERT INTO events (at, head, signature_id, coin, accepted, reason, detail, profile_id,"
        " source, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            at,
            head,
            signature_id,
            coin,
            int(accepted),
            reason,
            detail,
            profile_id,
            source,
            signature,
        ),
    )
    assert row is not None
    return int(row["id"])


def _clean(rows: list[Row]) -> list[Row]:
    for row in rows:
        row["accepted"] = bool(row["accepted"])
        row["has_signature"] = bool(row["has_signature"])
    return rows


def query(tx: Tx, flt: EventFilter, *, before_id: int | None, limit: int) -> list[Row]:
    """Events newest first, keyset-paged by id."""
    where, params = flt.where()
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return _clean(
        tx.fetchall(
            f"SELECT {_PUBLIC} FROM events {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
    )


def after(tx: Tx, flt: EventFilter, *, after_id: int, limit: int) -> list[Row]:
    """Events newer than ``after_id``, oldest first (for the live stream)."""
    where, params = flt.where()
    where.append("id > ?")
    params.append(after_id)
    return _clean(
        tx.fetchall(
            f"SELECT {_PUBLIC} FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            (*params, limit),
        )
    )


def last_id(tx: Tx) -> int:
    """The newest event id (0 when there are none)."""
    row = tx.fetchone("SELECT MAX(id) AS m FROM events")
    return int(row["m"] or 0) if row else 0


def forget_old_signatures(tx: Tx, *, keep: int, window: int) -> int:
    """Drop the signatures of all but the newest ``keep`` events; how many were dropped.

    Only the ``window`` events just older than the kept ones are looked at, so
    the cost does not grow with the store; call it at least every ``window``
    new events.
    """
    newest = last_id(tx)
    cut = newest - keep
    if cut <= 0:
        return 0
    return tx.execute(
        "UPDATE events SET signature = NULL WHERE id <= ? AND id > ? AND signature IS NOT NULL",
        (cut, cut - window),
    )


def recent_with_signatures(tx: Tx, head: str, limit: int) -> list[Row]:
    """The head's newest events that kept their signature, newest first."""
    return tx.fetchall(
        "SELECT id, at, coin, accepted, reason, signature FROM events"
        " WHERE head = ? AND signature IS NOT NULL ORDER BY id DESC LIMIT ?",
        (head, limit),
    )


_HOUR_START = ":00:00.000000Z"
"""What follows an hour's text (``2024-05-01T13``) in the moment that starts it."""


def _next_hour(hour: str) -> str | None:
    """The hour after ``hour`` (``YYYY-MM-DDTHH`` text), None past the last one."""
    try:
        moment = dt.datetime.strptime(hour, "%Y-%m-%dT%H") + dt.timedelta(hours=1)
    except (OverflowError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H")


def _full_hours(since: str | None, until: str | None) -> tuple[str | None, str | None] | None:
    """The whole UTC hours inside ``[since, until)`` as ``[first, stop)`` hour texts
    (None: unbounded on that side), or None when no whole hour fits."""
    first: str | None = None
    if since is not None:
        first = since[:13] if since[13:] == _HOUR_START else _next_hour(since[:13])
        if first is None:
            return None
    stop = until[:13] if until is not None else None
    if first is not None and stop is not None and first >= stop:
        return None
    return first, stop


def _merge(parts: list[list[Row]], keys: tuple[str, ...]) -> list[Row]:
    """Rows of several grouped counts as one: ``n`` summed per key, zero counts dropped."""
    if len(parts) == 1:
        merged = [row for row in parts[0] if row["n"]]
    else:
        totals: dict[tuple[Any, ...], int] = {}
        for rows in parts:
            for row in rows:
                key = tuple(row[k] for k in keys)
                totals[key] = totals.get(key, 0) + int(row["n"])
        merged = [dict(zip((*keys, "n"), (*key, n), strict=True)) for key, n in totals.items() if n]
    if "coin" in keys:
        for row in merged:
            row["coin"] = row["coin"] or None
    return merged


def counts(
    tx: Tx, flt: EventFilter, *, bucket_chars: int | None = None, by_coin: bool = True
) -> list[Row]:
    """Event counts grouped by (bucket, coin, reason), in no order; rows with ``n`` > 0 only.

    ``bucket_chars`` cuts the stored UTC time text: 13 gives hours
    (``2024-05-01T13``), 10 days; None gives no time bucket (``bucket`` is '').
    ``by_coin=False`` leaves the coin out (fewer rows).  ``coin`` is None for
    decisions without one.

    Whole hours come from the ``event_counts`` table the store keeps per
    (head, hour, coin, reason); only the partial hours at the ends of a
    ``since``/``until`` window are counted from the events themselves.
    """
    if bucket_chars is not None and not 1 <= bucket_chars <= 13:
        raise ValueError("a bucket is at most an hour (13 characters of the time text)")
    keys = ("bucket", "coin", "reason") if by_coin else ("bucket", "reason")
    coin_col = ", coin" if by_coin else ""
    parts: list[list[Row]] = []

    # Whole hours: the maintained counts.
    hours = _full_hours(flt.since, flt.until)
    if hours is not None:
        where: list[str] = []
        params: list[Any] = []
        for column, value, op in (
            ("head", flt.head, "="),
            ("coin", flt.coin, "="),
            ("reason", flt.reason, "="),
            ("hour", hours[0], ">="),
            ("hour", hours[1], "<"),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        bucket = f"SUBSTR(hour, 1, {int(bucket_chars)})" if bucket_chars else "''"
        parts.append(
            tx.fetchall(
                f"SELECT {bucket} AS bucket{coin_col}, reason, SUM(n) AS n FROM event_counts"
                f" {clause} GROUP BY {bucket}{coin_col}, reason",
                params,
            )
        )

    # Partial hours at the ends of the window: the events, through their time index.
    if hours is None:  # since and until within the same hour or two: no whole hour between
        edges = [(flt.since, flt.until)]
    else:
        edges = []
        if flt.since is not None and hours[0] is not None and flt.since[13:] != _HOUR_START:
            edges.append((flt.since, hours[0] + _HOUR_START))
        if flt.until is not None and flt.until[13:] != _HOUR_START:
            edges.append((flt.until[:13] + _HOUR_START, flt.until))
    bucket = f"SUBSTR(at, 1, {int(bucket_chars)})" if bucket_chars else "''"
    coin_expr = ", COALESCE(coin, '') AS coin" if by_coin else ""
    coin_group = ", COALESCE(coin, '')" if by_coin else ""
    for since, until in edges:
        edge = EventFilter(flt.head, flt.coin, flt.reason, since, until)
        where, params = edge.where()
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        parts.append(
            tx.fetchall(
                f"SELECT {bucket} AS bucket{coin_expr}, reason, COUNT(*) AS n FROM events"
                f" {clause} GROUP BY {bucket}{coin_group}, reason",
                params,
            )
        )
    return _merge(parts, keys)


def counts_by_head(tx: Tx) -> list[Row]:
    """All-time counts per (head, coin, reason), for metrics (from the maintained counts)."""
    rows = tx.fetchall(
        "SELECT head, coin, reason, SUM(n) AS n FROM event_counts GROUP BY head, coin, reason"
        " ORDER BY head, coin, reason"
    )
    return [{**row, "coin": row["coin"] or None} for row in rows if row["n"]]
