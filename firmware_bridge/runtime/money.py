"""The money path: from a coin's signature to exactly one event for the machine.

Sans-I/O like the protocol objects it drives: no thread, port or clock of its
own; every call takes ``now`` or reads the injected clock.  One coin at a
time, :class:`MoneyPath` decides, checks the acceptor may take it *now*
(:meth:`AcceptorDevice.is_accepting`: inhibit mask, master inhibit, host
polling), commands the gate, and credits only when the credit sensor confirms
in time.  Events reach the host in the order the coins arrived.

The device is anything with the :class:`AcceptorDevice` calls, in ccTalk's
terms (positions 1-16, ccTalk error codes): the ccTalk
:class:`~firmware_bridge.cctalk.device.CoinAcceptorDevice` itself, or the MDB
changer behind :class:`~firmware_bridge.mdb.acceptor.ChangerAcceptor`, which
maps those codes onto what MDB can say.  The words of a refusal name the
protocol's own commands (:class:`RefusalWords`).

Each coin's event goes into a device built with ``overflow="hold"``: the 229
rules (:class:`~firmware_bridge.cctalk.credit_buffer.CreditBuffer`) keep it
back while the host has five unread, or has not yet read the counter at 0
after power-up or a reset, so nothing the host has not read is pushed out.

Error codes (``reference/cctalk.md``), one per coin that is not credited:

====================================================  =============================
why                                                   ccTalk code
====================================================  =============================
counterfeit, unknown, unreadable signature            1 reject coin
recognised, but its position is inhibited (231 mask,  128 + position - 1
operator inhibit, legal-tender dates)                 (inhibited coin, type n)
acceptor-wide refusal: master inhibit (228), host     2 inhibited coin
silent > 1 s, shutting down
decided after the deadline                            5 validation timeout
no credit-sensor report in time, or "not passed"      6 credit sensor timeout
credit sensor passed backwards                        17 coin going backwards
board fault naming the coin                           the sensor-link table (20 on
                                                      string, 5 gate timeout, ...)
====================================================  =============================

Type-specific 128-159 tells the host which coin it refused, which 2 cannot;
2 is kept for refusals that have nothing to do with the coin type (and is
what the device's own power-up dummy event uses).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from coinval.catalogue import coins as catalogue_coins
from coinval.decision import Decision
from coinval.signature import Signature
from firmware_bridge.cctalk.credit_buffer import BufferedEvent, CreditEvent, ErrorEvent
from firmware_bridge.cctalk.headers import AcceptorError, describe_error, inhibited_coin_type
from firmware_bridge.runtime.coin_positions import cctalk_ids
from firmware_bridge.sensorlink import FaultCode
from firmware_bridge.sources import (
    BoardFault,
    BoardRestarted,
    CoinInserted,
    CoinUnreadable,
    CreditSensed,
    SourceEvent,
)

__all__ = [
    "CCTALK_REFUSALS",
    "FAULT_ERRORS",
    "MDB_REFUSALS",
    "AcceptorDevice",
    "CoinOutcome",
    "Decider",
    "MoneyPath",
    "MoneyTotals",
    "RefusalWords",
]

log = logging.getLogger("firmware_bridge.runtime")

#: Sensor-link fault -> ccTalk error code (``docs/sensor-link.md`` section 4.6).
FAULT_ERRORS: dict[FaultCode, int] = {
    FaultCode.COIN_GOING_BACKWARDS: AcceptorError.COIN_GOING_BACKWARDS,
    FaultCode.COIN_ON_STRING: AcceptorError.COIN_ON_STRING,
    FaultCode.EXTERNAL_LIGHT: AcceptorError.EXTERNAL_LIGHT_ATTACK,
    FaultCode.JAM: AcceptorError.UNSPECIFIED_ALARM,
    FaultCode.CREDIT_SENSOR_BLOCKED: AcceptorError.CREDIT_SENSOR_BLOCKED,
    FaultCode.SENSOR_FAULT: AcceptorError.VALIDATION_SENSOR_NOT_READY,
    FaultCode.GATE_FAULT: AcceptorError.ACCEPT_GATE_CLOSED_NOT_OPEN,
    FaultCode.GATE_COMMAND_TIMEOUT: AcceptorError.VALIDATION_TIMEOUT,
    FaultCode.COIN_TOO_FAST: AcceptorError.COIN_TOO_FAST_OVER_VALIDATION_SENSOR,
    FaultCode.COIN_TOO_SLOW: AcceptorError.COIN_TOO_SLOW_OVER_VALIDATION_SENSOR,
    FaultCode.SECOND_CLOSE_COIN: AcceptorError.SECOND_CLOSE_COIN,
    FaultCode.CREDIT_SENSOR_TOO_EARLY: AcceptorError.CREDIT_SENSOR_REACHED_TOO_EARLY,
    FaultCode.OTHER: AcceptorError.UNSPECIFIED_ALARM,
}

#: Closed coin numbers remembered, to tell a late report from a coin never seen.
_REMEMBERED = 4096


class AcceptorDevice(Protocol):
    """What the money path needs of the acceptor the machine talks to (device lock held).

    ``CoinAcceptorDevice`` (ccTalk) and ``ChangerAcceptor`` (MDB) both fit.
    Positions are 1-16; error codes are ccTalk's (``AcceptorError``).
    """

    @property
    def overflow(self) -> str:
        """``"hold"``: an event the host has not read is never pushed out."""
        ...

    @property
    def host_timeout_s(self) -> float:
        """No poll for this long: the host is gone and coins are returned."""
        ...

    @property
    def last_credit_poll(self) -> float | None:
        """``now`` of the host's last poll for events, or None since a reset."""
        ...

    @property
    def master_inhibit(self) -> bool:
        """The host refuses every coin."""
        ...

    @property
    def sorter_paths(self) -> tuple[int, ...]:
        """Sorter path per position (position 1 first)."""
        ...

    def is_accepting(self, position: int, now: float, /) -> bool:
        """Whether the host takes a coin of ``position`` now."""
        ...

    def set_coin_ids(self, coin_ids: Sequence[str | None], /) -> None:
        """A new coin list (ccTalk coin ids, position 1 first)."""
        ...

    def push_credit(self, position: int, sorter_path: int | None = None, /) -> None:
        """One credited coin."""
        ...

    def push_error(self, code: int, /, *, coin: bool | None = None) -> None:
        """One coin not credited (or an alarm), as a ccTalk error code."""
        ...


