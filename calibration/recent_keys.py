"""Keys checked a moment ago, so that a read does not pay a store lookup and a
thread hand-off for its key.

Every request of a polling viewer presented the same key, and looking it up
(a hand-off to the thread pool, a transaction) cost a third of the request's
CPU.  Only keys that were found valid are kept, by their sha256, never the key
itself; a key revoked through this process is forgotten at once, one revoked
through another process sharing the store (``coinval serve``, another worker)
is refused within :data:`RECHECK_SECONDS`.  Changes never rely on this: the
store checks the key again in the transaction that writes the change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

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
        self._lock = threading.Lock()

    def get(self, digest: str) -> T | None:
        """The principal of ``digest`` if it was found valid less than ``ttl_s`` ago."""
        with self._lock:
            hit = self._known.get(digest)
            if hit is None:
                return None
            if hit[1] <= self._clock():
                del self._known[digest]
                return None
            return hit[0]

    def put(self, digest: str, principal: T) -> None:
        """Remember that ``digest`` is a valid key of ``principal``."""
        with self._lock:
            if len(self._known) >= MAX_KEYS:
                self._known.clear()
            self._known[digest] = (principal, self._clock() + self.ttl_s)

    def forget_all(self) -> None:
        """Forget every key: call after a key was revoked."""
        with self._lock:
            self._known.clear()
