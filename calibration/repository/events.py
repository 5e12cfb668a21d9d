"""Decision events: what the engine decided, when, on which head; and their counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from calibration.db import Row, Tx
from coinval.decision import Decision

_PUBLIC = (
    "id, at, head, signature_id, coin, accepted, reason, detail, profile_id, source, key_id,"
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
    key_id: str | None = None,
) -> int:
    """Record one decision; its event id. ``key_id``: the key (or actor) that sent it."""
    row = tx.fetchone(
        "INSERT INTO events (at, head, signature_id, coin, accepted, reason, detail, profile_id,"
        " source, signature, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
            key_id,
        ),
    )
    assert row is not None
    return int(row["id"])


def insert_decision(
    tx: Tx,
    decision: Decision,
    *,
    at: str,
    head: str,
    profile_id: int | None,
    source: str,
    signature: str | None,
    key_id: str | None = None,
) -> int:
    """Record one engine decision as an event; its event id."""
    return insert_event(
        tx,
        at=at,
        head=head,
        signature_id=decision.id,
        coin=decision.coin,
        accepted=decision.accepted,
        reason=decision.reason,
        detail=decision.detail,
        profile_id=profile_id,
        source=source,
        signature=signature,
        key_id=key_id,
    )


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


NO_BUCKET = "''"
"""The bucket column's value when counts are not cut in time."""

_ZERO = "0000-00-00T00:00:00.000000Z"
"""The store's time text; a unit's text (``2024-05-01T13``) plus the rest of this starts it."""


@dataclass(frozen=True)
class _Level:
    """Maintained counts per unit of time: per (head, unit, coin, reason) in ``table``,
    per (unit, coin, reason) over every head in ``fleet_table``."""

    table: str
    fleet_table: str
    unit: str  # the unit's column: the first ``chars`` characters of the time text
    chars: int
    step: dt.timedelta
    fmt: str

    def begins(self, unit: str) -> str:
        """The moment (time text) at which ``unit`` starts."""
        return unit + _ZERO[self.chars :]

    def _after(self, unit: str) -> str | None:
        try:
            return (dt.datetime.strptime(unit, self.fmt) + self.step).strftime(self.fmt)
        except (OverflowError, ValueError):
            return None

    def whole(self, since: str | None, until: str | None) -> tuple[str | None, str | None] | None:
        """The whole units inside ``[since, until)`` as ``[first, stop)`` unit texts
        (None: unbounded on that side), or None when no whole unit fits."""
        first: str | None = None
        if since is not None:
            unit = since[: self.chars]
            first = unit if since == self.begins(unit) else self._after(unit)
            if first is None:
                return None
        stop = until[: self.chars] if until is not None else None
        if first is not None and stop is not None and first >= stop:
            return None
        return first, stop


_DAYS = _Level(
    "event_counts_daily", "fleet_counts_daily", "day", 10, dt.timedelta(days=1), "%Y-%m-%d"
)
_HOURS = _Level("event_counts", "fleet_counts", "hour", 13, dt.timedelta(hours=1), "%Y-%m-%dT%H")


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


def _from_level(
    tx: Tx,
    level: _Level,
    flt: EventFilter,
    first: str | None,
    stop: str | None,
    *,
    bucket: int,
    by_coin: bool,
) -> list[Row]:
    """Counts of the whole units ``[first, stop)`` of a maintained table."""
    where: list[str] = []
    params: list[Any] = []
    for column, value, op in (
        ("head", flt.head, "="),
        ("coin", flt.coin, "="),
        ("reason", flt.reason, "="),
        (level.unit, first, ">="),
        (level.unit, stop, "<"),
    ):
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    coin = "coin" if by_coin else ""
    # no head asked: the fleet's own rollup, a few rows per unit instead of one per head
    table = level.table if flt.head is not None else level.fleet_table
    return _grouped(tx, table, level.unit, "SUM(n)", where, params, bucket=bucket, coin=coin)


