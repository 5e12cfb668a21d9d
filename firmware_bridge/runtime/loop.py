"""The coin loop: one coin acceptor on the machine's bus, fed by a sensor source.

Two buses, one loop: :class:`Runtime` is a ccTalk coin acceptor (a parking
machine), :class:`MdbRuntime` an MDB coin changer (a vending machine).  Both
share :class:`CoinLoop`: the money path, the sensor source, stopping, and
watching the host; only the device and the thread that answers the bus differ.

Two threads share one device (the ccTalk
:class:`~firmware_bridge.cctalk.device.CoinAcceptorDevice`, or the MDB changer
behind :class:`~firmware_bridge.mdb.acceptor.ChangerAcceptor`) under one lock:

* the **bus thread** (:class:`~firmware_bridge.runtime.cctalk_service.CcTalkService`
  or :class:`~firmware_bridge.runtime.mdb_service.MdbService`) answers the
  host; it holds the lock only while the device parses a request and builds
  its reply;
* the **coin loop** (:meth:`Runtime.run`, in the caller's thread, so signal
  handlers can stop it) reads the sensor source, decides each coin with the
  engine *outside* the lock, then takes the lock only to check
  :meth:`~CoinAcceptorDevice.is_accepting` and to push the coin's event.

So a classification never delays a reply, and inhibits, the master inhibit
and host silence are honoured at the moment each coin is decided.

The device starts in its power-up state: every coin inhibited, master inhibit
on, event counter 0.  The host enables what it wants with 231 and 228 (on
MDB: RESET, SETUP, COIN TYPE).

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
from typing import Protocol

from coinval.decision import Decision
from coinval.legal_tender import now as legal_tender_now
from coinval.signature import Signature
from firmware_bridge.cctalk.credit_buffer import BufferedEvent
from firmware_bridge.cctalk.device import CoinAcceptorDevice
from firmware_bridge.mdb.acceptor import ChangerAcceptor, coin_values
from firmware_bridge.mdb.changer import CoinChanger
from firmware_bridge.mdb.timing import T_NON_RESPONSE_S
from firmware_bridge.runtime.cctalk_service import CcTalkService
from firmware_bridge.runtime.coin_positions import cctalk_ids, position_changes
from firmware_bridge.runtime.mdb_service import MdbService
from firmware_bridge.runtime.money import (
    CCTALK_REFUSALS,
    MDB_REFUSALS,
    AcceptorDevice,
    CoinOutcome,
    Decider,
    MoneyPath,
    MoneyTotals,
    RefusalWords,
    cctalk_event,
    describe_outcome,
    mdb_event,
)
from firmware_bridge.sources import SensorSource
from firmware_bridge.transport.managed_line import ManagedLine
from firmware_bridge.transport.mdb_serial import ManagedWordLine, WordPort, open_word_port
from firmware_bridge.transport.ports import CCTALK_LINE, SerialPort, open_port

__all__ = ["CoinLoop", "MdbRuntime", "Runtime", "RuntimeConfig", "RuntimeDevice"]

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
        No 229 read for this long: coins are returned, not credited (ccTalk).
    vmc_timeout_s : float
        No POLL for this long: coins are returned, not credited (MDB: the
        changer's non-response time).
    drain_timeout_s : float
        On stop, longest wait for coins in flight.
    linger_s : float
        On stop, then longest wait for the host to read the last events.
    """

    decision_deadline_s: float = 0.15
    credit_timeout_s: float = 1.5
    host_timeout_s: float = 1.0
    vmc_timeout_s: float = T_NON_RESPONSE_S
    drain_timeout_s: float = 3.0
    linger_s: float = 1.0


class RuntimeDevice(AcceptorDevice, Protocol):
    """What the coin loop needs of the device besides the money path's calls (lock held)."""

    @property
    def inhibit_mask(self) -> int:
        """Positions the host enabled (bit n = position n + 1)."""
        ...

    @property
    def host_has_every_event(self) -> bool:
        """The host has read every event pushed."""
        ...

    @property
    def coin_ids(self) -> tuple[str | None, ...]:
        """ccTalk coin ids per position, position 1 first."""
        ...


