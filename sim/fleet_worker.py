"""One process of the fleet simulator: many acceptors on one asyncio loop.

A worker owns a fixed block of the fleet's acceptors (their outbox files
included), decides coins for them at its share of the fleet's rate and sends
each acceptor's outbox every ``send_every_s`` on one shared
``httpx.AsyncClient``.  It talks to the supervisor (:mod:`sim.fleet`) over a
pipe: counters every second up, ``stop`` (drain, then exit) or ``halt``
(exit now) down.  It dies with the supervisor (Linux: ``PR_SET_PDEATHSIG``),
so a kill -9 of the whole simulator leaves no orphans sending on.

Coins arrive as a Poisson process: every tick a Poisson number of coins for
the time elapsed, each given to an acceptor drawn uniformly, which makes each
acceptor's own arrivals a Poisson process of rate ``coins_per_s / acceptors``.
Each coin's decision is drawn from the pool the real engine decided once
(:mod:`coinval_cli.sim_fleet`): the fleet simulator measures the central
service, not the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import os
import random
import signal
import sqlite3
import time
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from calibration.outbox import Outbox
from coinval.decision import Decision
from sim.fleet_acceptor import SimAcceptor, head_name

__all__ = ["WorkerSpec", "WorkerStats", "outbox_path", "worker_main"]

#: How often coins are drawn; shorter ticks cost CPU, longer ones bunch coins up.
TICK_S = 0.02
#: Counters go to the supervisor this often.
REPORT_EVERY_S = 1.0
#: The event loop's lateness is probed this often.
LAG_PROBE_S = 0.1
#: Connections one worker keeps to the central service.  Hundreds of acceptors
#: share them (a real fleet would hold one each); more would not make a single
#: service's writes, which take one lock, go faster, and httpcore checks every
#: pooled connection on each request (with 32, a quarter of the worker's CPU).
CONNECTIONS = 8
#: One send's limits.  A busy service gets a minute to answer: a send given up
#: on is sent again, and the service does the work twice (the second time to
#: find duplicates); a send waits for one of the worker's connections longer.
TIMEOUT = httpx.Timeout(60.0, connect=10.0, pool=300.0)
#: While draining, a failed send is tried again after at most this long.
DRAIN_RETRY_S = 0.5
#: After ``halt``, sends in flight get this long before they are cancelled.
HALT_GRACE_S = 0.5
#: Once the drain's time is up, sends in flight get this long to be answered.
DRAIN_GRACE_S = 5.0


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker runs: its acceptors, the central service, its rate, the pool."""

    number: int
    acceptors: tuple[int, ...]
    outbox_dir: str
    central: str
    key: str
    coins_per_s: float
    send_every_s: float
    model: str | None
    profile_version: int | None
    pool: tuple[Decision, ...]
    seed: int
    incarnation: int
    supervisor_pid: int


@dataclass
class WorkerStats:
    """A worker's counters: this incarnation's, and the state of its outboxes now.

    ``decided`` .. ``failed_sends`` count since the worker started (added up
    across restarts by the supervisor); ``waiting``, ``summarised`` and
    ``ever`` (the sum of the outboxes' last sequence numbers: every coin these
    acceptors ever kept) describe the outboxes as they are.
    """

    decided: int = 0
    delivered: int = 0
    duplicates: int = 0
    sends: int = 0
    failed_sends: int = 0
    not_kept: int = 0
    waiting: int = 0
    summarised: int = 0
    ever: int = 0
    last_error: str | None = None
    #: The longest the worker's event loop was late since its last report, in seconds:
    #: a loop held up (by its own work or a starved CPU) delays coins and sends alike.
    lag_s: float = 0.0

    ADDED = ("decided", "delivered", "duplicates", "sends", "failed_sends", "not_kept")

    def plus(self, other: WorkerStats) -> WorkerStats:
        """Both added up (the last error: ``other``'s if it has one)."""
        out = WorkerStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in _NUMBERS}
        )
        out.last_error = other.last_error or self.last_error
        out.lag_s = max(self.lag_s, other.lag_s)
        return out

    def carried(self) -> WorkerStats:
        """Only the counters that add up across a restart (the outboxes' state is the new one's)."""
        return WorkerStats(**{name: getattr(self, name) for name in self.ADDED})


_NUMBERS = tuple(f for f in fields(WorkerStats) if f.name not in ("last_error", "lag_s"))


def outbox_path(outbox_dir: str | Path, index: int) -> Path:
    """Acceptor ``index``'s outbox file in ``outbox_dir``."""
    return Path(outbox_dir) / f"{head_name(index)}.db"


def _die_with_parent(supervisor_pid: int) -> None:
    """Be killed when the supervisor dies, even by kill -9 (Linux); elsewhere, checked each tick."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != supervisor_pid:
        os._exit(0)  # already orphaned before the line above took effect


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process's entry point (``multiprocessing`` spawn target)."""
    _die_with_parent(spec.supervisor_pid)
    # Ctrl-C reaches the whole process group: the supervisor alone decides how we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        worker = _Worker(spec, conn)
    except (OSError, sqlite3.Error, ValueError) as exc:
        conn.send(("error", f"worker {spec.number}: cannot open its outboxes: {exc}"))
        return
    try:
        asyncio.run(worker.run())
        final = worker.stats()
    finally:
        worker.close()
    with contextlib.suppress(OSError):
        conn.send(("done", final))


