"""This process among the others serving the same store: what they share besides it.

:class:`Peers` gathers, per app, the live streams' bell, the rate limits and,
on a PostgreSQL store, the side connections and the LISTEN/NOTIFY thread that
keep several processes (``coinval api --workers N``, ``coinval serve --api``
beside it) in step.  :func:`calibration.app.create_app` makes one and starts
and stops it with the app (its lifespan); an app never started (a
``TestClient`` used without ``with``) polls, and limits in memory.

Two small ASGI middlewares go with it: :class:`RingOnEvents` tells the peers
when a route recorded events, :class:`WorkerHeader` names the worker process
that answered (``X-Coinval-Worker``), so a client or a test can see requests
spread over the workers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calibration.bell import EventBell
from calibration.context import Context
from calibration.notify import Notifier
from calibration.pg_side import SideConnections
from calibration.rate_limits import Counter, MemoryCounter, PostgresCounter, RateLimits

log = logging.getLogger(__name__)

#: The response header naming the process that answered (with several workers).
WORKER_HEADER = b"x-coinval-worker"


@dataclass
class Peers:
    """The bell, the limits and, on PostgreSQL, the notifier of one app."""

    bell: EventBell
    limits: RateLimits
    side: SideConnections | None = None
    notifier: Notifier | None = None
    _started: bool = field(default=False, repr=False)

    @classmethod
    def of(cls, context: Context) -> Peers:
        """The peers of an app over ``context``'s store (nothing is opened yet)."""
        settings = context.settings
        bell = EventBell()
        url = getattr(context.db, "url", None)
        side = None
        notifier = None
        counter: Counter = MemoryCounter()
        if getattr(context.db, "dialect", "sqlite") == "postgresql" and isinstance(url, str):
            side = SideConnections(url)
            notifier = Notifier(url, side, bell, lambda: context.recent_keys)
            if settings.workers > 1:
                # Counts of one process would let N workers take N times the limit.
                counter = PostgresCounter(side)
        limits = RateLimits(
            counter,
            auth_failures_per_min=settings.auth_failures_per_min,
            key_requests_per_s=settings.key_requests_per_s,
            workers=settings.workers,
        )
        return cls(bell, limits, side, notifier)

    def start(self) -> None:
        """Make the shared counters' table, start listening (blocking I/O: off the loop)."""
        if self._started:
            return
        self._started = True
        self.bell.open()
        if self.side is not None:
            self.side.reopen()
        counter = self.limits.counter
        if isinstance(counter, PostgresCounter):
            try:
                counter.prepare()
            except Exception as exc:  # the limits let requests through until it is there
                log.warning("cannot make the rate counters' table: %s", exc)
        if self.notifier is not None:
            self.notifier.start()

    def stop(self) -> None:
        """End the streams, stop listening, close the side connections."""
        self.bell.close()
        if self.notifier is not None:
            self.notifier.stop()
        if self.side is not None:
            self.side.close()
        self._started = False

    def events_written(self) -> None:
        """New events are in the store: wake the streams here and, if listening, elsewhere."""
        if self.notifier is not None and self._started:
            self.notifier.events_written()
        else:
            self.bell.ring()


class RingOnEvents:
    """ASGI middleware: after a route of ``writers`` answered 2xx, :meth:`Peers.events_written`.

    ``writers`` are endpoints (as :class:`calibration.guard.AuthFirst` leaves
    them in the scope) of the routes that record events.  The ring comes once
    the response is sent: what the route wrote is committed by then.
    """

    def __init__(self, app: ASGIApp, peers: Peers, writers: Collection[object]) -> None:
        self.app = app
        self.peers = peers
        self.writers = writers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        status = 0

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, tracked)
        if 200 <= status < 300 and scope.get("endpoint") in self.writers:
            self.peers.events_written()


class WorkerHeader:
    """ASGI middleware: every response says which process answered (``X-Coinval-Worker``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.value = str(os.getpid()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (WORKER_HEADER, self.value)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, named)