def _from_events(
    tx: Tx, flt: EventFilter, since: str | None, until: str | None, *, bucket: int, by_coin: bool
) -> list[Row]:
    """Counts of the events themselves in ``[since, until)`` (through their time index)."""
    where, params = EventFilter(flt.head, flt.coin, flt.reason, since, until).where()
    coin = "COALESCE(coin, '')" if by_coin else ""
    return _grouped(tx, "events", "at", "COUNT(*)", where, params, bucket=bucket, coin=coin)


def _grouped(
    tx: Tx,
    table: str,
    time_column: str,
    count: str,
    where: list[str],
    params: list[Any],
    *,
    bucket: int,
    coin: str,
) -> list[Row]:
    # bucket: characters of the time text to group by, 0 for no time bucket;
    # coin: the coin expression, "" to leave coins out.
    cut = f"SUBSTR({time_column}, 1, {int(bucket)})" if bucket else ""
    groups = ", ".join(g for g in (cut, coin, "reason") if g)
    coin_col = f", {coin} AS coin" if coin else ""
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return tx.fetchall(
        f"SELECT {cut or NO_BUCKET} AS bucket{coin_col}, reason, {count} AS n FROM {table}"
        f" {clause} GROUP BY {groups}",
        params,
    )


def counts(
    tx: Tx, flt: EventFilter, *, bucket_chars: int | None = None, by_coin: bool = True
) -> list[Row]:
    """Event counts grouped by (bucket, coin, reason), in no order; rows with ``n`` > 0 only.

    ``bucket_chars`` cuts the stored UTC time text: 13 gives hours
    (``2024-05-01T13``), 10 days; None gives no time bucket (``bucket`` is '').
    ``by_coin=False`` leaves the coin out (fewer rows).  ``coin`` is None for
    decisions without one.

    The store keeps counts per (head, day, coin, reason) and per (head, hour,
    coin, reason), and the same over every head (read when no head is asked).
    A ``since``/``until`` window is read as whole days from the first, the
    whole hours around them from the second, and only the partial hours at its
    ends from the events themselves; hourly buckets skip the days.
    """
    if bucket_chars is not None and not 1 <= bucket_chars <= _HOURS.chars:
        raise ValueError("a bucket is at most an hour (13 characters of the time text)")
    bucket = bucket_chars or 0
    levels = [_HOURS] if bucket > _DAYS.chars else [_DAYS, _HOURS]
    keys = ("bucket", "coin", "reason") if by_coin else ("bucket", "reason")
    parts: list[list[Row]] = []
    _split(tx, flt, flt.since, flt.until, levels, parts, bucket=bucket, by_coin=by_coin)
    return _merge(parts, keys)


def _split(
    tx: Tx,
    flt: EventFilter,
    since: str | None,
    until: str | None,
    levels: list[_Level],
    parts: list[list[Row]],
    *,
    bucket: int,
    by_coin: bool,
) -> None:
    """Append to ``parts`` the counts of ``[since, until)``: whole units of the first
    level, the rest from the next levels, the events last."""
    if not levels:
        parts.append(_from_events(tx, flt, since, until, bucket=bucket, by_coin=by_coin))
        return
    level, finer = levels[0], levels[1:]
    whole = level.whole(since, until)
    if whole is None:
        _split(tx, flt, since, until, finer, parts, bucket=bucket, by_coin=by_coin)
        return
    first, stop = whole
    parts.append(_from_level(tx, level, flt, first, stop, bucket=bucket, by_coin=by_coin))
    if since is not None and first is not None and since != level.begins(first):
        _split(tx, flt, since, level.begins(first), finer, parts, bucket=bucket, by_coin=by_coin)
    if until is not None and stop is not None and until != level.begins(stop):
        _split(tx, flt, level.begins(stop), until, finer, parts, bucket=bucket, by_coin=by_coin)


def counts_by_head(tx: Tx) -> list[Row]:
    """All-time counts per (head, coin, reason), for metrics (from the maintained counts)."""
    rows = tx.fetchall(
        "SELECT head, coin, reason, SUM(n) AS n FROM event_counts_daily"
        " GROUP BY head, coin, reason ORDER BY head, coin, reason"
    )
    return [{**row, "coin": row["coin"] or None} for row in rows if row["n"]]
