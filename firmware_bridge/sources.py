"""Where coins come from: a sensor board on a serial line, or a file replayed as coins.

Every source turns its input into the same few events (a coin's signature, an
unreadable coin, a credit-sensor report, a board fault) and takes gate
commands back, so the money path (:mod:`firmware_bridge.runtime.money`) does not
know which one it is driving:

``SensorLinkSource``
    the sensor link (``docs/sensor-link.md``) on a device path or pyserial URL,
    engine role; reconnects with back-off when the line goes away.
``ReplaySource``
    ``replay:FILE.jsonl``: the file's signatures inserted in order at a fixed
    rate; an accepted coin passes the credit sensor at once; bad lines are
    logged and skipped (a line that is not a signature is not a coin).

Both hand on whole signatures, the loss traces of contract v1.1 included
when the board (sensor link v1.1) or the file line carries them.

The simulated sensor head (``--sensor sim``) is a ``SensorLinkSource`` on a
URL such as ``simhead://A``, whose handler (registered by the composition
root) serves ``sim.virtual_head`` on a pseudo-terminal: the bridge opens the
URL like any port and never imports the simulator.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from coinval.jsonlines import Line, read_lines
from coinval.signature import Signature, SignatureError, parse_signature
from firmware_bridge.sensorlink import (
    CreditSensorEvent,
    Fault,
    FaultCode,
    GateAction,
    GateCommand,
    Hello,
    LinkError,
    LinkErrorKind,
    MessageType,
    Role,
    SensorLink,
    SignatureMessage,
    Status,
    StatusFlags,
)
from firmware_bridge.transport.managed_line import ManagedLine
from firmware_bridge.transport.ports import SENSOR_LINK_LINE, SerialPort, open_port

__all__ = [
    "BoardFault",
    "BoardRestarted",
    "CoinInserted",
    "CoinUnreadable",
    "CreditSensed",
    "ReplaySource",
    "SensorLinkSource",
    "SensorSource",
    "SensorSpec",
    "SourceError",
    "SourceEvent",
    "parse_sensor_spec",
]

log = logging.getLogger("firmware_bridge.sources")

Clock = Callable[[], float]


class SourceError(ValueError):
    """A sensor source that cannot be used (bad ``--sensor`` value, unreadable file)."""


# ----------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class CoinInserted:
    """A coin's signature arrived; its gate is shut until a gate command."""

    coin_seq: int
    signature: Signature
    received_at: float


@dataclass(frozen=True, slots=True)
class CoinUnreadable:
    """A coin whose signature arrived but breaks the contract: it must be rejected."""

    coin_seq: int
    detail: str
    received_at: float


@dataclass(frozen=True, slots=True)
class CreditSensed:
    """What the credit sensor saw after an accepting gate command."""

    coin_seq: int
    passed: bool
    forward: bool
    transit_us: int


@dataclass(frozen=True, slots=True)
class BoardFault:
    """The board reports a fault, about a coin (``coin_seq`` > 0) or itself (0)."""

    coin_seq: int
    code: FaultCode
    detail: str


@dataclass(frozen=True, slots=True)
class BoardRestarted:
    """The board said Hello: at power-up, or answering ours.

    ``seq`` is the Hello frame's number: a board that restarted numbers from
    1 again, so a Hello numbered at or below the last coin seen means its
    coins in flight are gone and its coin numbers start again.
    """

    head_id: str
    firmware: str
    seq: int


SourceEvent = CoinInserted | CoinUnreadable | CreditSensed | BoardFault | BoardRestarted


class SensorSource(ABC):
    """A supply of coins and the gate that goes with it.

    Attributes
    ----------
    name : str
        For logs.
    """

    name: str = "sensor"

    @abstractmethod
    def open(self) -> None:
        """Open the input; raises :class:`SourceError` or ``OSError`` with a clear message."""

    @abstractmethod
    def poll(self, timeout: float) -> list[SourceEvent]:
        """Events that arrived, waiting at most about ``timeout`` seconds for the first."""

    @abstractmethod
    def gate(self, coin_seq: int, accept: bool, sorter_path: int) -> None:
        """Command the gate for one coin (exactly once per coin)."""

    def stop_inserting(self) -> None:  # noqa: B027 - optional hook, a no-op for real boards
        """Shutting down: insert no more coins (a real board cannot be told; a replay can)."""

    @property
    def exhausted(self) -> bool:
        """Whether no more coins will ever come (a finished replay)."""
        return False

    @abstractmethod
    def close(self) -> None:
        """Release the input."""


