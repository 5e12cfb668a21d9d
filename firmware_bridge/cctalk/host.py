"""Sans-I/O ccTalk host (bus master) and the 229 credit poller.

For makers' integration tests and the simulator's virtual parking machine: it
builds request frames, recognises replies (checksums verified, the echo of its
own request on the single wire skipped, other traffic ignored) and keeps the
credit-buffer arithmetic in one tested place.  The blocking serial client built
on it is :class:`firmware_bridge.transport.cctalk_serial.CcTalkClient`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from firmware_bridge.cctalk.credit_buffer import (
    BUFFER_DEPTH,
    BufferedEvent,
    CreditBufferSnapshot,
    new_event_count,
)
from firmware_bridge.cctalk.frame import ChecksumMode, Frame, FrameParser, encode_frame
from firmware_bridge.cctalk.headers import Address, Header

__all__ = [
    "BusyError",
    "CcTalkError",
    "CcTalkHost",
    "CreditPollResult",
    "CreditPoller",
    "HostEvent",
    "NakError",
    "NoReplyError",
    "RawResponse",
    "ReplyFormatError",
    "Request",
    "Response",
]

#: Requests answered by one raw address byte instead of a frame.
_RAW_REPLY_HEADERS = frozenset({Header.ADDRESS_POLL, Header.ADDRESS_CLASH})


class CcTalkError(Exception):
    """Base class for host-side ccTalk failures."""


class NakError(CcTalkError):
    """The device answered NAK (header 5)."""


class BusyError(CcTalkError):
    """The device answered BUSY (header 6)."""


class NoReplyError(CcTalkError):
    """No valid reply within the timeout."""


class ReplyFormatError(CcTalkError):
    """A reply arrived but its payload is not what the header promises."""


@dataclass(frozen=True, slots=True)
class Request:
    """A request the host sent."""

    dest: int
    header: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Response:
    """A framed reply to the pending request.

    Attributes
    ----------
    request : Request
        What it answers.
    header : int
        0 ACK, 5 NAK, 6 BUSY.
    data : bytes
        Reply payload.
    src : int
        Replying address (the request's destination in CRC-16 mode, where the
        source is not transmitted).
    """

    request: Request
    header: int
    data: bytes
    src: int

    @property
    def ok(self) -> bool:
        """Whether this is an ACK."""
        return self.header == Header.ACK

    def payload(self) -> bytes:
        """The data of an ACK; raises :class:`NakError` / :class:`BusyError` otherwise."""
        if self.header == Header.NAK:
            raise NakError(f"NAK to header {self.request.header}")
        if self.header == Header.BUSY:
            raise BusyError(f"BUSY to header {self.request.header}")
        if self.header != Header.ACK:
            raise ReplyFormatError(f"reply header {self.header} to header {self.request.header}")
        return self.data


@dataclass(frozen=True, slots=True)
class RawResponse:
    """One raw address byte answering 253 (address poll) or 252 (address clash)."""

    request: Request
    address: int


HostEvent = Response | RawResponse


class CcTalkHost:
    """ccTalk bus master protocol object (sans-I/O).

    Usage: ``wire = host.send(2, Header.SIMPLE_POLL, now=t)``; write ``wire``;
    feed what is read with ``host.receive_data(chunk, now)`` and take
    ``host.next_event()`` until a :class:`Response` arrives or the caller's
    timeout passes (then call :meth:`timeout`).

    Parameters
    ----------
    address : int
        The host's own address (1).
    checksum : {"simple", "crc16"}
        Integrity mode of the bus.

    Attributes
    ----------
    echoes_skipped : int
        Echoes of our own requests recognised and dropped.
    stray_frames : int
        Valid frames that were neither our echo nor the awaited reply.
    """

    def __init__(self, address: int = Address.HOST, *, checksum: ChecksumMode = "simple") -> None:
        self.address = address
        self.checksum: ChecksumMode = checksum
        self._parser = FrameParser(checksum, implied_src=address)
        self._pending: Request | None = None
        self._echo = b""
        self._echo_pending = False
        self._raw = bytearray()
        self._events: deque[HostEvent] = deque()
        self.echoes_skipped = 0
        self.stray_frames = 0

    @property
    def pending(self) -> Request | None:
        """The request awaiting its reply, if any."""
        return self._pending

    @property
    def parser_stats(self) -> tuple[int, int, int]:
        """(rx timeouts, bytes ignored, bad checksums) seen by the host's parser."""
        stats = self._parser.stats
        return stats.rx_timeouts, stats.bytes_ignored, stats.bad_checksums

    def build_request(self, dest: int, header: int, data: bytes = b"") -> bytes:
        """Encode a request frame without changing any state."""
        return encode_frame(Frame(dest, self.address, header, data), self.checksum)

    def send(self, dest: int, header: int, data: bytes = b"", *, now: float = 0.0) -> bytes:
        """Start an exchange: return the request bytes to write.

        Any partial input from a previous exchange is discarded, as is any
        unread event, so a late reply to an old request cannot be taken for
        the answer to this one.

        Parameters
        ----------
        dest : int
            Device address (0 broadcast, for 253).
        header : int
            Request header.
        data : bytes
            Request payload.
        now : float
            Current time (kept for symmetry with :meth:`receive_data`).

        Returns
        -------
        bytes
            The encoded request.
        """
        wire = self.build_request(dest, header, data)
        self._pending = Request(dest, header, bytes(data))
        self._parser.reset()
        self._events.clear()
        self._raw.clear()
        self._echo = wire
        self._echo_pending = True
        return wire

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes read from the bus (any chunking)."""
        pending = self._pending
        if pending is not None and pending.header in _RAW_REPLY_HEADERS:
            self._receive_raw(pending, data)
            return
        for frame in self._parser.feed(data, now):
            self._on_frame(frame)

    def next_event(self) -> HostEvent | None:
        """The next reply, oldest first, or ``None``."""
        return self._events.popleft() if self._events else None

    def timeout(self) -> None:
        """The reply window has closed: stop waiting for the pending request.

        For 253/252 this also delivers address bytes held back because they
        looked like the start of an echo (on a line without echo).
        """
        pending = self._pending
        if pending is not None and pending.header in _RAW_REPLY_HEADERS:
            self._emit_raw(pending)
        self._pending = None
        self._echo_pending = False

    # ----------------------------------------------------------------- internals

    def _on_frame(self, frame: Frame) -> None:
        pending = self._pending
        if frame.dest != self.address:
            if (
                pending is not None
                and self._echo_pending
                and encode_frame(frame, self.checksum) == self._echo
            ):
                self._echo_pending = False
                self.echoes_skipped += 1
            else:
                self.stray_frames += 1
            return
        if pending is None:
            self.stray_frames += 1
            return
        if self.checksum == "simple" and frame.src != pending.dest:
            self.stray_frames += 1  # another device's reply to someone else
            return
        self._events.append(Response(pending, frame.header, frame.data, pending.dest))
        self._pending = None  # one reply per request

    def _receive_raw(self, pending: Request, data: bytes) -> None:
        self._raw += data
        if self._echo_pending:
            echo, held = self._echo, bytes(self._raw)
            if echo.startswith(held):
                return  # could still be our echo: wait (timeout() releases it)
            if held.startswith(echo):
                del self._raw[: len(echo)]
                self.echoes_skipped += 1
            self._echo_pending = False  # echo seen, or this line has none
        self._emit_raw(pending)

    def _emit_raw(self, pending: Request) -> None:
        for byte in self._raw:
            self._events.append(RawResponse(pending, byte))
        self._raw.clear()


@dataclass(frozen=True, slots=True)
class CreditPollResult:
    """What one 229 read told the host.

    Attributes
    ----------
    counter : int
        Event counter read.
    events : tuple of BufferedEvent
        New events, **oldest first** (at most 5).
    lost : int
        Events that happened but were pushed out before this read (0 normally).
    device_reset : bool
        The counter is back at 0: the device is in its power-up state and must
        be re-enabled (inhibits, master inhibit).
    baseline : bool
        First read with no known previous counter: the counter was recorded
        and nothing is reported, since those events may predate this host.
    """

    counter: int
    events: tuple[BufferedEvent, ...]
    lost: int
    device_reset: bool
    baseline: bool = False


class CreditPoller:
    """Host-side 229 tracking with the right counter arithmetic.

    Parameters
    ----------
    last_counter : int, optional
        Counter from a previous session (persisted by the caller); ``None``
        makes the first read a baseline.

    Attributes
    ----------
    last_counter : int or None
        Counter at the last read.
    total_lost : int
        Sum of ``lost`` over all reads.
    resets : int
        Device resets seen (counter returning to 0).
    """

    def __init__(self, last_counter: int | None = None) -> None:
        if last_counter is not None and not 0 <= last_counter <= 255:
            raise ValueError(f"event counter is a byte, got {last_counter}")
        self.last_counter = last_counter
        self.total_lost = 0
        self.resets = 0

    def update(self, reply: bytes | CreditBufferSnapshot) -> CreditPollResult:
        """Account for one 229 reply.

        Parameters
        ----------
        reply : bytes or CreditBufferSnapshot
            The 11-byte reply payload, or its decoded form.

        Returns
        -------
        CreditPollResult
            New events oldest first, losses and resets.
        """
        snapshot = (
            reply
            if isinstance(reply, CreditBufferSnapshot)
            else CreditBufferSnapshot.from_bytes(reply)
        )
        counter, last = snapshot.counter, self.last_counter
        self.last_counter = counter
        if counter == 0:
            reset = last != 0  # includes the first read: a fresh device needs enabling
            self.resets += int(reset and last is not None)
            return CreditPollResult(counter, (), 0, device_reset=reset)
        if last is None:
            return CreditPollResult(counter, (), 0, device_reset=False, baseline=True)
        new = new_event_count(last, counter)
        lost = max(0, new - BUFFER_DEPTH)
        self.total_lost += lost
        return CreditPollResult(counter, snapshot.newest(new), lost, device_reset=False)
