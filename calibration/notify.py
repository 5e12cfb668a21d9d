"""Processes sharing a PostgreSQL store tell each other what changed (LISTEN/NOTIFY).

Several ``coinval api`` workers (and ``coinval serve --api`` beside them) each
keep state that another process's write makes stale:

``coinval_events``
    sent after a route recorded events; every process rings its
    :class:`~calibration.bell.EventBell`, so its live streams look at once
    instead of at their next poll.
``coinval_keys``
    sent after a key was revoked; every process forgets its recently checked
    keys (:mod:`calibration.recent_keys`) and answers on ``coinval_keys_ack``.
    The revoking request returns only once every listening process has
    answered (or once :data:`~calibration.recent_keys.RECHECK_SECONDS` have
    passed, after which every process's cache has expired anyway): a key
    revoked through one worker is refused by every worker from then on.

Each process holds one connection that LISTENs (``application_name``
:data:`LISTENER_NAME`), served by one thread; NOTIFYs go out on the side
connections (:mod:`calibration.pg_side`).  When the listening connection is
lost the thread reconnects, and on each (re)connection forgets every key and
rings the bell, since a NOTIFY may have been missed meanwhile; the streams'
poll and the key cache's expiry keep everything right while it is down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from calibration.bell import EventBell
from calibration.pg_side import SideConnections
from calibration.recent_keys import RECHECK_SECONDS, RecentKeys

log = logging.getLogger(__name__)

CHANNEL_EVENTS = "coinval_events"
CHANNEL_KEYS = "coinval_keys"
CHANNEL_KEYS_ACK = "coinval_keys_ack"
CHANNELS = (CHANNEL_EVENTS, CHANNEL_KEYS, CHANNEL_KEYS_ACK)
#: ``application_name`` of the listening connections: how a revoke counts who must answer.
LISTENER_NAME = "coinval-listen"
#: An idle listening connection is checked this often (a lost one is noticed).
IDLE_CHECK_S = 30.0
#: The longest pause between two attempts to reconnect.
MAX_BACKOFF_S = 10.0


@dataclass
class _Acks:
    """Answers to one revoke: the listening backends that have forgotten their keys."""

    done: threading.Condition = field(default_factory=threading.Condition)
    pids: set[int] = field(default_factory=set)


class Notifier:
    """This process's listening connection and its thread.

    Parameters
    ----------
    url : str
        The store's ``postgresql://`` URL.
    side : SideConnections
        Where NOTIFYs are sent from.
    bell : EventBell
        Rung on ``coinval_events``.
    recent_keys : callable
        The process's :class:`RecentKeys` (asked each time: tests swap it).
    ack_wait_s : float
        The longest a revoke waits for the other processes' answers.
    """

    def __init__(
        self,
        url: str,
        side: SideConnections,
        bell: EventBell,
        recent_keys: Callable[[], RecentKeys[Any]],
        *,
        ack_wait_s: float = RECHECK_SECONDS,
    ) -> None:
        self.url = url
        self._side = side
        self._bell = bell
        self._recent_keys = recent_keys
        self.ack_wait_s = ack_wait_s
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._events_pending = threading.Event()
        self._waiters: dict[str, _Acks] = {}
        self._waiters_lock = threading.Lock()
        self._wake_r = self._wake_w = -1  # a pipe while started: wakes the thread's select
        self._pipe_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._unhook: Callable[[], None] | None = None
        self._listener_pid: int | None = None

    # -- life ------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening (in the background: a server out of reach is retried)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._unhook = self._recent_keys().on_forget(self.key_revoked)
        self._thread = threading.Thread(target=self._run, name="coinval-listen", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and close the listening connection."""
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # stuck in a connect: it is a daemon, and still uses the pipe
            self._thread = None
        with self._pipe_lock:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            # never close (or write to) a number the process may give to another file
            self._wake_r = self._wake_w = -1

    @property
    def listening(self) -> bool:
        """Whether the listening connection is up now."""
        return self._listening.is_set()

    def wait_listening(self, timeout: float) -> bool:
        """Wait until the listening connection is up; whether it is."""
        return self._listening.wait(timeout)

    # -- what this process tells the others --------------------------------------------

    def events_written(self) -> None:
        """New events are in the store: ring here now, and tell the others (never blocks).

        Several calls before the thread sends are one NOTIFY: a stream polls
        everything newer than what it sent, however many rings woke it.
        """
        self._bell.ring()
        self._events_pending.set()
        self._wake()

    def key_revoked(self) -> bool:
        """A key was revoked here: return once every listening process has forgotten
        its recently checked keys, or once theirs have expired
        (:data:`RECHECK_SECONDS` after the revoke); whether they all answered."""
        deadline = time.monotonic() + self.ack_wait_s
        token = uuid.uuid4().hex
        acks = _Acks()
        with self._waiters_lock:
            self._waiters[token] = acks
        try:
            must_answer = self._announce_revoke(token) if self.listening else None
            with acks.done:
                return acks.done.wait_for(
                    lambda: must_answer is not None and must_answer <= acks.pids,
                    timeout=max(0.0, deadline - time.monotonic()),
                )
        finally:
            with self._waiters_lock:
                del self._waiters[token]

    def _announce_revoke(self, token: str) -> set[int] | None:
        """NOTIFY the revoke; the listening backends that must answer (None: unknown)."""
        try:
            with self._side.connection() as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = %s",
                    (LISTENER_NAME,),
                ).fetchall()
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL_KEYS, token))
        except Exception as exc:  # server away: the caches expire within ack_wait_s
            log.warning("cannot tell the other processes of a revoked key: %s", exc)
            return None
        return {int(row[0]) for row in rows}

    # -- the listening thread ----------------------------------------------------------

    def _wake(self) -> None:
        with self._pipe_lock:
            if self._wake_w < 0:  # not started, or stopped
                return
            with contextlib.suppress(OSError):  # pipe full: a wake is pending already
                os.write(self._wake_w, b"x")

    def _pause(self, seconds: float) -> None:
        """Sleep, cut short by stop()."""
        select.select([self._wake_r], [], [], seconds)
        self._drain_wake()

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: nothing to drain
            os.read(self._wake_r, 4096)

    def _run(self) -> None:
        import psycopg

        backoff, failures = 0.5, 0
        while not self._stop.is_set():
            try:
                conn = psycopg.connect(
                    self.url, autocommit=True, application_name=LISTENER_NAME, connect_timeout=10
                )
            except psycopg.Error as exc:
                failures += 1
                if failures == 1:
                    log.warning("cannot LISTEN on the store (%s); streams poll meanwhile", exc)
                self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            try:
                with conn:
                    for channel in CHANNELS:
                        conn.execute(f"LISTEN {channel}")
                    self._listener_pid = conn.info.backend_pid
                    if failures:
                        log.warning("listening on the store again")
                    backoff, failures = 0.5, 0
                    # A revoke or an event may have gone by while no one listened.
                    self._recent_keys().forget_here()
                    self._bell.ring()
                    self._listening.set()
                    self._serve(conn)
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    failures += 1
                    log.warning("lost the LISTEN connection (%s); reconnecting", exc)
                    self._pause(backoff)
            finally:
                self._listening.clear()

    def _serve(self, conn: Any) -> None:
        while not self._stop.is_set():
            for note in conn.notifies(timeout=0):
                self._heard(note.channel, note.payload)
            readable, _, _ = select.select([conn.fileno(), self._wake_r], [], [], IDLE_CHECK_S)
            if self._wake_r in readable:
                self._drain_wake()
            if self._events_pending.is_set() and not self._stop.is_set():
                self._events_pending.clear()
                self._send(CHANNEL_EVENTS, "")
            if not readable:
                conn.execute("SELECT 1")  # a lost server shows here, not in a silent socket

    def _send(self, channel: str, payload: str) -> None:
        try:
            with self._side.connection() as conn:
                conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
        except Exception as exc:  # the others poll meanwhile
            log.warning("cannot NOTIFY %s: %s", channel, exc)

    def _heard(self, channel: str, payload: str) -> None:
        if channel == CHANNEL_EVENTS:
            self._bell.ring()
        elif channel == CHANNEL_KEYS:
            self._recent_keys().forget_here()
            self._send(CHANNEL_KEYS_ACK, f"{payload}:{self._listener_pid}")
        elif channel == CHANNEL_KEYS_ACK:
            token, _, pid = payload.partition(":")
            with self._waiters_lock:
                acks = self._waiters.get(token)
            if acks is not None and pid.isdigit():
                with acks.done:
                    acks.pids.add(int(pid))
                    acks.done.notify_all()