class BusService(Protocol):
    """The thread that answers the host on the bus."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class BusLine(Protocol):
    """The bus's line, opened once, then reconnecting by itself."""

    url: str

    def open(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BusWords:
    """How the log names the bus's things (the coin loop is the same for both buses)."""

    positions: str
    polling: str
    silent: str
    check_mask: str
    event: Callable[[BufferedEvent], str]


_CCTALK_WORDS = BusWords(
    positions="ccTalk positions",
    polling="host is polling the credit buffer (229)",
    silent="host has not polled 229 for over %.1f s: coins are returned, not credited",
    check_mask="the host's inhibit mask refers to positions: check it",
    event=cctalk_event,
)
_MDB_WORDS = BusWords(
    positions="MDB coin types",
    polling="VMC is polling the changer (POLL)",
    silent="VMC has not polled for over %.1f s: coins are returned, not credited",
    check_mask="the VMC's coin enables refer to coin types: check them",
    event=mdb_event,
)


class CoinLoop:
    """One coin acceptor: a device on the machine's bus, the money path, the sensor source.

    Use :class:`Runtime` (ccTalk) or :class:`MdbRuntime` (MDB); they make the
    device, the line and the thread answering it.

    Parameters
    ----------
    coins : sequence of str
        Taught coin ids in position order (``Profile.coins``), at most 16.
    decider : Decider
        The engine.
    source : SensorSource
    device : RuntimeDevice
    line : BusLine
        The bus's line (opened by :meth:`open`).
    service : BusService
        The thread that answers the host on ``line``.
    words : BusWords
    refusals : RefusalWords
    at, config, on_outcome, on_decided, clock
        As in :class:`Runtime`.
    """

    device: RuntimeDevice

    def __init__(
        self,
        *,
        coins: Sequence[str],
        decider: Decider,
        source: SensorSource,
        device: RuntimeDevice,
        lock: threading.Lock,
        line: BusLine,
        service: BusService,
        words: BusWords,
        refusals: RefusalWords,
        at: Callable[[], dt.datetime] | None,
        config: RuntimeConfig,
        on_outcome: Callable[[CoinOutcome, MoneyTotals], None] | None,
        on_decided: Callable[[Signature, Decision], None] | None,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.source = source
        self._clock = clock
        self.lock = lock
        self.device = device
        self._line = line
        self._service = service
        self._words = words
        self._on_outcome = on_outcome
        self.money = MoneyPath(
            device,
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
            refusals=refusals,
        )
        self._host_alive = False
        self._opened = False
        # The coin list of the last engine given (staged or in use), for position changes.
        self._coins_announced: tuple[str, ...] = tuple(coins)
        self._use_lock = threading.Lock()

    # ------------------------------------------------------------------ life

    def open(self) -> None:
        """Open the bus's port and the source, and start answering the host.

        Raises
        ------
        firmware_bridge.transport.managed_line.PortOpenError
            The bus's port (or a sensor-link port) cannot be opened.
        firmware_bridge.sources.SourceError
            The source cannot be used (e.g. a replay file that cannot be read).
        """
        self._line.open()
        try:
            self.source.open()
        except BaseException:
            self._line.close()
            raise
        self._opened = True
        self._announce()  # before the host's first request is logged
        self._service.start()

    def _announce(self) -> None:
        """The start-up log line."""

    def close(self) -> None:
        """Stop the bus thread and close everything."""
        self._service.stop()
        self._line.close()
        self.source.close()

    def use(self, decider: Decider, coins: Sequence[str], label: str = "new profile") -> None:
        """Decide with another engine from the next coin on (safe from any thread).

        ``coins`` is the new profile's taught list (position order).  When it
        moves, adds or removes positions the change is logged, as a warning
        when a coin the host knows at a position is replaced or removed (its
        inhibit mask, or the VMC's coin enables, refer to positions), and the
        device's coins follow (ccTalk: header 184; MDB: the coin types'
        values, and a reset if one changed).  A list the acceptor cannot hold
        (over 16 coins) is refused and the engine in use is kept.
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
            log.info("engine now uses %s (%s unchanged)", label, self._words.positions)
            return
        moved = any("added" not in change for change in changes)
        log.log(
            logging.WARNING if moved else logging.INFO,
            "engine now uses %s; %s: %s%s",
            label,
            self._words.positions,
            "; ".join(changes),
            f" ({self._words.check_mask})" if moved else "",
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
                log.info("%s", self._words.polling)
            else:
                log.warning(self._words.silent, timeout)

    def _outcome(self, outcome: CoinOutcome) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome, self.money.totals)
        else:
            log.info("%s", describe_outcome(outcome, self.money.totals, self._words.event))


class Runtime(CoinLoop):
    """One ccTalk coin acceptor: the device, the money path, the sensor source.

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

    device: CoinAcceptorDevice

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
        config = config or RuntimeConfig()
        lock = threading.Lock()
        device = CoinAcceptorDevice(
            cctalk_ids(coins), host_timeout_s=config.host_timeout_s, overflow="hold"
        )
        self.cctalk_line = ManagedLine(
            CCTALK_LINE.name,
            cctalk_url,
            cctalk_opener or (lambda: open_port(cctalk_url, CCTALK_LINE)),
        )
        self.cctalk = CcTalkService(self.cctalk_line, device, lock)
        super().__init__(
            coins=coins,
            decider=decider,
            source=source,
            device=device,
            lock=lock,
            line=self.cctalk_line,
            service=self.cctalk,
            words=_CCTALK_WORDS,
            refusals=CCTALK_REFUSALS,
            at=at,
            config=config,
            on_outcome=on_outcome,
            on_decided=on_decided,
            clock=clock,
        )

    def _announce(self) -> None:
        log.info(
            "coin acceptor on %s (address 2, 9600 8N1): positions %s; "
            "every coin inhibited, master inhibit on until the host enables them",
            self.cctalk_line.url,
            ", ".join(f"{i + 1}={c}" for i, c in enumerate(self.device.coin_ids) if c),
        )


class MdbRuntime(CoinLoop):
    """One MDB coin changer (level 3, no tubes): the changer, the money path, the sensor source.

    Coin type *n* is the profile's coin *n + 1* (ccTalk's position minus one);
    the money path drives the changer through :class:`ChangerAcceptor`.

    Parameters
    ----------
    mdb_url : str
        The MDB port: device path or pyserial URL.
    nine_bit : bool
        A real 9-bit UART (mark/space parity, PARMRK), or the two-byte words of
        pseudo-terminals and simulators (``docs/mdb.md`` section 5).
    mdb_opener : callable, optional
        Opens the MDB line (default: :func:`open_word_port` on ``mdb_url``).
    coins, decider, source, at, config, on_outcome, on_decided, clock
        As in :class:`Runtime`.

    Attributes
    ----------
    changer : CoinChanger
        Shared with the MDB thread; touch it only under :attr:`lock`.
    mdb : MdbService
    """

    device: ChangerAcceptor

    def __init__(
        self,
        *,
        coins: Sequence[str],
        decider: Decider,
        source: SensorSource,
        mdb_url: str,
        nine_bit: bool = False,
        at: Callable[[], dt.datetime] | None = None,
        config: RuntimeConfig | None = None,
        mdb_opener: Callable[[], WordPort] | None = None,
        on_outcome: Callable[[CoinOutcome, MoneyTotals], None] | None = None,
        on_decided: Callable[[Signature, Decision], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= len(coins) <= 16:
            raise ValueError("a coin changer holds 1 to 16 coin types")
        config = config or RuntimeConfig()
        lock = threading.Lock()
        ids = cctalk_ids(coins)
        self.changer = CoinChanger(coin_values(ids), vmc_timeout_s=config.vmc_timeout_s)
        self.changer.drain_events()  # its power-up reset: the VMC's RESET is what gets logged
        device = ChangerAcceptor(self.changer)
        device.set_coin_ids(ids)
        self.nine_bit = nine_bit
        self.mdb_line = ManagedWordLine(
            mdb_url, mdb_opener or (lambda: open_word_port(mdb_url, nine_bit=nine_bit))
        )
        self.mdb = MdbService(self.mdb_line, self.changer, lock, clock=clock)
        super().__init__(
            coins=coins,
            decider=decider,
            source=source,
            device=device,
            lock=lock,
            line=self.mdb_line,
            service=self.mdb,
            words=_MDB_WORDS,
            refusals=MDB_REFUSALS,
            at=at,
            config=config,
            on_outcome=on_outcome,
            on_decided=on_decided,
            clock=clock,
        )

    def _announce(self) -> None:
        log.info(
            "MDB coin changer on %s (address 08H, level 3, %s): coin types %s; "
            "every coin type disabled until the VMC reads SETUP and enables them",
            self.mdb_line.url,
            "9-bit UART, mark/space parity" if self.nine_bit else "two bytes per word",
            ", ".join(f"{i}={c}" for i, c in enumerate(self.device.coin_ids) if c),
        )
