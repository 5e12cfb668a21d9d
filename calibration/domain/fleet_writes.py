"""Fleet batches written together: the batches that arrive while one is being
written share the next transaction (a group commit).

Writes to the store are serialised (one lock, PostgreSQL's held to the end of
the commit), so every transaction costs a lock hold, a commit flushed to disk
and one run of the rollup triggers whatever its size.  A thousand acceptors
sending every five seconds make two hundred small batches a second; written one
transaction each they kept the lock busy all the time (about 5 ms a batch) and
the fleet's backlog grew.  Written in groups the cost is shared: a batch waits
at most for the group being written, then goes in the next one with whatever
else has arrived.

Each batch keeps its own outcome (its new events, summaries and duplicates,
its own audit entry naming its sender), as if written alone.  A group the store
refuses as busy fails every batch in it (503: each acceptor sends again); any
other failure of a group is retried batch by batch, so one batch's fault
fails that batch only.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from calibration.domain.fleet_items import FleetAcceptor, FleetEvent, FleetSummary, Item
from calibration.errors import StoreBusyError
from calibration.repository import audit
from calibration.repository import fleet as fleet_repo
from calibration.repository import fleet_heads as fleet_heads_repo

if TYPE_CHECKING:
    from calibration.context import Context
    from calibration.db import Database, Tx


@dataclass
class Part:
    """One request's chunk of checked items (each with its stored times), to be written.

    ``acceptor`` with ``heads``: record those heads as seen by it.
    """

    chunk: Sequence[tuple[Item, tuple[str, ...]]]
    actor: str
    acceptor: FleetAcceptor | None = None
    heads: Sequence[str] = ()
    #: (seconds the group held the lock, new events, new summaries) once written.
    result: tuple[float, int, int] | None = None
    error: BaseException | None = field(default=None, repr=False)
    done: bool = False


class GroupWriter:
    """Writes the parts handed to it by many threads, those waiting together in one
    transaction of at most ``most_rows`` items (a part is never split)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Part] = deque()
        self._writing = False

    def write(self, ctx: Context, part: Part) -> tuple[float, int, int]:
        """Write ``part`` (with whatever else waits); its result, or its error raised."""
        most = ctx.settings.write_batch_rows
        with self._cond:
            self._queue.append(part)
            while True:
                while self._writing and not part.done:
                    self._cond.wait()
                if part.done:
                    break
                # no one is writing and ours waits: write the next group (ours is
                # in it or in a later one; the loop goes round until it is done)
                self._writing = True
                group = self._take(most)
                self._cond.release()
                try:
                    _write_parts(ctx, group)
                finally:
                    self._cond.acquire()
                    self._writing = False
                    self._cond.notify_all()
        if part.error is not None:
            raise part.error
        assert part.result is not None
        return part.result

    def _take(self, most: int) -> list[Part]:
        group = [self._queue.popleft()]
        rows = len(group[0].chunk)
        while self._queue and rows + len(self._queue[0].chunk) <= most:
            rows += len(self._queue[0].chunk)
            group.append(self._queue.popleft())
        return group


_WRITERS: weakref.WeakKeyDictionary[Database, GroupWriter] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def group_writer(db: Database) -> GroupWriter:
    """The one group writer of the store ``db`` in this process."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(db)
        if writer is None:
            writer = _WRITERS[db] = GroupWriter()
        return writer


def _write_parts(ctx: Context, group: list[Part]) -> None:
    """Write ``group`` in one transaction, or (a failure not of a busy store) each part
    alone; every part ends done, with its result or its error."""
    try:
        results = _write_group(ctx, group)
    except StoreBusyError as exc:
        for part in group:
            part.error, part.done = exc, True
    except Exception as exc:
        if len(group) == 1:
            group[0].error, group[0].done = exc, True
        else:
            for part in group:  # find the part at fault: each alone
                _write_parts(ctx, [part])
    except BaseException as exc:  # the thread is being stopped: every waiter hears it
        for part in group:
            part.error, part.done = exc, True
        raise
    else:
        for part, result in zip(group, results, strict=True):
            part.result, part.done = result, True


def _write_group(ctx: Context, group: list[Part]) -> list[tuple[float, int, int]]:
    """One write transaction for every part of ``group``; each part's (seconds the
    transaction held the lock, new events, new summaries)."""
    received = ctx.now()
    with ctx.db.transaction(write=True, bulk=True) as tx:
        begun = time.perf_counter()
        for part in group:
            if part.acceptor is not None:
                fleet_heads_repo.seen(
                    tx,
                    part.heads,
                    acceptor_id=part.acceptor.id,
                    model=part.acceptor.model,
                    running_version=part.acceptor.profile_version,
                    now=received,
                )
        # every part's events in one statement: the rollups are counted once for all
        stored = fleet_repo.insert_events(
            tx,
            [
                (
                    stamps[0],
                    item.head,
                    item.signature_id,
                    item.coin,
                    int(item.accepted),
                    item.reason,
                    item.detail,
                    part.actor,
                    item.key,
                )
                for part in group
                for item, stamps in part.chunk
                if isinstance(item, FleetEvent)
            ],
        )
        id_of = {key: event_id for event_id, key in stored}
        counted: list[tuple[int, int]] = []
        for part in group:
            ids: list[int] = []
            for item, _ in part.chunk:
                # a key sent in two parts at once is new in the first only
                if isinstance(item, FleetEvent) and item.key in id_of:
                    ids.append(id_of.pop(item.key))
            new_summaries = sum(
                1
                for item, stamps in part.chunk
                if isinstance(item, FleetSummary)
                and _insert_summary(tx, item, stamps, received, part.actor)
            )
            _audit(tx, part, received, sorted(ids), new_summaries)
            counted.append((len(ids), new_summaries))
    held = time.perf_counter() - begun
    return [(held, new_events, new_summaries) for new_events, new_summaries in counted]


def _insert_summary(
    tx: Tx, item: FleetSummary, stamps: tuple[str, ...], received: str, actor: str
) -> bool:
    return (
        fleet_repo.insert_summary(
            tx,
            key=item.key,
            head=item.head,
            coin=item.coin,
            reason=item.reason,
            n=item.count,
            first_at=stamps[0],
            last_at=stamps[1],
            received_at=received,
            key_id=actor,
        )
        is not None
    )


def _audit(tx: Tx, part: Part, received: str, ids: list[int], new_summaries: int) -> None:
    """The part's own ``fleet.events`` entry, as if it had been written alone."""
    seen: dict[str, Any] = {}
    if part.acceptor is not None:
        seen = {
            "acceptor": {
                "id": part.acceptor.id,
                "model": part.acceptor.model,
                "profile_version": part.acceptor.profile_version,
                "heads": list(part.heads),
            }
        }
    new = len(ids) + new_summaries
    audit.append(
        tx,
        at=received,
        key_id=part.actor,
        action="fleet.events",
        target="fleet",
        after={
            "items": len(part.chunk),
            "new_events": len(ids),
            "new_summaries": new_summaries,
            "duplicates": len(part.chunk) - new,
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
            **seen,
        },
    )