@dataclass(frozen=True, slots=True)
class RefusalWords:
    """Why a recognised coin the engine accepted is returned, in the protocol's own terms.

    ``position`` takes ``{position}`` (1-16) and ``{coin_type}`` (0-15).
    """

    master_inhibit: str
    host_silent: str
    position: str


CCTALK_REFUSALS = RefusalWords(
    master_inhibit="master inhibit active (228)",
    host_silent="host not polling (229): coin returned",
    position="position {position} inhibited by the host (231)",
)
MDB_REFUSALS = RefusalWords(
    master_inhibit="no coin type enabled by the VMC, or SETUP not read since the reset",
    host_silent="VMC not polling (POLL): coin returned",
    position="coin type {coin_type} disabled by the VMC (COIN TYPE)",
)


class Decider(Protocol):
    """What the money path needs of the engine (``coinval.engine.Engine`` fits)."""

    def decide(self, signature: Signature, at: dt.datetime) -> Decision:
        """The decision for the one coin at the gate."""
        ...


# ---------------------------------------------------------------------- coins


@dataclass(frozen=True, slots=True)
class CoinOutcome:
    """How one coin ended: the log line's content.

    Attributes
    ----------
    coin_seq : int
    decision : Decision or None
        None for a coin never decided (unreadable, or lost on the link).
    event : BufferedEvent
        The one ccTalk event it produced.
    why : str
        Plain words: ``"credit sensor confirmed"``, ``"position 3 inhibited"``...
    """

    coin_seq: int
    decision: Decision | None
    event: BufferedEvent
    why: str