# ------------------------------------------------------------------- spec text


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A parsed ``--sensor`` value.

    Attributes
    ----------
    kind : {"sim", "replay", "port"}
    target : str
        The file for ``replay``, the device path or URL for ``port``, ``""`` for ``sim``.
    """

    kind: str
    target: str = ""


def parse_sensor_spec(text: str) -> SensorSpec:
    """Parse ``sim``, ``replay:FILE.jsonl`` or a port (device path or pyserial URL).

    Raises
    ------
    SourceError
        For an empty value or a ``replay:`` without a file.
    """
    value = text.strip()
    if not value:
        raise SourceError("--sensor is empty: use sim, replay:FILE.jsonl or a port")
    if value == "sim":
        return SensorSpec("sim")
    if value.startswith("replay:"):
        path = value[len("replay:") :]
        if not path:
            raise SourceError("--sensor replay: needs a file, e.g. replay:coins.jsonl")
        return SensorSpec("replay", path)
    return SensorSpec("port", value)


# -------------------------------------------------------------- sensor link


class SensorLinkSource(SensorSource):
    """A sensor board on a serial line, speaking the sensor link (we are the engine).

    Parameters
    ----------
    url : str
        Device path or pyserial URL.
    opener : callable, optional
        Opens the port (default: :func:`open_port` on ``url`` with the sensor
        link's settings).
    engine_name, software : str
        What our Hello says.
    clock : callable
        Time-stamps arrivals (the decision deadline counts from them).
    """

    def __init__(
        self,
        url: str,
        *,
        opener: Callable[[], SerialPort] | None = None,
        engine_name: str = "coinval",
        software: str = "coinval",
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = f"sensor link {url}"
        self.url = url
        self._link = SensorLink("engine")
        self._hello = Hello(Role.ENGINE, engine_name, software)
        self._clock = clock
        self._line = ManagedLine(
            SENSOR_LINK_LINE.name,
            url,
            opener or (lambda: open_port(url, SENSOR_LINK_LINE)),
            on_connect=self._greet,
        )
        self._status: StatusFlags | None = None
        # Whether the last signature carried loss traces (None: none seen yet).
        self._with_loss: bool | None = None
        self.link_errors = 0

    def _greet(self, port: SerialPort) -> None:
        # End any half frame the board holds from before, then introduce ourselves.
        port.write(SensorLink.preamble() + self._link.send(self._hello))
        port.flush()
        # And end any half frame *we* hold from before a reconnection.
        self._link.receive_data(b"\x00")

    def open(self) -> None:
        """Open the port and say Hello."""
        self._line.open()

    def poll(self, timeout: float) -> list[SourceEvent]:
        """Read what the board sent (the port's read timeout bounds the wait)."""
        data = self._line.read()
        now = self._clock()
        if data:
            self._link.receive_data(data)
        events: list[SourceEvent] = []
        while (item := self._link.next_event()) is not None:
            event = self._translate(item, now)
            if event is not None:
                events.append(event)
        return events

    def _translate(self, item: object, now: float) -> SourceEvent | None:
        if isinstance(item, SignatureMessage):
            self._note_loss_traces(item.has_loss)
            try:
                return CoinInserted(item.coin_seq, item.to_signature(), now)
            except SignatureError as exc:  # the link checks this already; belt and braces
                return CoinUnreadable(item.coin_seq, str(exc), now)
        if isinstance(item, CreditSensorEvent):
            return CreditSensed(item.coin_seq, item.passed, item.forward, item.transit_us)
        if isinstance(item, Fault):
            return BoardFault(item.coin_seq, item.code, item.detail)
        if isinstance(item, Hello):
            log.info(
                "sensor board %s (firmware %s, sensor link message set %d) said hello",
                item.head_id,
                item.firmware,
                item.protocol_version,
            )
            return BoardRestarted(item.head_id, item.firmware, item.seq)
        if isinstance(item, Status):
            self._on_status(item)
            return None
        if isinstance(item, LinkError):
            return self._on_link_error(item, now)
        return None

    def _note_loss_traces(self, present: bool) -> None:
        # Logged when it changes, not per coin: a demodulator that stops
        # reporting is why a profile taught with loss traces suddenly answers
        # every coin "invalid", and the log should say so once.
        if present == self._with_loss:
            return
        if present:
            log.info("sensor board: signatures carry loss traces (sensor link v1.1)")
        elif self._with_loss:
            log.warning(
                "sensor board: signatures no longer carry loss traces; "
                "a profile taught with them refuses these coins"
            )
        self._with_loss = present

    def _on_status(self, status: Status) -> None:
        if status.flags == self._status:
            return  # a heartbeat
        self._status = status.flags
        # Every named bit but READY is a problem; reserved bits (7-15) are ignored.
        known = StatusFlags(int(status.flags) & 0x7F)
        if known != StatusFlags.READY:
            log.warning("sensor board status: %r (%.1f C)", known, status.temperature_c)
        else:
            log.info("sensor board ready (%.1f C)", status.temperature_c)

    def _on_link_error(self, error: LinkError, now: float) -> SourceEvent | None:
        self.link_errors += 1
        is_coin = error.message_type == MessageType.SIGNATURE and error.seq
        # A gap report comes with the frame still delivered; a duplicate or an
        # old frame is a coin already seen.  Anything else loses the signature.
        not_lost = (LinkErrorKind.SEQUENCE_GAP, LinkErrorKind.DUPLICATE, LinkErrorKind.OUT_OF_ORDER)
        if is_coin and error.kind not in not_lost:
            # A CRC-checked signature frame we cannot use: the coin is real, reject it.
            assert error.seq is not None
            return CoinUnreadable(error.seq, f"{error.kind.value}: {error.detail}", now)
        if error.kind is LinkErrorKind.SEQUENCE_GAP:
            log.warning("sensor link: %s (the board reports lost coins as faults)", error.detail)
        else:
            log.warning("sensor link: %s frame dropped: %s", error.kind.value, error.detail)
        return None

    def gate(self, coin_seq: int, accept: bool, sorter_path: int) -> None:
        """Send the gate command; a line that is down loses it (the board returns the coin)."""
        action = GateAction.ACCEPT if accept else GateAction.REJECT
        command = GateCommand(coin_seq, action, sorter_path if accept else 0)
        if not self._line.write(self._link.send(command)):
            log.warning("sensor link down: gate command for coin %d not sent", coin_seq)

    def close(self) -> None:
        """Close the port."""
        self._line.close()


# ------------------------------------------------------------------- replay


class ReplaySource(SensorSource):
    """A JSON Lines file of signatures, inserted as coins at ``coins_per_s``.

    Parameters
    ----------
    path : str
        The file.
    coins_per_s : float
        Insertion rate (> 0).
    ready : callable, optional
        Insertion starts once it returns True (the runtime passes "the host
        has enabled the acceptor", so a file is not returned coin by coin
        while the host is still starting up); afterwards coins come at the
        rate whatever the host does.
    clock, sleep : callable
        Injectable for tests.
    """

    def __init__(
        self,
        path: str,
        coins_per_s: float = 2.0,
        *,
        ready: Callable[[], bool] | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not coins_per_s > 0:
            raise SourceError(f"--coins-per-s must be > 0, got {coins_per_s}")
        self.name = f"replay {path}"
        self.path = path
        self.period_s = 1.0 / coins_per_s
        self._ready = ready
        self._clock = clock
        self._sleep = sleep
        self._stream: IO[bytes] | None = None
        self._lines: Iterator[Line] | None = None
        self._next_at: float | None = None
        self._queued: deque[SourceEvent] = deque()
        self._done = False
        self._waiting_logged = False
        self.inserted = 0
        self.skipped = 0

    def open(self) -> None:
        """Open the file; :class:`SourceError` if it cannot be read."""
        try:
            self._stream = Path(self.path).open("rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise SourceError(f"replay file {self.path!r}: {exc.strerror or exc}") from None
        self._lines = iter(read_lines(self._stream))

    def _next_signature(self) -> Signature | None:
        assert self._lines is not None
        for line in self._lines:
            number, obj, error = line.number, line.obj, line.error
            if error is None:
                try:
                    return parse_signature(obj)
                except SignatureError as exc:
                    error = f"line {number}: {exc}"
            self.skipped += 1
            log.warning("replay %s: bad line skipped (%s)", self.path, error)
        self._done = True
        log.info(
            "replay %s finished: %d coins inserted, %d bad lines skipped",
            self.path,
            self.inserted,
            self.skipped,
        )
        return None

    def poll(self, timeout: float) -> list[SourceEvent]:
        """Queued credit-sensor reports, and the next coin when its time has come."""
        events: list[SourceEvent] = list(self._queued)
        self._queued.clear()
        if events or self._done or self._lines is None:
            if not events:
                self._sleep(timeout)
            return events
        now = self._clock()
        if self._next_at is None:
            if self._ready is not None and not self._ready():
                if not self._waiting_logged:
                    self._waiting_logged = True
                    log.info("replay: waiting for the host to enable the acceptor (228, 231)")
                self._sleep(timeout)
                return events
            self._next_at = now
        wait = self._next_at - now
        if wait > 0:
            self._sleep(min(wait, timeout))
            return events
        signature = self._next_signature()
        if signature is None:
            return events
        self.inserted += 1
        self._next_at += self.period_s
        # Coins are numbered like sensor-link coins: 1, 2, 3, ...
        return [CoinInserted(self.inserted, signature, self._clock())]

    def gate(self, coin_seq: int, accept: bool, sorter_path: int) -> None:
        """An accepted replayed coin passes the credit sensor; a rejected one is returned."""
        if accept:
            self._queued.append(CreditSensed(coin_seq, passed=True, forward=True, transit_us=0))

    def stop_inserting(self) -> None:
        """Insert nothing more (credit reports already queued are still delivered)."""
        self._done = True

    @property
    def exhausted(self) -> bool:
        """The file is finished and every report delivered."""
        return self._done and not self._queued

    def close(self) -> None:
        """Close the file."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
