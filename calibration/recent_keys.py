"""Keys checked a moment ago, so that a read does not pay a store lookup and a
thread hand-off for its key.

Every request of a polling viewer presented the same key, and looking it up
(a hand-off to the thread pool, a transaction) cost a third of the request's
CPU.  Only keys that were found valid are kept, by their sha256, never the key
itself; a key revoked through this process is forgotten at once.  One revoked
through another process sharing the store is forgotten at once too when the
store is PostgreSQL and the processes hear each other (:mod:`calibration.notify`
hooks :meth:`RecentKeys.forget_all`), else within :data:`RECHECK_SECONDS`
(SQLite: ``coinval serve`` beside ``coinval api``).  Changes never rely on
this: the store checks the key again in the transaction that writes the change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

#: How long a valid key is taken without asking the store again.
RECHECK_SECONDS = 1.0
#: The most keys remembered; past it the memory is cleared (keys are few).
MAX_KEYS = 1024


class RecentKeys(Generic[T]):
    """Principals of recently checked keys, by key digest, each for ``ttl_s`` seconds."""

    def __init__(
        self, ttl_s: float = RECHECK_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._known: dict[str, tuple[T, float]] = {}
        self._lock = threading.RLock()
        # Bumped by every forget: a lookup that began before a revoke must not
        # put back what it read (see put).
        self._generation = 0
        self._missed_at = threading.local()
        self._on_forget: list[Callable[[], object]] = []

    def get(self, digest: str) -> T | None:
        """The principal of ``digest`` if it was found valid less than ``ttl_s`` ago."""
        with self._lock:
            hit = self._known.get(digest)
            if hit is not None and hit[1] <= self._clock():
                del self._known[digest]
                hit = None
            if hit is None:
                # A store lookup follows a miss, in this thread: remember when it began.
                self._missed_at.generation = self._generation
                return None
            return hit[0]

    def put(self, digest: str, principal: T) -> None:
        """Remember that ``digest`` is a valid key of ``principal``.

        Not kept when keys were forgotten since this thread's last miss: the
        store may have been read before a revoke that committed meanwhile, and
        keeping its answer would let a revoked key through for ``ttl_s``.
        """
        with self._lock:
            began = getattr(self._missed_at, "generation", None)
            self._missed_at.generation = None
            if began is not None and began != self._generation:
                return
            if len(self._known) >= MAX_KEYS:
                self._known.clear()
            self._known[digest] = (principal, self._clock() + self.ttl_s)

    def forget_here(self) -> None:
        """Forget every key in this process only (another process revoked one)."""
        with self._lock:
            self._known.clear()
            self._generation += 1

    def forget_all(self) -> None:
        """Forget every key, here and, through the hooks, in every process that listens.

        Call after a key was revoked; returns once the hooks have run (a hook
        may wait until the other processes have forgotten theirs).
        """
        self.forget_here()
        with self._lock:
            hooks = list(self._on_forget)
        for hook in hooks:
            try:
                hook()
            except Exception:  # the revoke is committed; others still recheck within ttl_s
                log.exception("could not tell the other processes of a revoked key")

    def on_forget(self, hook: Callable[[], object]) -> Callable[[], None]:
        """Call ``hook()`` after each :meth:`forget_all`; returns the function that removes it."""
        with self._lock:
            self._on_forget.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._on_forget:
                    self._on_forget.remove(hook)

        return remove
