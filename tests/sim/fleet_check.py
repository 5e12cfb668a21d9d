"""What a simulated fleet decided (its outbox files) against what a central service stored.

The ground truth is on the acceptors' disks: each outbox file holds its
acceptor id, the last sequence number it ever gave (``Outbox.last_seq``: every
coin the acceptor kept, sent or not) and how many events it folded into
summaries.  The central store holds events keyed ``<acceptor-id>:<seq>`` and
summaries keyed ``<acceptor-id>:summary:<id>``.  Exactly once means: per
acceptor, the stored events' sequence numbers are distinct, lie in
1..last_seq, and with the summarised count make last_seq; nothing stored
under an acceptor id no outbox has.  Shared by the fleet test and benchmark.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutboxTruth:
    """One acceptor's outbox as it is on disk."""

    head: str
    acceptor_id: str
    last_seq: int
    summarised: int
    waiting: int


def outbox_truths(outbox_dir: Path) -> list[OutboxTruth]:
    """Every outbox file of ``outbox_dir``, read only (the fleet must not be running)."""
    out = []
    for path in sorted(outbox_dir.glob("fleet-*.db")):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            waiting = int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            waiting += int(db.execute("SELECT COALESCE(SUM(n), 0) FROM summaries").fetchone()[0])
        out.append(
            OutboxTruth(
                head=path.stem,
                acceptor_id=str(meta["acceptor_id"]),
                last_seq=0 if row is None else int(row[0]),
                summarised=int(meta.get("summarised", 0)),
                waiting=waiting,
            )
        )
    return out


@dataclass(frozen=True)
class Exactness:
    """The comparison: what was decided, stored, and every way the two differ."""

    decided: int
    stored_events: int
    stored_summarised: int
    problems: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return not self.problems


def compare(
    truths: Iterable[OutboxTruth],
    event_keys: Iterable[str],
    summary_rows: Iterable[tuple[str, int]],
) -> Exactness:
    """Check the central store's fleet event keys and summaries against the outboxes."""
    truths = list(truths)
    seqs: dict[str, list[int]] = defaultdict(list)
    stored = 0
    for key in event_keys:
        aid, _, seq = key.partition(":")
        seqs[aid].append(int(seq))
        stored += 1
    summarised: Counter[str] = Counter()
    for key, n in summary_rows:
        summarised[key.partition(":")[0]] += int(n)
    problems: list[str] = []
    known = {t.acceptor_id for t in truths}
    for aid in sorted((set(seqs) | set(summarised)) - known):
        problems.append(f"acceptor {aid}: stored, but no outbox has this id")
    for t in truths:
        mine = seqs.get(t.acceptor_id, [])
        twice = [s for s, n in Counter(mine).items() if n > 1]
        if twice:
            problems.append(f"{t.head}: sequence(s) stored twice: {sorted(twice)[:5]}")
        outside = [s for s in mine if not 1 <= s <= t.last_seq]
        if outside:
            problems.append(f"{t.head}: sequence(s) never given: {sorted(outside)[:5]}")
        if summarised[t.acceptor_id] != t.summarised:
            problems.append(
                f"{t.head}: {summarised[t.acceptor_id]} summarised stored, "
                f"{t.summarised} summarised by the outbox"
            )
        if t.waiting:
            problems.append(f"{t.head}: {t.waiting} event(s) still waiting in the outbox")
        if len(set(mine)) + t.summarised != t.last_seq:
            problems.append(
                f"{t.head}: {len(set(mine))} stored + {t.summarised} summarised"
                f" != {t.last_seq} decided"
            )
    return Exactness(
        decided=sum(t.last_seq for t in truths),
        stored_events=stored,
        stored_summarised=sum(summarised.values()),
        problems=tuple(problems),
    )


FLEET_KEYS_SQL = "SELECT idempotency_key FROM events WHERE idempotency_key IS NOT NULL"
FLEET_SUMMARIES_SQL = "SELECT idempotency_key, n FROM fleet_summaries"


def sqlite_store_rows(store: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """A SQLite central store's fleet event keys and summary rows."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        keys = [str(r[0]) for r in db.execute(FLEET_KEYS_SQL)]
        sums = [(str(r[0]), int(r[1])) for r in db.execute(FLEET_SUMMARIES_SQL)]
    return keys, sums


def postgres_store_rows(url: str) -> tuple[list[str], list[tuple[str, int]]]:
    """A PostgreSQL central store's fleet event keys and summary rows."""
    import psycopg

    with psycopg.connect(url) as conn:
        keys = [str(r[0]) for r in conn.execute(FLEET_KEYS_SQL)]
        sums = [(str(r[0]), int(r[1])) for r in conn.execute(FLEET_SUMMARIES_SQL)]
    return keys, sums
