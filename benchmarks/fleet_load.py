"""Fill a PostgreSQL store with millions of fleet events by SQL, for the stats benchmark.

Sending ten million events through the API would take the better part of an
hour; the figure wanted is what reading them costs.  So the store is topped up
by ``INSERT ... SELECT generate_series``: events of ``heads`` heads spread
evenly over the ``days`` days before ``end``, with the coins, reasons and
details of the decision pool in its shares.  The load bypasses the rollup
triggers (``session_replication_role = replica``) and the secondary indexes
(dropped, then made again from their own definitions: a sorted build is many
times faster than ten million index insertions); the rollups are then rebuilt
from the events by ``calibration.repository.rollups.rebuild_rollups``, so the
store ends as the triggers would have left it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coinval.decision import Decision

#: Rows per INSERT statement (a progress line after each).
CHUNK_ROWS = 1_000_000
#: The events table and its rollups (vacuumed and analysed after the load).
_ROLLED = (
    "events",
    "event_counts",
    "event_counts_block",
    "event_counts_daily",
    "event_totals",
    "event_totals_block",
    "event_totals_daily",
    "fleet_counts",
    "fleet_counts_daily",
)
#: The mix table's slots: the pool's shares to the percent.
MIX_SLOTS = 100


@dataclass(frozen=True)
class Loaded:
    """What the load did."""

    before: int
    after: int
    insert_s: float
    index_s: float
    rollup_s: float


def mix_rows(pool: Sequence[Decision]) -> list[tuple[int, str | None, int, str, str | None]]:
    """``MIX_SLOTS`` (slot, coin, accepted, reason, detail) rows in the pool's shares."""
    kinds: Counter[tuple[str | None, bool, str]] = Counter(
        (d.coin, d.accepted, d.reason) for d in pool
    )
    detail: dict[tuple[str | None, bool, str], str | None] = {
        (d.coin, d.accepted, d.reason): d.detail for d in pool
    }
    slots: list[tuple[str | None, bool, str]] = []
    for kind, n in kinds.most_common():
        slots += [kind] * max(1, round(MIX_SLOTS * n / len(pool)))
    slots = (slots * 2)[:MIX_SLOTS]
    return [(k, c, int(a), r, detail[(c, a, r)]) for k, (c, a, r) in enumerate(slots)]


def load_events(
    url: str,
    target: int,
    pool: Sequence[Decision],
    *,
    heads: int,
    days: int,
    end: dt.datetime,
    say: Callable[[str], None],
) -> Loaded:
    """Top the store at ``url`` up to ``target`` events; what it did."""
    import psycopg

    from calibration.db import open_database
    from calibration.repository.rollups import rebuild_rollups

    with psycopg.connect(url, autocommit=True) as conn:
        before = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])  # type: ignore[index]
        need = target - before
        if need <= 0:
            return Loaded(before, before, 0.0, 0.0, 0.0)
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events'"
            " AND indexname <> 'events_pkey'"
        ).fetchall()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("SET session_replication_role = replica")  # no rollup trigger per row
        conn.execute(
            "CREATE TEMP TABLE mix (k INTEGER PRIMARY KEY, coin TEXT, accepted INTEGER,"
            " reason TEXT, detail TEXT)"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO mix VALUES (%s, %s, %s, %s, %s)", mix_rows(pool))
        start = end.astimezone(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)
        span_s = days * 86400.0
        began = time.perf_counter()
        done = 0
        while done < need:
            rows = min(CHUNK_ROWS, need - done)
            conn.execute(
                "INSERT INTO events (at, head, signature_id, coin, accepted, reason, detail,"
                " profile_id, source, signature, key_id, idempotency_key)"
                " SELECT to_char(%(start)s::timestamp + (g * %(step)s) * interval '1 second',"
                '   \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'),'
                " 'fleet-' || lpad((g %% %(heads)s)::text, 4, '0'),"
                " 'bulk-' || (g %% 997), mix.coin, mix.accepted, mix.reason, mix.detail,"
                " NULL, 'fleet', NULL, 'bulk-load', 'bulk:' || g"
                " FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g"
                # every head steps through every slot (g * 7919 alone gave each head
                # one kind of decision for ever: heads = 1000 divides 7919 * 1000)
                " JOIN mix ON mix.k = (g / %(heads)s * 7919 + g) %% %(slots)s",
                {
                    "start": start,
                    "step": span_s / need,
                    "heads": heads,
                    "first": done,
                    "last": done + rows - 1,
                    "slots": MIX_SLOTS,
                },
            )
            done += rows
            rate = done / max(1e-9, time.perf_counter() - began)
            say(f"bulk load: {before + done:,} of {target:,} events ({rate:,.0f} rows/s)")
        insert_s = time.perf_counter() - began
        conn.execute("RESET session_replication_role")
        began = time.perf_counter()
        for name, definition in indexes:
            conn.execute(definition)
            say(f"bulk load: index {name} made again ({time.perf_counter() - began:,.0f} s)")
        index_s = time.perf_counter() - began
        after = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])  # type: ignore[index]
    began = time.perf_counter()
    db = open_database(url)
    try:
        with db.transaction(write=True, bulk=True) as tx:
            counted = rebuild_rollups(tx)
    finally:
        db.close()
    with psycopg.connect(url, autocommit=True) as conn:
        # statistics for the planner and the visibility map for index-only scans
        for table in _ROLLED:
            conn.execute(f"VACUUM ANALYZE {table}")
    rollup_s = time.perf_counter() - began
    say(
        f"bulk load: rollups rebuilt ({counted.get('event_counts', 0):,} hourly rows,"
        f" {counted.get('event_counts_daily', 0):,} daily) in {rollup_s:,.0f} s"
    )
    return Loaded(before, after, insert_s, index_s, rollup_s)
