"""The fleet simulator: many acceptors reporting to one central service, in few processes.

:func:`run_fleet` starts ``processes`` workers (:mod:`sim.fleet_worker`), each
running a contiguous block of the fleet's acceptors on one asyncio loop, and
supervises them: their counters become one progress line every few seconds, a
worker that dies (a kill -9, say) is started again on the same outbox files,
and a stop is a drain (each acceptor sends what it holds, for at most
``drain_s``) before the workers exit.  Outboxes are kept in ``outbox_dir``
across runs, so a fleet started again sends what a killed one had kept.

The acceptors' decisions are drawn from a pool the caller made with the real
engine (:mod:`coinval_cli.sim_fleet`): the simulator loads the central
service, it does not measure the engine.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from coinval.decision import Decision
from sim.fleet_acceptor import head_name
from sim.fleet_worker import WorkerSpec, WorkerStats, worker_main

__all__ = ["FleetConfig", "FleetError", "FleetResult", "describe", "run_fleet"]

log = logging.getLogger("sim.fleet")

#: A worker that dies this soon after its start, twice running, is not started again.
EARLY_DEATH_S = 5.0
#: How long a worker may take to open its outboxes and say it is ready.
START_TIMEOUT_S = 120.0
#: After the drain, how long a worker gets to close its files and exit.
EXIT_GRACE_S = 30.0
#: A worker's event loop this late is said in the progress line: then the sim, not
#: the central service, may be what holds the figures back.
LATE_S = 0.5


class FleetError(Exception):
    """The fleet cannot run (a worker cannot start, or keeps dying); the message says why."""


@dataclass(frozen=True)
class FleetConfig:
    """What :func:`run_fleet` runs."""

    acceptors: int
    coins_per_s: float
    central: str
    key: str
    outbox_dir: Path
    processes: int
    send_every_s: float
    drain_s: float
    duration_s: float | None = None
    model: str | None = None
    profile_version: int | None = None
    seed: int = 0
    progress_every_s: float = 5.0


@dataclass
class FleetResult:
    """What a run did: its counters, how long it ran, how often a worker was restarted."""

    stats: WorkerStats
    seconds: float
    restarts: int
    halted: bool


@dataclass
class _Slot:
    """One worker: its acceptors, its process now, what earlier incarnations counted."""

    number: int
    acceptors: tuple[int, ...]
    process: BaseProcess | None = None
    conn: Connection | None = None
    incarnation: int = 0
    started: float = 0.0
    early_deaths: int = 0
    ready: bool = False
    done: bool = False
    stats: WorkerStats = field(default_factory=WorkerStats)
    carried: WorkerStats = field(default_factory=WorkerStats)

    def total(self) -> WorkerStats:
        return self.carried.plus(self.stats)

    def label(self) -> str:
        first, last = head_name(self.acceptors[0]), head_name(self.acceptors[-1])
        return first if first == last else f"{first}..{last}"


def blocks(n: int, parts: int) -> list[tuple[int, ...]]:
    """``range(n)`` in ``parts`` contiguous blocks of sizes differing by at most one."""
    size, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        out.append(tuple(range(start, stop)))
        start = stop
    return [b for b in out if b]


def describe(stats: WorkerStats, seconds: float, rate: float | None = None) -> str:
    """One progress line: decided, delivered, waiting, central errors."""
    per_s = f" ({rate:,.0f}/s)" if rate is not None else ""
    line = (
        f"fleet {seconds:,.0f} s: decided {stats.decided:,}{per_s}, "
        f"delivered {stats.delivered:,}, waiting {stats.waiting:,}"
    )
    if stats.summarised:
        line += f", summarised {stats.summarised:,}"
    if stats.duplicates:
        line += f", duplicates ignored {stats.duplicates:,}"
    line += f", central errors {stats.failed_sends:,}"
    if stats.failed_sends and stats.last_error:
        line += f" (last: {stats.last_error})"
    if stats.not_kept:
        line += f", NOT kept {stats.not_kept:,}"
    if stats.lag_s >= LATE_S:
        line += f"; the sim itself ran {stats.lag_s:.1f} s late"
    return line


class _Supervisor:
    def __init__(self, config: FleetConfig, pool: Sequence[Decision]) -> None:
        self.config = config
        self.pool = tuple(pool)
        self.context = multiprocessing.get_context("spawn")
        processes = max(1, min(config.processes, config.acceptors))
        self.slots = [_Slot(i, b) for i, b in enumerate(blocks(config.acceptors, processes))]
        self.restarts = 0
        #: The latest any worker's loop ran since the last progress line.
        self.lag_peak = 0.0

    def _start(self, slot: _Slot) -> None:
        config = self.config
        share = config.coins_per_s * len(slot.acceptors) / config.acceptors
        spec = WorkerSpec(
            number=slot.number,
            acceptors=slot.acceptors,
            outbox_dir=str(config.outbox_dir),
            central=config.central,
            key=config.key,
            coins_per_s=share,
            send_every_s=config.send_every_s,
            model=config.model,
            profile_version=config.profile_version,
            pool=self.pool,
            seed=config.seed,
            incarnation=slot.incarnation,
            supervisor_pid=os.getpid(),
        )
        ours, theirs = self.context.Pipe()
        process = self.context.Process(
            target=worker_main, args=(spec, theirs), name=f"coinval-fleet-{slot.number}"
        )
        process.start()
        theirs.close()
        slot.process, slot.conn = process, ours
        slot.started, slot.ready, slot.done = time.monotonic(), False, False
        slot.stats = WorkerStats()

    def _receive(self, slot: _Slot) -> None:
        assert slot.conn is not None
        try:
            while slot.conn.poll():
                kind, body = slot.conn.recv()
                if kind == "error":
                    raise FleetError(str(body))
                slot.stats = body
                self.lag_peak = max(self.lag_peak, body.lag_s)
                if kind == "ready":
                    slot.ready = True
                    log.info(
                        "worker %d (pid %s): %d acceptor(s) %s, %.6g coins/s, "
                        "%d event(s) waiting from before",
                        slot.number,
                        slot.process.pid if slot.process else "?",
                        len(slot.acceptors),
                        slot.label(),
                        self.config.coins_per_s * len(slot.acceptors) / self.config.acceptors,
                        body.waiting,
                    )
                elif kind == "done":
                    slot.done = True
        except (EOFError, OSError):
            pass  # the worker is gone; _check_alive sees how

    def _check_alive(self, slot: _Slot, stopping: bool) -> None:
        process = slot.process
        if process is None or slot.done or process.exitcode is None:
            return
        code = process.exitcode
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        if stopping:
            log.warning(
                "worker %d (%s) died while stopping (%s): its outboxes keep what it held",
                slot.number,
                slot.label(),
                how,
            )
            slot.done = True
            return
        lived = time.monotonic() - slot.started
        slot.early_deaths = slot.early_deaths + 1 if lived < EARLY_DEATH_S else 0
        if slot.early_deaths >= 2:
            raise FleetError(
                f"worker {slot.number} died twice within {EARLY_DEATH_S:g} s of starting ({how})"
            )
        log.warning(
            "worker %d (pid %s, %s) died (%s): starting it again on its outboxes",
            slot.number,
            process.pid,
            slot.label(),
            how,
        )
        slot.carried = slot.total().carried()
        slot.incarnation += 1
        self.restarts += 1
        self._start(slot)

    def _send(self, slot: _Slot, message: tuple[Any, ...]) -> None:
        if slot.conn is not None and not slot.done:
            with contextlib.suppress(OSError):  # gone: _check_alive says how
                slot.conn.send(message)

    def total(self) -> WorkerStats:
        out = WorkerStats()
        for slot in self.slots:
            out = out.plus(slot.total())
        return out

    def run(
        self, stop: threading.Event, halt: threading.Event, progress: Callable[[str], None]
    ) -> FleetResult:
        for slot in self.slots:
            self._start(slot)
        try:
            self._wait_ready()
            return self._supervise(time.monotonic(), stop, halt, progress)
        finally:
            self._reap()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(s.ready for s in self.slots):
            if time.monotonic() > deadline:
                raise FleetError(f"the workers did not start within {START_TIMEOUT_S:g} s")
            self._poll(0.2)
            for slot in self.slots:
                process = slot.process
                if not slot.ready and process is not None and process.exitcode is not None:
                    raise FleetError(
                        f"worker {slot.number} exited while starting (status {process.exitcode})"
                    )

    def _poll(self, timeout: float) -> None:
        conns = [s.conn for s in self.slots if s.conn is not None and not s.done]
        # Only the running ones: an exited worker's sentinel stays ready and would spin this.
        sentinels = [s.process.sentinel for s in self.slots if s.process is not None and not s.done]
        if not conns:
            time.sleep(timeout)
            return
        wait([*conns, *sentinels], timeout=timeout)
        for slot in self.slots:
            if slot.conn is not None:
                self._receive(slot)

    def _supervise(
        self,
        began: float,
        stop: threading.Event,
        halt: threading.Event,
        progress: Callable[[str], None],
    ) -> FleetResult:
        config = self.config
        stopping = halted = False
        stopped_at = 0.0
        next_line = began + config.progress_every_s
        last_decided, last_time = 0, began
        while not all(s.done for s in self.slots):
            self._poll(0.2)
            now = time.monotonic()
            for slot in self.slots:
                self._check_alive(slot, stopping)
            if config.duration_s is not None and now - began >= config.duration_s:
                stop.set()
            if stop.is_set() and not stopping:
                stopping, stopped_at = True, now
                log.info(
                    "stopping: no more coins; sending what the outboxes hold (at most %g s)",
                    config.drain_s,
                )
                for slot in self.slots:
                    self._send(slot, ("stop", config.drain_s))
            if halt.is_set() and not halted:
                halted = True
                log.info("stopping now: what is not sent stays in the outboxes")
                for slot in self.slots:
                    self._send(slot, ("halt",))
            if stopping and now - stopped_at > config.drain_s + EXIT_GRACE_S:
                for slot in self.slots:
                    if not slot.done and slot.process is not None:
                        log.warning("worker %d does not exit: killing it", slot.number)
                        slot.process.kill()
                        slot.done = True
            if now >= next_line:
                total = self.total()
                total.lag_s, self.lag_peak = self.lag_peak, 0.0
                rate = (total.decided - last_decided) / max(1e-9, now - last_time)
                progress(describe(total, now - began, rate))
                last_decided, last_time = total.decided, now
                next_line = now + config.progress_every_s
        return FleetResult(self.total(), time.monotonic() - began, self.restarts, halted)

    def _reap(self) -> None:
        for slot in self.slots:
            process = slot.process
            if process is None:
                continue
            process.join(timeout=EXIT_GRACE_S if slot.done else 0.0)
            if process.exitcode is None:
                process.kill()
                process.join(timeout=10)
            if slot.conn is not None:
                slot.conn.close()


def run_fleet(
    config: FleetConfig,
    pool: Sequence[Decision],
    *,
    stop: threading.Event,
    halt: threading.Event,
    progress: Callable[[str], None],
) -> FleetResult:
    """Run the fleet until ``stop`` (then drain) or ``halt`` is set, or ``duration_s`` passed.

    Parameters
    ----------
    config : FleetConfig
    pool : sequence of Decision
        Decisions the acceptors draw from, made by the real engine.
    stop, halt : threading.Event
        Set ``stop`` to end the run after a drain of at most ``config.drain_s``;
        ``halt`` to end it now (what is not sent stays in the outboxes).
    progress : callable
        Gets a progress line every ``config.progress_every_s``.

    Raises
    ------
    FleetError
        A worker cannot open its outboxes, or dies twice right after starting.
    """
    if not pool:
        raise ValueError("the decision pool is empty")
    config.outbox_dir.mkdir(parents=True, exist_ok=True)
    return _Supervisor(config, pool).run(stop, halt, progress)
