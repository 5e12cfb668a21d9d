"""A virtual sensor board: coins in, sensor link out, gate commands obeyed.

:class:`VirtualHead` plays the **board** end of the sensor link
(``docs/sensor-link.md``) on a serial port (a pseudo-terminal, ``loop://``,
a real USB serial adapter): it says Hello, sends a Status heartbeat, inserts
coins from a :func:`sim.scenario.street_mix` stream at a fixed rate, keeps
each coin's gate shut until a GateCommand names it within the gate window,
and reports what the credit sensor saw, with fraud attempts and mishaps:

=================  =====================================================
coin               what the board sends after an accepting gate command
=================  =====================================================
normal             CreditSensorEvent(passed, forward) after the transit time
going backwards    CreditSensorEvent(passed, **not** forward)
on a string        Fault(coin on string), then CreditSensorEvent(not passed)
stuck              CreditSensorEvent(not passed) when the credit window ends
=================  =====================================================

A rejected coin is returned and nothing more is said; a gate command that
comes too late (or never) leaves the gate shut and the board sends
Fault(gate command timeout).  Every coin's fate is kept in :attr:`ledger`,
so a test can check the credits the host saw against the coins that really
went into the cash box.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from firmware_bridge.sensorlink import (
    CreditSensorEvent,
    Fault,
    FaultCode,
    GateAction,
    GateCommand,
    Hello,
    LinkError,
    Message,
    Role,
    SensorLink,
    SignatureMessage,
    Status,
    StatusFlags,
)
from firmware_bridge.transport.ports import SerialPort
from sim.scenario import Behaviour, ScriptedCoin

__all__ = ["HeadRecord", "HeadTimings", "Tamper", "VirtualHead"]

log = logging.getLogger("sim.virtual_head")

#: A test hook: given each outgoing message and its wire bytes, return the
#: bytes to really write (damaged, or ``b""`` to drop the frame).
Tamper = Callable[[Message, bytes], bytes]


@dataclass(frozen=True, slots=True)
class HeadTimings:
    """The mechanics of the rail.

    Attributes
    ----------
    gate_window_s : float
        Longest wait for a gate command after the signature; then the coin is returned.
    transit_s : (float, float)
        Range of times from the gate opening to the credit sensor.
    credit_window_s : float
        How long the board watches the credit sensor before giving up (stuck coin).
    heartbeat_s : float
        Status period.
    """

    gate_window_s: float = 0.4
    transit_s: tuple[float, float] = (0.03, 0.08)
    credit_window_s: float = 0.5
    heartbeat_s: float = 1.0


@dataclass
class HeadRecord:
    """One inserted coin, as the board saw it.

    Attributes
    ----------
    coin : ScriptedCoin
    coin_seq : int
        Its sensor-link number.
    gate : {"pending", "accept", "reject", "timeout"}
    sorter_path : int
    outcome : str
        ``"pending"``, ``"returned"``, ``"taken"`` (went past the credit
        sensor into the cash box), ``"on string"``, ``"backwards"``, ``"stuck"``.
    """

    coin: ScriptedCoin
    coin_seq: int
    gate: str = "pending"
    sorter_path: int = 0
    outcome: str = "pending"

    @property
    def taken(self) -> bool:
        """Whether the machine kept the coin: it must be credited exactly once."""
        return self.outcome == "taken"

    @property
    def settled(self) -> bool:
        """Whether the board is done with this coin."""
        return self.outcome != "pending"


class VirtualHead:
    """The board end of the sensor link, with a coin stream behind it.

    Parameters
    ----------
    port : SerialPort
        An open port with a short read timeout.
    coins : iterator of ScriptedCoin
    coins_per_s : float
        Insertion rate.
    max_coins : int, optional
        Stop inserting after this many.
    timings : HeadTimings, optional
    head_id : str
        The board's serial, sent in Hello and in every signature's ``head``.
    wait_for_engine : bool
        Insert the first coin only after the engine's Hello (when the engine is
        known to connect after the board, so its Hello cannot have been missed).
    on_record : callable, optional
        Called with each coin's record when the board is done with it (an
        attribute too: whoever opened the board behind a URL sets it).
    tamper : Tamper, optional
        Damage or drop outgoing frames (fault-injection tests).
    seed : int
        For transit times.
    clock : callable
    """

    def __init__(
        self,
        port: SerialPort,
        coins: Iterator[ScriptedCoin],
        *,
        coins_per_s: float = 2.0,
        max_coins: int | None = None,
        timings: HeadTimings | None = None,
        head_id: str = "SIM-A",
        wait_for_engine: bool = False,
        on_record: Callable[[HeadRecord], None] | None = None,
        tamper: Tamper | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not coins_per_s > 0:
            raise ValueError(f"coins_per_s must be > 0, got {coins_per_s}")
        self.port = port
        self._coins = coins
        self.period_s = 1.0 / coins_per_s
        self.max_coins = max_coins
        self.timings = timings or HeadTimings()
        self.head_id = head_id
        self._wait_for_engine = wait_for_engine
        self.on_record = on_record
        self._tamper = tamper
        self._rng = np.random.default_rng([seed, 0x8EAD])
        self._clock = clock
        self.link = SensorLink("board")
        self.ledger: list[HeadRecord] = []
        self._waiting: dict[int, HeadRecord] = {}
        self._agenda: list[tuple[float, int, Callable[[], None]]] = []
        self._tie = itertools.count()
        self._engine_seen = False
        self.link_errors = 0

    # ---------------------------------------------------------------- state

    @property
    def inserted(self) -> int:
        """Coins inserted so far."""
        return len(self.ledger)

    @property
    def finished(self) -> bool:
        """All ``max_coins`` inserted and settled."""
        return (
            self.max_coins is not None
            and self.inserted >= self.max_coins
            and all(r.settled for r in self.ledger)
        )

    # ----------------------------------------------------------------- wire

    def _send(self, message: Message) -> None:
        data = self.link.send(message)
        if self._tamper is not None:
            if not message.seq:  # show the hook the number the frame really carries
                message = dataclasses.replace(message, seq=self.link.last_sent_seq)
            data = self._tamper(message, data)
        if data:
            self.port.write(data)
            self.port.flush()

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._agenda, (self._clock() + delay, next(self._tie), action))

    # ------------------------------------------------------------------ run

    def run(self, stop: threading.Event) -> None:
        """Serve the link until ``stop`` is set (or all ``max_coins`` are settled)."""
        self.port.write(SensorLink.preamble())
        self._send(Hello(Role.BOARD, self.head_id, "virtual-head 1"))
        self._send(Status(StatusFlags.READY, 20.0))
        next_beat = self._clock() + self.timings.heartbeat_s
        next_coin: float | None = None
        while not stop.is_set() and not self.finished:
            now = self._clock()
            if next_coin is None and (self._engine_seen or not self._wait_for_engine):
                next_coin = now + self.period_s
            if next_coin is not None and now >= next_coin:
                if self.max_coins is None or self.inserted < self.max_coins:
                    self._insert(next(self._coins))
                next_coin += self.period_s
            while self._agenda and self._agenda[0][0] <= now:
                heapq.heappop(self._agenda)[2]()
            if now >= next_beat:
                self._send(Status(StatusFlags.READY, 20.0))
                next_beat += self.timings.heartbeat_s
            self._receive(self.port.read(max(1, self.port.in_waiting)))

    def _receive(self, data: bytes) -> None:
        if data:
            self.link.receive_data(data)
        while (event := self.link.next_event()) is not None:
            if isinstance(event, GateCommand):
                self._on_gate(event)
            elif isinstance(event, Hello):
                self._engine_seen = True
                self._send(Hello(Role.BOARD, self.head_id, "virtual-head 1"))
            elif isinstance(event, LinkError):
                self.link_errors += 1
                log.debug("virtual head: link error %s", event)

    # ---------------------------------------------------------------- coins

    def _insert(self, coin: ScriptedCoin) -> None:
        signature = dataclasses.replace(coin.signature, head=self.head_id)
        self._send(SignatureMessage.from_signature(signature))
        record = HeadRecord(coin, self.link.last_sent_seq)
        self.ledger.append(record)
        self._waiting[record.coin_seq] = record
        self._later(self.timings.gate_window_s, lambda: self._gate_timeout(record))

    def _settle(self, record: HeadRecord, outcome: str) -> None:
        record.outcome = outcome
        if self.on_record is not None:
            self.on_record(record)

    def _gate_timeout(self, record: HeadRecord) -> None:
        if self._waiting.pop(record.coin_seq, None) is None:
            return  # the gate command came in time
        record.gate = "timeout"
        self._send(Fault(record.coin_seq, FaultCode.GATE_COMMAND_TIMEOUT, "no gate command"))
        self._settle(record, "returned")

    def _on_gate(self, command: GateCommand) -> None:
        record = self._waiting.pop(command.coin_seq, None)
        if record is None:
            log.debug("virtual head: gate command for coin %d ignored", command.coin_seq)
            return  # late, repeated, or for a coin never inserted
        if command.action is GateAction.REJECT:
            record.gate = "reject"
            self._settle(record, "returned")
            return
        record.gate, record.sorter_path = "accept", command.sorter_path
        lo, hi = self.timings.transit_s
        transit = float(self._rng.uniform(lo, hi))
        behaviour = record.coin.behaviour
        if behaviour is Behaviour.STUCK:
            self._later(self.timings.credit_window_s, lambda: self._stuck(record))
        else:
            self._later(transit, lambda: self._credit_sensor(record, behaviour, transit))

    def _credit_sensor(self, record: HeadRecord, behaviour: Behaviour, transit: float) -> None:
        seq, us = record.coin_seq, int(transit * 1e6)
        if behaviour is Behaviour.NORMAL:
            self._send(CreditSensorEvent(seq, passed=True, forward=True, transit_us=us))
            self._settle(record, "taken")
        elif behaviour is Behaviour.BACKWARDS:
            self._send(CreditSensorEvent(seq, passed=True, forward=False, transit_us=us))
            self._settle(record, "backwards")
        else:  # on a string: seen at the credit sensor, then pulled back out
            self._send(Fault(seq, FaultCode.COIN_ON_STRING, "pulled back after the credit sensor"))
            self._send(CreditSensorEvent(seq, passed=False, forward=False, transit_us=us))
            self._settle(record, "on string")

    def _stuck(self, record: HeadRecord) -> None:
        us = int(self.timings.credit_window_s * 1e6)
        self._send(CreditSensorEvent(record.coin_seq, passed=False, forward=True, transit_us=us))
        self._settle(record, "stuck")
