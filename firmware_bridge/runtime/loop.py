"""The coin loop: one coin acceptor on the ccTalk bus, fed by a sensor source.

Two threads share one :class:`~firmware_bridge.cctalk.device.CoinAcceptorDevice`
under one lock:

* the **ccTalk thread** (:class:`~firmware_bridge.runtime.cctalk_service.CcTalkService`)
  answers the host; it holds the lock only while the device parses a request
  and builds its reply;
* the **coin loop** (:meth:`Runtime.run`, in the caller's thread, so signal
  handlers can stop it) reads the sensor source, decides each coin with the
  engine *outside* the lock, then takes the lock only to check
  :meth:`~CoinAcceptorDevice.is_accepting` and to push the coin's event.

So a classification never delays a reply, and inhibits, the master inhibit
and host silence are honoured at the moment each coin is decided.

The device starts in its power-up state: every coin inhibited, master inhibit
on, event counter 0.  The host enables what it wants with 231 and 228.

Stopping (:meth:`Runtime.run` sees ``stop`` set): new coins are returned, coins
in flight finish (credit sensor or timeout), the host gets a short while to
read the last events, then the ports close.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coinval.decision import Decision
from coinval.legal_tender import now as legal_tender_now
from coinval.signature import Signature
from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.runtime.cctalk_service import CcTalkService
from firmware_bridge.runtime.coin_positions import cctalk_ids, position_changes
from firmware_bridge.runtime.money import (
    CoinOutcome,
    Decider,
    MoneyPath,
    MoneyTotals,
    describe_outcome,
)
from firmware_bridge.sources import SensorSource
from firmware_bridge.transport.managed_line import ManagedLine
from firmware_bridge.transport.ports import CCTALK_LINE, SerialPort, open_port

__all__ = ["Runtime", "RuntimeConfig"]

log = logging.getLogger("firmware_bridge.runtime")

#: The coin loop's longest wait on the source between two timeout checks.
_POLL_S = 0.01


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Timing of the money path.

    Attributes
    ----------
    decision_deadline_s : float
        A coin decided later than this after its signature arrived is
        rejected (error 5): the gate window would be gone.  The engine aims
        at 20 ms; the board's gate window is longer than this deadline.
    credit_timeout_s : float
        Longest wait for the credit sensor after an accept (then error 6).
    host_timeout_s : float
        No 229 read for this long: coins are returned, not credited.
    drain_timeout_s : float
        On stop, longest wait for coins in flight.
    linger_s : float
        On stop, then longest wait for the host to read the last events.
    """

    decision_deadline_s: float = 0.15
    credit_timeout_s: float = 1.5
    host_timeout_s: float = 1.0
    drain_timeout_s: float = 3.0
    linger_s: float = 1.0


