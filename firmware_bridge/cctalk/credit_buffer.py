"""Header 229, the credit buffer: every rule of the money path's wire side lives here.

Reply: ``[event counter][1A][1B][2A][2B]...[5A][5B]``, result 1 newest.  ``A != 0``
is a credit (A = coin position 1-16, B = sorter path, 0 = none); ``A == 0`` is an
error code in B.  The counter is 0 only after power-up or reset, then counts
1..255 and wraps to **1**, never 0.  The host works out how many events are new
as ``(counter - last) mod 255`` (never ``abs()``: wrong at the wrap).

The device's side (:class:`CreditBuffer`) also owns the five-event window,
what counts as read by the host, the power-up dummy event, and what happens to
a sixth unread event (overwritten and counted, or held back until the host
has room); the host's side (:func:`new_event_count`) the counter arithmetic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from firmware_bridge.cctalk.headers import AcceptorError, describe_error
from firmware_bridge.cctalk.messages import MAX_POSITIONS

__all__ = [
    "BUFFER_DEPTH",
    "BufferedEvent",
    "CreditBuffer",
    "CreditBufferSnapshot",
    "CreditEvent",
    "ErrorEvent",
    "Overflow",
    "event_from_pair",
    "event_to_pair",
    "new_event_count",
    "next_event_counter",
]

#: Results held by a 229 reply.
BUFFER_DEPTH = 5
#: Counter values once running: 1..255, so arithmetic is modulo 255.
_COUNTER_CYCLE = 255

#: What an event does when the host has not read the five before it (see :class:`CreditBuffer`).
Overflow = Literal["overwrite", "hold"]


@dataclass(frozen=True, slots=True)
class CreditEvent:
    """A coin that was accepted and credited.

    Attributes
    ----------
    position : int
        Coin position 1-16 (the A byte).
    sorter_path : int
        Sorter path it went down, 0 = none (the B byte).
    """

    position: int
    sorter_path: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.position <= 255:
            raise ValueError(f"credit position must be 1-255, got {self.position}")
        if not 0 <= self.sorter_path <= 255:
            raise ValueError(f"sorter path must be 0-255, got {self.sorter_path}")


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An error or status event (A = 0, B = code).

    Attributes
    ----------
    code : int
        Coin acceptor error code (see :class:`~firmware_bridge.cctalk.headers.AcceptorError`).
    """

    code: int

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 255:
            raise ValueError(f"error code must be 0-255, got {self.code}")

    @property
    def name(self) -> str:
        """Symbolic name of the code, e.g. ``"REJECT_COIN"``."""
        return describe_error(self.code)


BufferedEvent = CreditEvent | ErrorEvent


def event_from_pair(a: int, b: int) -> BufferedEvent:
    """Decode one ``[A][B]`` result."""
    return ErrorEvent(b) if a == 0 else CreditEvent(a, b)


def event_to_pair(event: BufferedEvent) -> tuple[int, int]:
    """Encode one result as ``(A, B)``."""
    if isinstance(event, CreditEvent):
        return event.position, event.sorter_path
    return 0, event.code


def next_event_counter(counter: int) -> int:
    """The counter after one more event: 0 -> 1, ..., 254 -> 255, 255 -> 1."""
    if not 0 <= counter <= 255:
        raise ValueError(f"event counter is a byte, got {counter}")
    return counter % _COUNTER_CYCLE + 1


def new_event_count(last: int, counter: int) -> int:
    """How many events happened between two reads of a *non-zero* counter.

    Parameters
    ----------
    last : int
        Counter at the previous read (0 right after a reset).
    counter : int
        Counter now, 1-255 (a 0 means the device reset: the caller handles it).

    Returns
    -------
    int
        ``(counter - last) mod 255``; from 0 it is ``counter`` itself, because 0
        lies outside the 1..255 cycle (255 events after a reset would otherwise
        read as none).  6 or more means events were lost.

    Notes
    -----
    The count is only known modulo 255: a host that misses 255 events in a row
    sees none.  Polling well inside the 1 s host timeout makes that impossible.
    """
    if not 1 <= counter <= 255 or not 0 <= last <= 255:
        raise ValueError(f"counters out of range: last={last}, counter={counter}")
    if last == 0:
        return counter
    return (counter - last) % _COUNTER_CYCLE