@dataclass
class MoneyTotals:
    """Running counts for the log and the final summary."""

    coins: int = 0
    credits: int = 0
    value_pence: int = 0
    errors: dict[int, int] = field(default_factory=dict)

    def pounds(self) -> str:
        """The credited value as ``£12.30``."""
        return f"£{self.value_pence // 100}.{self.value_pence % 100:02d}"

    def describe(self) -> str:
        """``"26 coins, 10 credited (£10.50); errors: 9 x 1 reject coin, ..."``."""
        errors = ", ".join(
            f"{n} x {code} {describe_error(code).lower().replace('_', ' ')}"
            for code, n in sorted(self.errors.items())
        )
        return (
            f"{self.coins} coins, {self.credits} credited ({self.pounds()}); "
            f"errors: {errors or 'none'}"
        )


@dataclass
class _Pending:
    """An accepted coin on its way to the credit sensor."""

    coin_seq: int
    decision: Decision
    position: int
    sorter_path: int
    deadline: float


class MoneyPath:
    """Coins in, one ccTalk event out per coin.

    Parameters
    ----------
    device : AcceptorDevice
        Shared with the bus service (ccTalk or MDB); touched only under ``lock``.
    lock : threading.Lock
        The device lock.
    decider : Decider
    coins : sequence of str
        Coin ids in position order (position 1 first): the profile's taught coins.
    gate : callable
        ``gate(coin_seq, accept, sorter_path)``: sends the gate command.
    clock : callable
        Monotonic seconds.
    at : callable
        The moment decisions are made for (legal-tender dates).
    decision_deadline_s : float
        A decision later than this after the signature arrived rejects the coin.
    credit_timeout_s : float
        Longest wait for the credit sensor after an accepting gate command.
    on_outcome : callable, optional
        Called once per coin when its event goes to the device.
    on_decided : callable, optional
        ``on_decided(signature, decision)``, once per coin the engine decided,
        right after the decision (the calibration service records it).  Must
        not block: it runs in the coin loop.
    refusals : RefusalWords
        The words of a refusal by the host (ccTalk's by default).
    """

    def __init__(
        self,
        device: AcceptorDevice,
        lock: threading.Lock,
        decider: Decider,
        coins: Sequence[str],
        *,
        gate: Callable[[int, bool, int], None],
        clock: Callable[[], float],
        at: Callable[[], dt.datetime],
        decision_deadline_s: float = 0.15,
        credit_timeout_s: float = 1.5,
        on_outcome: Callable[[CoinOutcome], None] | None = None,
        on_decided: Callable[[Signature, Decision], None] | None = None,
        refusals: RefusalWords = CCTALK_REFUSALS,
    ) -> None:
        if device.overflow != "hold":
            raise ValueError(
                "the money path needs a device built with overflow='hold' "
                "(an event the host has not read must never be pushed out)"
            )
        self._device = device
        self._lock = lock
        self._decider = decider
        self._coins: tuple[str, ...] = tuple(coins)
        self._positions = {coin: i + 1 for i, coin in enumerate(coins)}
        self._gate = gate
        self._clock = clock
        self._at = at
        self.decision_deadline_s = decision_deadline_s
        self.credit_timeout_s = credit_timeout_s
        self._on_outcome = on_outcome
        self._on_decided = on_decided
        self.refusals = refusals
        # A new engine and coin list waiting for the next gap between coins.
        self._staged: tuple[Decider, tuple[str, ...]] | None = None
        self._staged_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        # Arrival order of coins whose event is not in the device yet, and the
        # events of those that finished before an earlier one.
        self._order: deque[int] = deque()
        self._finished: dict[int, CoinOutcome] = {}
        self._closed: deque[int] = deque(maxlen=_REMEMBERED)
        self._closed_set: set[int] = set()
        self._newest_seq = 0
        self.refusing = False  # shutting down: every new coin is returned
        self.totals = MoneyTotals()

    # ----------------------------------------------------------------- state

    @property
    def idle(self) -> bool:
        """No coin in flight and no event held back for order."""
        return not self._order

    @property
    def in_flight(self) -> int:
        """Accepted coins waiting for the credit sensor."""
        return len(self._pending)

    @property
    def coins_in_flight(self) -> tuple[int, ...]:
        """Their coin numbers."""
        return tuple(self._pending)

    @property
    def coins(self) -> tuple[str, ...]:
        """Coin ids in position order, as the engine in use was taught them."""
        return self._coins

    # ----------------------------------------------------------- reconfigure

    def stage(self, decider: Decider, coins: Sequence[str]) -> None:
        """Use another engine (and coin list) from the next gap between coins on.

        Safe from any thread.  The swap itself happens in the coin loop
        (:meth:`apply_staged`: before the next coin is decided, and on each turn
        of the runtime's loop), so no coin is decided half with one engine and half with the other.
        Coins already accepted keep the position they were accepted for.  The
        device's coin ids follow the new list (position 1 first; positions
        beyond it become empty).  The last staged call wins.
        """
        if not 1 <= len(coins) <= 16:
            raise ValueError("a coin acceptor holds 1 to 16 coins")
        with self._staged_lock:
            self._staged = (decider, tuple(coins))

    def apply_staged(self) -> bool:
        """Swap in a staged engine now (coin-loop thread only); whether there was one."""
        with self._staged_lock:
            staged, self._staged = self._staged, None
        if staged is None:
            return False
        decider, coins = staged
        ids = cctalk_ids(coins)
        with self._lock:
            self._device.set_coin_ids(ids)
        self._decider = decider
        self._coins = coins
        self._positions = {coin: i + 1 for i, coin in enumerate(coins)}
        return True

    # --------------------------------------------------------------- events

    def handle(self, event: SourceEvent) -> None:
        """Process one event from the sensor source."""
        if isinstance(event, CoinInserted):
            self.on_coin(event.coin_seq, event.signature, event.received_at)
        elif isinstance(event, CoinUnreadable):
            if self._open(event.coin_seq):
                self._gate(event.coin_seq, False, 0)
                self._finish(event.coin_seq, None, AcceptorError.REJECT_COIN, event.detail)
        elif isinstance(event, CreditSensed):
            self.on_credit_sensor(event)
        elif isinstance(event, BoardFault):
            self.on_fault(event)
        elif isinstance(event, BoardRestarted) and event.seq <= self._newest_seq:
            self._board_restarted()

    def _open(self, coin_seq: int) -> bool:
        if coin_seq in self._closed_set or coin_seq in self._order:
            log.warning("coin %d: its signature came twice; the repeat is ignored", coin_seq)
            return False
        self._order.append(coin_seq)
        self._newest_seq = max(self._newest_seq, coin_seq)
        return True

    def on_coin(self, coin_seq: int, signature: Signature, received_at: float) -> None:
        """A coin's signature: decide, gate, and (unless accepted) report at once."""
        self.apply_staged()
        if not self._open(coin_seq):
            return
        if self.refusing:
            self._gate(coin_seq, False, 0)
            self._finish(coin_seq, None, AcceptorError.INHIBITED_COIN, "acceptor shutting down")
            return
        try:
            decision = self._decider.decide(signature, self._at())
        except Exception as exc:  # an engine bug must return the coin, not stop the acceptor
            log.error("coin %d: the engine failed (%s: %s)", coin_seq, type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)
            self._gate(coin_seq, False, 0)
            self._finish(coin_seq, None, AcceptorError.REJECT_COIN, f"engine error: {exc}")
            return
        if self._on_decided is not None:
            try:
                self._on_decided(signature, decision)
            except Exception as exc:  # recording must never cost a coin
                log.error("coin %d: on_decided failed (%s: %s)", coin_seq, type(exc).__name__, exc)
        now = self._clock()
        late_s = now - received_at
        if late_s > self.decision_deadline_s:
            self._gate(coin_seq, False, 0)
            deadline_ms = self.decision_deadline_s * 1000
            why = f"decided after {late_s * 1000:.0f} ms (deadline {deadline_ms:.0f} ms)"
            self._finish(coin_seq, decision, AcceptorError.VALIDATION_TIMEOUT, why)
            return
        position = self._positions.get(decision.coin or "")
        if not decision.accepted or position is None:
            self._gate(coin_seq, False, 0)
            if decision.reason == "inhibited" and position is not None:
                self._finish(
                    coin_seq,
                    decision,
                    inhibited_coin_type(position),
                    "inhibited by the operator or its legal-tender dates",
                )
            else:
                self._finish(coin_seq, decision, AcceptorError.REJECT_COIN, decision.reason)
            return
        with self._lock:
            accepting = self._device.is_accepting(position, now)
            refusal = None if accepting else self._refusal(position, now)
            sorter_path = self._device.sorter_paths[position - 1]
        if refusal is not None:
            self._gate(coin_seq, False, 0)
            self._finish(coin_seq, decision, refusal[0], refusal[1])
            return
        self._pending[coin_seq] = _Pending(
            coin_seq, decision, position, sorter_path, now + self.credit_timeout_s
        )
        self._gate(coin_seq, True, sorter_path)

    def _refusal(self, position: int, now: float) -> tuple[int, str]:
        """Why the device refuses a recognised coin now (device lock held)."""
        device = self._device
        words = self.refusals
        if device.master_inhibit:
            return AcceptorError.INHIBITED_COIN, words.master_inhibit
        last = device.last_credit_poll
        if last is None or now - last > device.host_timeout_s:
            return AcceptorError.INHIBITED_COIN, words.host_silent
        why = words.position.format(position=position, coin_type=position - 1)
        return inhibited_coin_type(position), why

    def on_credit_sensor(self, event: CreditSensed) -> None:
        """The board's credit-sensor report: credit only a coin passed forward in time."""
        pending = self._pending.pop(event.coin_seq, None)
        if pending is None:
            self._stray(event.coin_seq, "credit-sensor report")
            return
        if event.passed and event.forward:
            credit = CreditEvent(pending.position, pending.sorter_path)
            self._finish_event(
                event.coin_seq,
                pending.decision,
                credit,
                f"credit sensor confirmed ({event.transit_us / 1000:.0f} ms)",
            )
        elif event.passed:
            self._finish(
                event.coin_seq,
                pending.decision,
                AcceptorError.COIN_GOING_BACKWARDS,
                "credit sensor passed backwards",
            )
        else:
            self._finish(
                event.coin_seq,
                pending.decision,
                AcceptorError.CREDIT_SENSOR_TIMEOUT,
                "the board did not see it at the credit sensor",
            )

    def on_fault(self, event: BoardFault) -> None:
        """A board fault: ends the coin it names (if still open) with its error code."""
        code = FAULT_ERRORS.get(event.code, AcceptorError.UNSPECIFIED_ALARM)
        detail = f"board fault {event.code.name.lower()}" + (
            f" ({event.detail})" if event.detail else ""
        )
        if event.coin_seq == 0:
            log.warning("sensor board: %s", detail)
            return
        pending = self._pending.pop(event.coin_seq, None)
        if pending is not None:
            self._finish(event.coin_seq, pending.decision, code, detail)
        elif event.coin_seq in self._closed_set or event.coin_seq in self._order:
            log.warning("coin %d: %s after it was settled; no second event", event.coin_seq, detail)
        elif len(self._closed) == self._closed.maxlen and event.coin_seq < self._closed[0]:
            log.warning("coin %d: %s for a coin long settled; ignored", event.coin_seq, detail)
        else:
            # A coin whose signature never reached us (lost on the line): it
            # still gets its one event, so the host's count of coins is right.
            self._order.append(event.coin_seq)
            self._newest_seq = max(self._newest_seq, event.coin_seq)
            self._finish(event.coin_seq, None, code, f"{detail}; its signature was lost")

    def _stray(self, coin_seq: int, what: str) -> None:
        if coin_seq in self._closed_set or coin_seq in self._order:
            log.warning("coin %d: late %s ignored (already reported)", coin_seq, what)
        else:
            log.warning("coin %d: %s for a coin that was not accepted; ignored", coin_seq, what)

    def _board_restarted(self) -> None:
        # The board's numbers start again: coins it had in flight are gone with
        # it (never credited), and old numbers may be used for new coins.
        log.warning("sensor board restarted: %d coin(s) in flight lost", len(self._pending))
        for coin_seq in list(self._pending):
            pending = self._pending.pop(coin_seq)
            self._finish(
                coin_seq,
                pending.decision,
                AcceptorError.CREDIT_SENSOR_TIMEOUT,
                "the sensor board restarted",
            )
        self._closed.clear()
        self._closed_set.clear()
        self._newest_seq = 0

    def tick(self, now: float) -> None:
        """Time out accepted coins the credit sensor never reported."""
        for coin_seq in [s for s, p in self._pending.items() if now > p.deadline]:
            pending = self._pending.pop(coin_seq)
            self._finish(
                coin_seq,
                pending.decision,
                AcceptorError.CREDIT_SENSOR_TIMEOUT,
                f"no credit-sensor report within {self.credit_timeout_s:.1f} s",
            )

    # -------------------------------------------------------------- closing

    def _finish(self, coin_seq: int, decision: Decision | None, code: int, why: str) -> None:
        self._finish_event(coin_seq, decision, ErrorEvent(code), why)

    def _finish_event(
        self, coin_seq: int, decision: Decision | None, event: BufferedEvent, why: str
    ) -> None:
        self._finished[coin_seq] = CoinOutcome(coin_seq, decision, event, why)
        # Release events in arrival order: a later coin never overtakes an
        # earlier one still on its way to the credit sensor.
        released: list[CoinOutcome] = []
        while self._order and self._order[0] in self._finished:
            released.append(self._finished.pop(self._order.popleft()))
        if not released:
            return
        with self._lock:
            for outcome in released:
                _report(self._device, outcome.event)
        for outcome in released:
            self._remember(outcome.coin_seq)
            self._record(outcome)

    def _remember(self, coin_seq: int) -> None:
        if len(self._closed) == self._closed.maxlen:
            self._closed_set.discard(self._closed[0])
        self._closed.append(coin_seq)
        self._closed_set.add(coin_seq)

    def _record(self, outcome: CoinOutcome) -> None:
        totals = self.totals
        totals.coins += 1
        event = outcome.event
        if isinstance(event, CreditEvent):
            totals.credits += 1
            totals.value_pence += _value_pence(outcome.decision)
        else:
            code = int(event.code)
            totals.errors[code] = totals.errors.get(code, 0) + 1
        if self._on_outcome is not None:
            self._on_outcome(outcome)