class Runtime:
    """One coin acceptor: the ccTalk device, the money path, the sensor source.

    Parameters
    ----------
    coins : sequence of str
        Taught coin ids in position order (``Profile.coins``), at most 16.
    decider : Decider
        The engine.
    source : SensorSource
    cctalk_url : str
        The ccTalk port: device path or pyserial URL.
    at : callable, optional
        The moment decisions are made for; default: now, each coin.
    config : RuntimeConfig, optional
    cctalk_opener : callable, optional
        Opens the ccTalk port (default: :func:`open_port` on ``cctalk_url``
        with the ccTalk line's settings).
    on_outcome : callable, optional
        Called once per coin with its outcome and the running totals
        (default: one log line per coin).
    on_decided : callable, optional
        ``on_decided(signature, decision)`` for every coin the engine decided,
        in the coin loop (must not block): the calibration service's recorder.
    clock : callable
        Monotonic seconds, shared by the device and the money path.
    """

    def __init__(
        self,
        *,
        coins: Sequence[str],
        decider: Decider,
        source: SensorSource,
        cctalk_url: str,
        at: Callable[[], dt.datetime] | None = None,
        config: RuntimeConfig | None = None,
        cctalk_opener: Callable[[], SerialPort] | None = None,
        on_outcome: Callable[[CoinOutcome, MoneyTotals], None] | None = None,
        on_decided: Callable[[Signature, Decision], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= len(coins) <= 16:
            raise ValueError("a coin acceptor holds 1 to 16 coins")
        self.config = config or RuntimeConfig()
        self.source = source
        self._clock = clock
        self.lock = threading.Lock()
        self.device = CoinAcceptorDevice(
            cctalk_ids(coins), host_timeout_s=self.config.host_timeout_s, overflow="hold"
        )
        self._on_outcome = on_outcome
        self.money = MoneyPath(
            self.device,
            self.lock,
            decider,
            coins,
            gate=source.gate,
            clock=clock,
            at=at or legal_tender_now,
            decision_deadline_s=self.config.decision_deadline_s,
            credit_timeout_s=self.config.credit_timeout_s,
            on_outcome=self._outcome,
            on_decided=on_decided,
        )
        self.cctalk_line = ManagedLine(
            CCTALK_LINE.name,
            cctalk_url,
            cctalk_opener or (lambda: open_port(cctalk_url, CCTALK_LINE)),
        )
        self.cctalk = CcTalkService(self.cctalk_line, self.device, self.lock)
        self._host_alive = False
        self._opened = False
        # The coin list of the last engine given (staged or in use), for position changes.
        self._coins_announced: tuple[str, ...] = tuple(coins)
        self._use_lock = threading.Lock()

    # ------------------------------------------------------------------ life

    def open(self) -> None:
        """Open the ccTalk port and the source, and start answering the host.

        Raises
        ------
        firmware_bridge.transport.managed_line.PortOpenError
            The ccTalk port (or a sensor-link port) cannot be opened.
        firmware_bridge.sources.SourceError
            The source cannot be used (e.g. a replay file that cannot be read).
        """
        self.cctalk_line.open()
        try:
            self.source.open()
        except BaseException:
            self.cctalk_line.close()
            raise
        self._opened = True
        self.cctalk.start()
        log.info(
            "coin acceptor on %s (address 2, 9600 8N1): positions %s; "
            "every coin inhibited, master inhibit on until the host enables them",
            self.cctalk_line.url,
            ", ".join(f"{i + 1}={c}" for i, c in enumerate(self.device.coin_ids) if c),
        )

    def close(self) -> None:
        """Stop the ccTalk thread and close everything."""
        self.cctalk.stop()
        self.cctalk_line.close()
        self.source.close()

    def use(self, decider: Decider, coins: Sequence[str], label: str = "new profile") -> None:
        """Decide with another engine from the next coin on (safe from any thread).

        ``coins`` is the new profile's taught list (position order).  When it
        moves, adds or removes positions the change is logged, as a warning
        when a coin the host knows at a position is replaced or removed (its
        inhibit mask refers to positions), and the device's coin ids (header
        184) follow.  A list the acceptor cannot hold (over 16 coins) is
        refused and the engine in use is kept.
        """
        if not 1 <= len(coins) <= 16:
            log.error(
                "%s has %d coins; a coin acceptor holds 1 to 16: still using the previous one",
                label,
                len(coins),
            )
            return
        with self._use_lock:
            changes = position_changes(self._coins_announced, coins)
            self.money.stage(decider, coins)
            self._coins_announced = tuple(coins)
        if not changes:
            log.info("engine now uses %s (ccTalk positions unchanged)", label)
            return
        moved = any("added" not in change for change in changes)
        log.log(
            logging.WARNING if moved else logging.INFO,
            "engine now uses %s; ccTalk positions: %s%s",
            label,
            "; ".join(changes),
            " (the host's inhibit mask refers to positions: check it)" if moved else "",
        )

    def acceptor_enabled(self) -> bool:
        """Whether the host enabled the acceptor: master inhibit off, a coin enabled, polling."""
        with self.lock:
            device = self.device
            last = device.last_credit_poll
            return (
                not device.master_inhibit
                and device.inhibit_mask != 0
                and last is not None
                and self._clock() - last <= device.host_timeout_s
            )

    # ------------------------------------------------------------------ loop

    def run(self, stop: threading.Event, until: Callable[[], bool] | None = None) -> MoneyTotals:
        """Run the coin loop until ``stop`` is set (or ``until()`` is true), then drain.

        Returns
        -------
        MoneyTotals
            Coins, credits and error counts of the session.
        """
        if not self._opened:
            raise RuntimeError("Runtime.open() first")
        draining_since: float | None = None
        while True:
            now = self._clock()
            if draining_since is None and (stop.is_set() or (until is not None and until())):
                draining_since = now
                self.money.refusing = True
                self.source.stop_inserting()
                log.info(
                    "stopping: new coins are returned; finishing %d coin(s) in flight",
                    self.money.in_flight,
                )
            self.money.apply_staged()
            for event in self.source.poll(_POLL_S):
                self.money.handle(event)
            now = self._clock()
            self.money.tick(now)
            self._watch_host(now)
            if draining_since is not None and self._drained(now - draining_since):
                break
        return self.money.totals

    def _drained(self, elapsed: float) -> bool:
        config = self.config
        if not self.money.idle and elapsed < config.drain_timeout_s:
            return False
        with self.lock:
            settled = self.device.host_has_every_event
        if settled or elapsed >= config.drain_timeout_s + config.linger_s:
            if not settled:
                log.warning("stopping with events the host has not read")
            return True
        return False

    def _watch_host(self, now: float) -> None:
        with self.lock:
            last = self.device.last_credit_poll
            timeout = self.device.host_timeout_s
        alive = last is not None and now - last <= timeout
        if alive != self._host_alive:
            self._host_alive = alive
            if alive:
                log.info("host is polling the credit buffer (229)")
            else:
                log.warning(
                    "host has not polled 229 for over %.1f s: coins are returned, not credited",
                    timeout,
                )

    def _outcome(self, outcome: CoinOutcome) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome, self.money.totals)
        else:
            log.info("%s", describe_outcome(outcome, self.money.totals))
