"""The service beside a running acceptor: follow a head's config, record its coins.

Two small pieces the serve loop composes (``coinval serve --api``):

:class:`ConfigFollower`
    calls back with each *new* :class:`~calibration.hooks.ActiveConfig` of one
    head, in revision order, once per revision: at once for changes made
    through this process's service (subscription), and within ``poll_s`` for
    changes another process made to the same store (``coinval api`` beside it).
:class:`DecisionRecorder`
    takes decided coins from the coin loop without blocking it and, in a
    thread of its own, records each one (events, stats, the live stream) and
    gives it to the head's live teach sessions.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from calibration.hooks import ActiveConfig
from calibration.service import CalibrationService
from coinval.decision import Decision
from coinval.signature import Signature

__all__ = ["ConfigFollower", "DecisionRecorder", "RecorderCounts"]

log = logging.getLogger("calibration.live")


class ConfigFollower:
    """Calls ``on_config`` with each new config of ``head``, once per revision, in order.

    Parameters
    ----------
    service : CalibrationService
    head : str
    on_config : callable
        ``on_config(ActiveConfig)``; runs in the thread that saw the change
        (an API request thread, or the follower's poll thread), one call at a time.
    revision : int
        The revision already in use (configs at or below it are ignored).
    poll_s : float or None
        How often to look for changes made by another process; None: never.
    """

    def __init__(
        self,
        service: CalibrationService,
        head: str,
        on_config: Callable[[ActiveConfig], None],
        *,
        revision: int = -1,
        poll_s: float | None = 1.0,
    ) -> None:
        self._service = service
        self.head = head
        self._on_config = on_config
        self._lock = threading.Lock()
        self.revision = revision
        self._stop = threading.Event()
        self._unsubscribe = service.subscribe(self._subscriber)
        self._thread: threading.Thread | None = None
        if poll_s is not None:
            self._thread = threading.Thread(
                target=self._poll, args=(poll_s,), name="calibration-follow", daemon=True
            )
            self._thread.start()

    def offer(self, config: ActiveConfig) -> bool:
        """Pass ``config`` on if it is this head's and newer than the one in use."""
        if config.head != self.head:
            return False
        with self._lock:  # one at a time, so revisions reach on_config in order
            if config.revision <= self.revision:
                return False
            self.revision = config.revision
            self._on_config(config)
        return True

    def _subscriber(self, config: ActiveConfig) -> None:
        self.offer(config)

    def _poll(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                config = self._service.active(self.head)
            except Exception as exc:  # the store busy or gone for a moment: try again
                log.warning("cannot read head %s's config: %s", self.head, exc)
                continue
            if config is not None:
                self.offer(config)

    def close(self) -> None:
        """Stop following."""
        self._unsubscribe()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


@dataclass
class RecorderCounts:
    """What a :class:`DecisionRecorder` did."""

    recorded: int = 0
    fed_live: int = 0
    dropped: int = 0
    failed: int = 0


_Item = tuple[Signature, Decision, dt.datetime]


class DecisionRecorder:
    """Records decided coins in a background thread; :meth:`submit` never blocks.

    Parameters
    ----------
    service : CalibrationService
    head : str
        The head the events are recorded under.
    max_queue : int
        Coins waiting at most; beyond that (store far too slow) new ones are
        dropped and counted, never the coin loop held up.
    clock : callable
        The moment a coin was decided (the event's time).
    """

    def __init__(
        self,
        service: CalibrationService,
        head: str,
        *,
        max_queue: int = 10_000,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._service = service
        self.head = head
        self._clock = clock
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queue)
        self.counts = RecorderCounts()
        self._thread = threading.Thread(target=self._run, name="calibration-record", daemon=True)
        self._thread.start()

    def submit(self, signature: Signature, decision: Decision) -> None:
        """Queue one decided coin (called from the coin loop)."""
        try:
            self._queue.put_nowait((signature, decision, self._clock()))
        except queue.Full:
            self.counts.dropped += 1
            if self.counts.dropped == 1 or self.counts.dropped % 1000 == 0:
                log.error(
                    "the store is not keeping up: %d decision(s) not recorded",
                    self.counts.dropped,
                )

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._record(*item)

    def _record(self, signature: Signature, decision: Decision, at: dt.datetime) -> None:
        try:
            self._service.record_decision(self.head, decision, at=at, signature=signature)
            self.counts.recorded += 1
            if decision.reason != "invalid" and self._service.feed_live(self.head, signature):
                self.counts.fed_live += 1
        except Exception as exc:  # one bad write must not stop the recording
            self.counts.failed += 1
            log.error("cannot record a decision: %s: %s", type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)

    def close(self, timeout: float = 10.0) -> None:
        """Record what is queued (for at most ``timeout`` seconds), then stop."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("recorder queue still full after %.0f s", timeout)
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("stopped with decisions not yet recorded")