class _Worker:
    def __init__(self, spec: WorkerSpec, conn: Connection) -> None:
        self.spec = spec
        self.conn = conn
        self.acceptors: list[SimAcceptor] = []
        for index in spec.acceptors:
            outbox = Outbox(outbox_path(spec.outbox_dir, index), durable=False, model=spec.model)
            outbox.profile_version = spec.profile_version
            self.acceptors.append(SimAcceptor(index, outbox))
        seed = [spec.seed, spec.number, spec.incarnation]
        self.rng = np.random.default_rng(seed)
        self.jitter = random.Random(str(seed))
        self.not_kept = 0
        self.last_error: str | None = None
        self.drain_until = 0.0
        self.lag_s = 0.0
        self.gate = asyncio.Semaphore(CONNECTIONS)

    def stats(self) -> WorkerStats:
        total = WorkerStats(not_kept=self.not_kept, last_error=self.last_error, lag_s=self.lag_s)
        for a in self.acceptors:
            total.decided += a.decided
            total.delivered += a.delivered
            total.duplicates += a.duplicates
            total.sends += a.sends
            total.failed_sends += a.failed_sends
            total.waiting += a.waiting()
            total.summarised += a.outbox.summarised
            total.ever += a.last_seq
        errors = [a for a in self.acceptors if a.last_error]
        if errors:
            total.last_error = max(errors, key=lambda a: a.failed_sends).last_error
        return total

    async def run(self) -> None:
        self.stopping = asyncio.Event()
        self.halted = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self._command)
        loop.add_signal_handler(signal.SIGTERM, self._stop, 5.0)
        self.conn.send(("ready", self.stats()))
        client = httpx.AsyncClient(
            base_url=self.spec.central,
            headers={"Authorization": f"Bearer {self.spec.key}"},
            timeout=TIMEOUT,
            limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
        )
        async with client:
            background = [
                asyncio.create_task(self._arrivals()),
                asyncio.create_task(self._report()),
                asyncio.create_task(self._watch_lag()),
            ]
            senders = [asyncio.create_task(self._sender(a, client)) for a in self.acceptors]
            await self.stopping.wait()
            background[0].cancel()
            ended: asyncio.Future[Any] = asyncio.gather(*senders, return_exceptions=True)
            halted: asyncio.Future[Any] = asyncio.create_task(self.halted.wait())
            left = self.drain_until - time.monotonic()
            await asyncio.wait(
                [ended, halted],
                timeout=max(0.0, left) + DRAIN_GRACE_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not ended.done():
                # Halted, or the drain's time is up: sends in flight get a moment, then
                # stop where they are (not acknowledged: sent again by the next run,
                # ignored by the central service).
                await asyncio.wait([ended], timeout=HALT_GRACE_S)
                for task in senders:
                    task.cancel()
                await asyncio.gather(*senders, return_exceptions=True)
            halted.cancel()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, halted, return_exceptions=True)
        loop.remove_reader(self.conn.fileno())

    def _command(self) -> None:
        try:
            message: Any = self.conn.recv()
        except (EOFError, OSError):
            # The supervisor is gone: stop at once (its successor sends what is left).
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            self._halt()
            return
        if message[0] == "stop":
            self._stop(float(message[1]))
        elif message[0] == "halt":
            self._halt()

    def _stop(self, drain_s: float) -> None:
        if not self.stopping.is_set():
            self.drain_until = time.monotonic() + drain_s
            self.stopping.set()

    def _halt(self) -> None:
        self.halted.set()
        self._stop(0.0)

    async def _arrivals(self) -> None:
        rate, pool, acceptors = self.spec.coins_per_s, self.spec.pool, self.acceptors
        if rate <= 0 or not acceptors:
            return
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            n = int(self.rng.poisson(rate * (now - last)))
            last = now
            if not n:
                continue
            at = dt.datetime.now(dt.UTC)
            who = self.rng.integers(len(acceptors), size=n).tolist()
            what = self.rng.integers(len(pool), size=n).tolist()
            for w, d in zip(who, what, strict=True):
                try:
                    acceptors[w].decide(pool[d], at)
                except sqlite3.Error as exc:
                    # Its disk full or failing: the coin is not reported, and that is counted.
                    self.not_kept += 1
                    self.last_error = f"outbox: {exc}"

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            self.conn.send(("stats", self.stats()))
            self.lag_s = 0.0

    async def _watch_lag(self) -> None:
        while True:
            began = time.monotonic()
            await asyncio.sleep(LAG_PROBE_S)
            self.lag_s = max(self.lag_s, time.monotonic() - began - LAG_PROBE_S)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``; a stop (before the drain) or a halt (during it) ends it early."""
        event = self.halted if self.stopping.is_set() else self.stopping
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, seconds))

    def _enough(self) -> bool:
        """No more sends: halted, or the drain's time is up."""
        return self.halted.is_set() or (
            self.stopping.is_set() and time.monotonic() >= self.drain_until
        )

    async def _sender(self, acceptor: SimAcceptor, client: httpx.AsyncClient) -> None:
        # A random phase: a fleet's acceptors do not send in step.
        await self._pause(self.jitter.uniform(0.0, self.spec.send_every_s))
        while not self.halted.is_set():
            draining = self.stopping.is_set()
            ok = await acceptor.send_waiting(client, self.gate, self._enough)
            if draining:
                left = self.drain_until - time.monotonic()
                if ok or left <= 0:
                    return
                await self._pause(min(left, DRAIN_RETRY_S))
            elif ok:
                await self._pause(self.spec.send_every_s)
            else:
                await self._pause(acceptor.backoff.next_wait(self.jitter))

    def close(self) -> None:
        for a in self.acceptors:
            with contextlib.suppress(sqlite3.Error):
                a.close()
