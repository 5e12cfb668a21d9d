"""An operator's dashboards reading the central service while the fleet reports.

:class:`Reader` sends GETs open-loop at a fixed rate from a thread pool, each
request's latency counted from its *planned* send time, so a server falling
behind shows as queueing (coordinated omission is not hidden).  Each request
is kept as (planned time, route, latency or None for a failure), so windows
(steady state, the central service away) are cut afterwards.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import numpy as np


@dataclass(frozen=True)
class Read:
    """One GET: when it was planned, what, how long it took (None: it failed)."""

    planned: float
    route: str
    ms: float | None


class Reader:
    """GETs ``routes`` in turn at ``per_s`` a second until :meth:`stop`."""

    def __init__(
        self, url: str, headers: dict[str, str], routes: Sequence[str], per_s: float
    ) -> None:
        self.routes = list(routes)
        self.per_s = per_s
        self.reads: list[Read] = []
        self._client = httpx.Client(base_url=url, headers=headers, timeout=30.0)
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=16)
        self._thread = threading.Thread(target=self._plan, daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def _plan(self) -> None:
        begin = time.monotonic()
        n = 0
        while not self._stop.is_set():
            planned = begin + n / self.per_s
            pause = planned - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                break
            self._pool.submit(self._one, planned, self.routes[n % len(self.routes)])
            n += 1

    def _one(self, planned: float, route: str) -> None:
        ms: float | None
        try:
            reply = self._client.get(route)
            ms = (time.monotonic() - planned) * 1e3 if reply.status_code == 200 else None
        except httpx.HTTPError:
            ms = None
        with self._lock:
            self.reads.append(Read(planned, route, ms))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._pool.shutdown(wait=True)
        self._client.close()

    def window(self, start: float, end: float) -> list[Read]:
        """The reads planned in ``[start, end)``."""
        with self._lock:
            return [r for r in self.reads if start <= r.planned < end]


def latency(reads: Sequence[Read]) -> dict[str, float | int]:
    """p50/p95/p99/max in ms of the reads that answered, and how many failed."""
    ok = np.array([r.ms for r in reads if r.ms is not None], dtype=float)
    out: dict[str, float | int] = {"requests": len(reads), "failed": len(reads) - ok.size}
    if ok.size:
        for q in (50, 95, 99):
            out[f"p{q}_ms"] = float(np.percentile(ok, q))
        out["max_ms"] = float(ok.max())
    return out
