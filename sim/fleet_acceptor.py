"""One simulated acceptor of the fleet: its own outbox file, and the sends of its batches.

Each acceptor keeps every coin it decides in a real :class:`~calibration.outbox.Outbox`
(its own SQLite file, as ``coinval serve --central`` does) and posts the
outbox's oldest batches to ``POST /api/v1/fleet/events`` on the fleet worker's
shared ``httpx.AsyncClient``.  A batch is acknowledged (removed) only after a
2xx answer; a kill -9 between the central service storing it and the
acknowledgement makes the next run send it again, and the central service
ignores it key by key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from calibration.outbox import Outbox
from coinval.decision import Decision

__all__ = ["Backoff", "SimAcceptor", "head_name"]

#: The fleet route, below the central service's base URL.
EVENTS_PATH = "/api/v1/fleet/events"
#: Items per POST: under the central service's default COINVAL_FLEET_MAX_EVENTS (1000).
BATCH_ITEMS = 500
_JSON = {"Content-Type": "application/json"}


def head_name(index: int) -> str:
    """The head of acceptor ``index``: ``fleet-0000``, ``fleet-0001``, ..."""
    return f"fleet-{index:04d}"


@dataclass
class Backoff:
    """Waits between failed sends: from ``first_s`` doubling to ``most_s``, jittered.

    The jitter (each wait drawn from its upper half) keeps a thousand acceptors
    whose central service came back from all retrying in the same instant.
    """

    first_s: float = 1.0
    most_s: float = 30.0
    failures: int = 0

    def next_wait(self, rng: random.Random) -> float:
        """Count one more failure; the seconds to wait before trying again."""
        self.failures += 1
        ceiling = min(self.most_s, self.first_s * 2 ** (self.failures - 1))
        return ceiling * rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        """A send went through."""
        self.failures = 0


class SimAcceptor:
    """A simulated acceptor: head ``fleet-NNNN``, its outbox, what it decided and delivered.

    Parameters
    ----------
    index : int
        Its number in the fleet (the head's name).
    outbox : Outbox
        Its own outbox file, already open.
    """

    def __init__(self, index: int, outbox: Outbox) -> None:
        self.index = index
        self.head = head_name(index)
        self.outbox = outbox
        self.decided = 0
        self.delivered = 0
        self.duplicates = 0
        self.sends = 0
        self.failed_sends = 0
        self.last_error: str | None = None
        self.backoff = Backoff()
        self.last_seq = outbox.last_seq()

    def decide(self, decision: Decision, at: dt.datetime) -> None:
        """Keep one decided coin in the outbox (on disk when this returns)."""
        key = self.outbox.add(decision, head=self.head, at=at)
        self.last_seq = int(key.rsplit(":", 1)[1])
        self.decided += 1

    async def send_waiting(
        self,
        client: httpx.AsyncClient,
        gate: asyncio.Semaphore,
        enough: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Send batches until the outbox is empty, a batch is not full or ``enough()``;
        False: a send failed.

        Each send first takes one of ``gate``'s places (as many as the client's
        connections), so the sends of hundreds of acceptors wait here rather
        than in the client's connection pool, whose bookkeeping grows with the
        square of its queue.  The outbox is read once a place is had, so coins
        decided meanwhile go in the batch, in order.
        """
        while not enough():
            async with gate:
                batch = self.outbox.next_batch(BATCH_ITEMS)
                if batch is None:
                    return True
                self.sends += 1
                try:
                    reply = await client.post(
                        EVENTS_PATH, content=orjson.dumps(batch.body), headers=_JSON
                    )
                except httpx.HTTPError as exc:
                    why = type(exc).__name__
                    return self._failed(f"{why}: {exc}" if str(exc) else why)
                if not reply.is_success:
                    return self._failed(f"HTTP {reply.status_code}: {reply.text[:200]}")
                self.outbox.acknowledge(batch)
            answer = reply.json()
            self.delivered += len(batch.body["events"]) + sum(
                int(s["count"]) for s in batch.body["summaries"]
            )
            self.duplicates += int(answer.get("duplicates", 0))
            self.backoff.reset()
            if batch.size < BATCH_ITEMS:
                return True
        return True

    def _failed(self, why: str) -> bool:
        self.failed_sends += 1
        self.last_error = why
        return False

    def waiting(self) -> int:
        """Events in the outbox not yet acknowledged (not counting summarised ones)."""
        return self.outbox.pending

    def close(self) -> None:
        """Close the outbox file."""
        self.outbox.close()
