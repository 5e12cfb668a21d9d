"""An operator's dashboards reading the central service while the fleet reports.

:class:`Reader` sends GETs open-loop at a fixed rate, each at its planned
moment whatever the ones before it are doing (an asyncio task each, on a loop
of its own thread, up to ``MAX_IN_FLIGHT`` at once), and counts each
request's latency from its *planned* send time.  So a slow server shows as
latency, not as fewer requests, and the reader's own limits do not add a
queue of their own (a thread pool did: at a second a request its 16 threads
fell behind 20 a second, and the wait in its queue was counted too).  Each
request is kept as (planned time, route, latency or None, status), so windows
(steady state, the central service away) are cut afterwards.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import numpy as np

#: GETs waiting for an answer at most; a plan past it is counted as failed ("reader full").
MAX_IN_FLIGHT = 400
#: A GET not answered in this long has failed.
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Read:
    """One GET: when it was planned, what, how long it took (None: it failed), and why."""

    planned: float
    route: str
    ms: float | None
    outcome: str


class Reader:
    """GETs ``routes`` in turn at ``per_s`` a second until :meth:`stop`."""

    def __init__(
        self, url: str, headers: dict[str, str], routes: Sequence[str], per_s: float
    ) -> None:
        self.url, self.headers = url, headers
        self.routes = list(routes)
        self.per_s = per_s
        self.reads: list[Read] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        self._loop.run_until_complete(self._plan())

    async def _plan(self) -> None:
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=TIMEOUT_S, limits=limits
        ) as client:
            tasks: set[asyncio.Task[None]] = set()
            begin = time.monotonic()
            n = 0
            while not self._stopping:
                planned = begin + n / self.per_s
                await asyncio.sleep(max(0.0, planned - time.monotonic()))
                route = self.routes[n % len(self.routes)]
                n += 1
                if len(tasks) >= MAX_IN_FLIGHT:
                    self._keep(Read(planned, route, None, "reader full"))
                    continue
                task = asyncio.create_task(self._one(client, planned, route))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(tasks, timeout=TIMEOUT_S + 5)

    async def _one(self, client: httpx.AsyncClient, planned: float, route: str) -> None:
        try:
            reply = await client.get(route)
        except httpx.HTTPError as exc:
            self._keep(Read(planned, route, None, type(exc).__name__))
            return
        ms = (time.monotonic() - planned) * 1e3
        if reply.status_code == 200:
            self._keep(Read(planned, route, ms, "200"))
        else:
            self._keep(Read(planned, route, None, f"HTTP {reply.status_code}"))

    def _keep(self, read: Read) -> None:
        with self._lock:
            self.reads.append(read)

    def stop(self) -> None:
        self._stopping = True
        self._thread.join(TIMEOUT_S + 15)

    def window(self, start: float, end: float) -> list[Read]:
        """The reads planned in ``[start, end)``."""
        with self._lock:
            return [r for r in self.reads if start <= r.planned < end]


def latency(reads: Sequence[Read]) -> dict[str, object]:
    """p50/p95/p99/max in ms of the reads that answered 200, how many failed and why.

    A failure has no latency; ``failed_share`` says how much of the p99 to believe
    (over 1 %, the p99 of the answered ones flatters the server).
    """
    ok = np.array([r.ms for r in reads if r.ms is not None], dtype=float)
    failed = len(reads) - ok.size
    out: dict[str, object] = {
        "requests": len(reads),
        "failed": failed,
        "failed_share": failed / len(reads) if reads else 0.0,
        "why_failed": dict(Counter(r.outcome for r in reads if r.ms is None).most_common(4)),
    }
    if ok.size:
        for q in (50, 95, 99):
            out[f"p{q}_ms"] = float(np.percentile(ok, q))
        out["max_ms"] = float(ok.max())
    return out
