"""The live-event streams' bell: rung when new events may be in the store.

A stream (``GET /events/stream``) polls the store every ``COINVAL_SSE_POLL_S``;
between two polls it waits on this bell, so a ring makes it look at once.  The
bell is rung by this process after a route that records events, and by
:mod:`calibration.notify` when another process sharing a PostgreSQL store says
it wrote some.  The poll stays: events written by a process that rings no
bell (``coinval serve`` recording coins, a SQLite store) are seen within it.

:meth:`EventBell.close` ends every stream (the server is stopping): a stream
that waits forever would hold a graceful shutdown forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class EventBell:
    """Wakes the coroutines waiting in :meth:`wait`; rung from any thread."""

    def __init__(self) -> None:
        # Reentrant: close() may run in a signal handler, on the main thread,
        # while that thread holds the lock in wait() or ring().
        self._lock = threading.RLock()
        self._rings = 0
        self._closed = False
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def rings(self) -> int:
        """How many times it rang: read before a poll, passed to :meth:`wait` after it."""
        return self._rings

    @property
    def closed(self) -> bool:
        """Whether streams must end (the server is stopping)."""
        return self._closed

    def ring(self) -> None:
        """Wake every waiting stream (from any thread)."""
        with self._lock:
            self._rings += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)

    def close(self) -> None:
        """Wake every stream for good: they end."""
        self._closed = True
        self.ring()

    def open(self) -> None:
        """Let streams wait again (an app started again after a stop)."""
        self._closed = False

    async def wait(self, seen: int, timeout: float) -> None:
        """Return once the bell rang after ``seen`` rings, or after ``timeout`` seconds.

        Passing the count read before the poll loses no ring that came during it.
        """
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._rings != seen or self._closed:
                return
            self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            with self._lock:
                self._waiters.discard(waiter)