@dataclass(frozen=True, slots=True)
class CreditBufferSnapshot:
    """A decoded 229 reply.

    Attributes
    ----------
    counter : int
        Event counter 0-255.
    results : tuple of BufferedEvent
        The five results, **newest first**, as on the wire.
    """

    counter: int
    results: tuple[BufferedEvent, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> CreditBufferSnapshot:
        """Decode an 11-byte 229 reply payload; ``ValueError`` on any other length."""
        if len(data) != 1 + 2 * BUFFER_DEPTH:
            raise ValueError(f"229 reply is {1 + 2 * BUFFER_DEPTH} bytes, got {len(data)}")
        results = tuple(
            event_from_pair(data[1 + 2 * i], data[2 + 2 * i]) for i in range(BUFFER_DEPTH)
        )
        return cls(counter=data[0], results=results)

    def to_bytes(self) -> bytes:
        """Encode as an 11-byte 229 reply payload."""
        out = bytearray((self.counter,))
        for event in self.results:
            out.extend(event_to_pair(event))
        return bytes(out)

    def newest(self, count: int) -> tuple[BufferedEvent, ...]:
        """The ``count`` (at most 5) newest results, **oldest first**."""
        count = max(0, min(count, BUFFER_DEPTH))
        return tuple(reversed(self.results[:count]))


class CreditBuffer:
    """The device's side of header 229: five results, the event counter, what the host has read.

    Parameters
    ----------
    overflow : {"overwrite", "hold"}
        What an event does when five unread ones are already in the buffer.
        ``"overwrite"`` is the protocol's own behaviour: the oldest unread
        result is pushed out (the host sees the counter jump by 6 or more), and
        counted in :attr:`overwritten_unread`.  ``"hold"`` keeps the event back,
        in order, until a read makes room; it also holds every event until the
        host has read the counter at 0 after power-up or reset (else the host
        could not tell the reset from new events), and a reset keeps the events
        the host had not read (they follow the power-up marker).  With
        ``"hold"`` nothing the host has not read is ever dropped.
    power_up_dummy_event : bool
        Once a reply carrying counter 0 has been served, push the dummy
        ``[0][2]`` event (error 2, "inhibited coin") the spec prefers, so the
        counter leaves 0 and only a new reset shows 0 again (off here, on by
        default in :class:`~firmware_bridge.cctalk.device.CoinAcceptorDevice`).

    Attributes
    ----------
    counter : int
        Event counter (0 only in the power-up state).
    unread : int
        Events pushed into the results since the last read, at most 5.
    overwritten_unread : int
        Events pushed out of the buffer before any read had carried them
        (``"overwrite"`` only).
    most_held : int
        Most events ever held back at once (``"hold"``; 0: the host always had room).

    Notes
    -----
    **Read by the host** means a 229 reply carrying the event was served.  The
    device cannot know whether the reply then crossed the wire; a host that
    lost one sees the gap through the counter (6 or more new events), so a
    loss is never silent.
    """

    def __init__(
        self, *, overflow: Overflow = "overwrite", power_up_dummy_event: bool = False
    ) -> None:
        if overflow not in ("overwrite", "hold"):
            raise ValueError(f"overflow must be 'overwrite' or 'hold', got {overflow!r}")
        self.overflow: Overflow = overflow
        self.power_up_dummy_event = power_up_dummy_event
        self.counter = 0
        self.unread = 0
        self.overwritten_unread = 0
        self.most_held = 0
        self._results: deque[BufferedEvent] = deque(maxlen=BUFFER_DEPTH)
        self._held: deque[BufferedEvent] = deque()
        self._read_since_power_up = False
        self._dummy_unread = False
        self.clear()

    @property
    def held(self) -> int:
        """Events waiting for the host to make room (``"hold"`` only)."""
        return len(self._held)

    @property
    def settled(self) -> bool:
        """Whether the host has read every event: none unread, none held."""
        return self.unread == 0 and not self._held

    def clear(self) -> None:
        """Back to the power-up state: counter 0, all results null (``[0][0]``).

        With ``"hold"``, the events the host has not read go back to the front
        of the held ones (the power-up dummy is not carried: a new one comes).
        """
        if self.overflow == "hold":
            unread = list(self._results)[: self.unread]
            if self._dummy_unread:
                unread.pop()  # the oldest unread result is the dummy
            self._held.extendleft(unread)  # newest first in: oldest ends up in front
        self.counter = 0
        self.unread = 0
        self._dummy_unread = False
        self._read_since_power_up = False
        self._results.clear()
        self._results.extend([ErrorEvent(0)] * BUFFER_DEPTH)

    def push(self, event: BufferedEvent) -> BufferedEvent | None:
        """Report one event: into the results now, or held (``"hold"``) until the host has room.

        Parameters
        ----------
        event : BufferedEvent
            The credit or error to report.

        Returns
        -------
        BufferedEvent or None
            With ``"overwrite"``, the event pushed out of the buffer if the host
            had never read it (a loss the host will see through the counter);
            else ``None``.
        """
        if isinstance(event, CreditEvent) and event.position > MAX_POSITIONS:
            raise ValueError(f"credit position must be 1-{MAX_POSITIONS}, got {event.position}")
        if self.overflow == "hold" and (self._held or not self._has_room()):
            self._held.append(event)
            self.most_held = max(self.most_held, len(self._held))
            return None
        return self._append(event)

    def snapshot(self) -> CreditBufferSnapshot:
        """The current contents, without marking anything read."""
        return CreditBufferSnapshot(counter=self.counter, results=tuple(self._results))

    def read(self) -> CreditBufferSnapshot:
        """Serve a 229 reply: its contents, every result in it now counts as read.

        A read at counter 0 is followed by the power-up dummy (when on); then
        held events move into the room the read made, oldest first.
        """
        served = self.snapshot()
        self.unread = 0
        self._dummy_unread = False
        self._read_since_power_up = True
        if served.counter == 0 and self.power_up_dummy_event:
            self._append(ErrorEvent(AcceptorError.INHIBITED_COIN))
            self._dummy_unread = True
        while self._held and self._has_room():
            self._append(self._held.popleft())
        return served

    def _has_room(self) -> bool:
        return self._read_since_power_up and self.unread < BUFFER_DEPTH

    def _append(self, event: BufferedEvent) -> BufferedEvent | None:
        lost: BufferedEvent | None = None
        if self.unread >= BUFFER_DEPTH:
            lost = self._results[-1]
            self.overwritten_unread += 1
        self._results.appendleft(event)  # maxlen drops the oldest
        self.unread = min(self.unread + 1, BUFFER_DEPTH)
        self.counter = next_event_counter(self.counter)
        return lost
