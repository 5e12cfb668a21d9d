"""Fleet windows read from the rollups (days, 4-hour blocks, hours): the same figures
as counting the events themselves, on both stores, whatever the window."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.db import Database, format_time, open_database
from calibration.repository import fleet as fleet_repo
from calibration.repository import rollups
from tests.calibration.live_events import insert_live

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
HEADS = ("A", "B", "C")
KINDS = (
    ("gb-100-2017", "accepted"),
    ("gb-100-2017", "inhibited"),
    ("gb-050-1997", "accepted"),
    (None, "counterfeit"),
    (None, "unknown"),
)


def _fill(db: Database) -> None:
    """Events over eleven days on three heads, written both ways (row by row, and a
    fleet batch in one statement), then some moved and some deleted."""
    rng = random.Random(7)
    rows: list[tuple[object, ...]] = []
    with db.transaction(write=True) as tx:
        for i in range(900):
            at = T0 + dt.timedelta(seconds=rng.uniform(0, 11 * 86400))
            head = rng.choice(HEADS)
            coin, reason = rng.choice(KINDS)
            if i % 2:
                ok = int(reason == "accepted")
                rows.append((format_time(at), head, None, coin, ok, reason, None, "k", f"a:{i}"))
                continue
            insert_live(tx, at, head, coin, reason)
        fleet_repo.insert_events(tx, rows)
        tx.execute("UPDATE events SET at = ?, head = 'C' WHERE id % 17 = 0", (format_time(T0),))
        tx.execute("UPDATE events SET reason = 'unknown', coin = NULL WHERE id % 13 = 0")
        tx.execute("DELETE FROM events WHERE id % 11 = 0")


def _events(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as tx:
        return tx.fetchall("SELECT head, at, coin, reason FROM events")


def test_windows_equal_counting_the_events(store_target: str) -> None:
    db = open_database(store_target)
    _fill(db)
    stored = _events(db)

    @settings(max_examples=80, deadline=None)
    @given(
        start=st.integers(min_value=-30, max_value=290),
        hours=st.integers(min_value=1, max_value=300),
    )
    def check(start: int, hours: int) -> None:
        since = T0 + dt.timedelta(hours=start)
        until = since + dt.timedelta(hours=hours)
        inside = [e for e in stored if format_time(since) <= e["at"] < format_time(until)]
        counts = Counter((e["head"], e["coin"] or "", e["reason"]) for e in inside)
        totals: Counter[str] = Counter(e["head"] for e in inside)
        refused: Counter[str] = Counter(e["head"] for e in inside if e["reason"] != "accepted")
        coins: Counter[tuple[str, str]] = Counter((e["head"], e["coin"] or "") for e in inside)
        accepted: Counter[tuple[str, str]] = Counter(
            (e["head"], e["coin"] or "") for e in inside if e["reason"] == "accepted"
        )
        with db.transaction() as tx:
            assert rollups.window_counts(tx, since, until) == dict(counts)
            assert rollups.window_counts(tx, since, until, refusals_only=True) == {
                k: n for k, n in counts.items() if k[2] != "accepted"
            }
            assert rollups.window_counts(tx, since, until, heads=["A", "C"]) == {
                k: n for k, n in counts.items() if k[0] in ("A", "C")
            }
            assert rollups.window_totals(tx, since, until) == {
                head: (n, refused[head]) for head, n in totals.items()
            }
            assert rollups.window_coin_tallies(tx, since, until, ["B", "C", "Z"]) == {
                key: (n, accepted[key]) for key, n in coins.items() if key[0] in ("B", "C")
            }

    check()
    # a load that bypassed the triggers is made right again by a rebuild
    with db.transaction(write=True) as tx:
        tx.execute("DELETE FROM event_counts_block WHERE head = 'A'")
        tx.execute("UPDATE event_totals_block SET refused = 0")
        rollups.rebuild_rollups(tx)
    check()