def _value_pence(decision: Decision | None) -> int:
    """A credited coin's face value (from its decision, so a later position change does
    not alter it)."""
    if decision is None or decision.coin is None:
        return 0
    spec = catalogue_coins().get(decision.coin)
    return (spec.value_pence or 0) if spec is not None else 0


def _report(device: AcceptorDevice, event: BufferedEvent) -> None:
    """Put one coin's event into the device's queue for the host (device lock held)."""
    if isinstance(event, CreditEvent):
        device.push_credit(event.position, event.sorter_path)
    else:
        device.push_error(event.code)


def cctalk_event(event: BufferedEvent) -> str:
    """A coin's event as a ccTalk host reads it from 229."""
    if isinstance(event, CreditEvent):
        return f"credit position {event.position} path {event.sorter_path}"
    return f"error {event.code} {describe_error(event.code).lower().replace('_', ' ')}"


def mdb_event(event: BufferedEvent) -> str:
    """A coin's event as an MDB VMC learns it: a deposit of its coin type, or nothing."""
    if isinstance(event, CreditEvent):
        # MDB coin types count from 0; the loop's positions from 1.
        return f"deposited coin type {event.position - 1}"
    return "returned, no deposit reported"


def describe_outcome(
    outcome: CoinOutcome,
    totals: MoneyTotals,
    told: Callable[[BufferedEvent], str] = cctalk_event,
) -> str:
    """One log line: the coin, its decision, what the bus was told, the running credits."""
    d = outcome.decision
    name = f" [{d.id}]" if d is not None and d.id else ""
    if d is None:
        decided = "not decided"
    elif d.coin:
        decided = f"{d.reason} {d.coin}"
    else:
        decided = d.reason
    return (
        f"coin {outcome.coin_seq}{name}: {decided} -> {told(outcome.event)} ({outcome.why}); "
        f"credits {totals.credits} = {totals.pounds()}"
    )
