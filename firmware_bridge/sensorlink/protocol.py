"""The sans-I/O sensor-link endpoint: bytes in, events out; messages in, bytes out.

:class:`SensorLink` does no I/O and keeps no clock, like h11's Connection.
The caller owns the serial port::

    link = SensorLink("engine")
    link.receive_data(port.read(port.in_waiting or 1))
    while (event := link.next_event()) is not None:
        ...  # a Message, or a LinkError
    port.write(link.send(GateCommand(coin_seq, GateAction.ACCEPT, 1)))

Remote problems (anything the peer sent) become :class:`LinkError` events and
are counted; local mistakes (sending what this role may not send, a message
too big for a frame) raise :class:`LocalProtocolError`.
"""

from __future__ import annotations

import types
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from coinval.signature import SignatureError
from firmware_bridge.sensorlink.errors import (
    LinkError,
    LinkErrorKind,
    LocalProtocolError,
    MessageDecodeError,
)
from firmware_bridge.sensorlink.framing import MAX_FRAME_SIZE, Frame, FrameDecoder
from firmware_bridge.sensorlink.messages import (
    Hello,
    Message,
    MessageType,
    Role,
    SignatureMessage,
    decode_message,
    encode_message,
)
from firmware_bridge.sensorlink.sequence import SequenceTracker, SeqVerdict, next_seq, seq_newer

Event = Message | LinkError

#: What each role may receive; it may send what the other role receives.
RECEIVES: Mapping[Role, frozenset[MessageType]] = {
    Role.ENGINE: frozenset(
        {
            MessageType.HELLO,
            MessageType.STATUS,
            MessageType.SIGNATURE,
            MessageType.CREDIT_SENSOR,
            MessageType.FAULT,
        }
    ),
    Role.BOARD: frozenset({MessageType.HELLO, MessageType.GATE_COMMAND}),
}
#: What each role may send: what the other end receives.
SENDS: Mapping[Role, frozenset[MessageType]] = {
    Role.ENGINE: RECEIVES[Role.BOARD],
    Role.BOARD: RECEIVES[Role.ENGINE],
}


@dataclass(frozen=True, slots=True)
class LinkStats:
    """A snapshot of one endpoint's counters.

    Attributes
    ----------
    bytes_received : int
        Everything passed to ``receive_data``.
    bytes_discarded : int
        Bytes dropped unexamined inside oversize runs.
    messages_received, messages_sent : int
        Messages delivered by ``next_event`` / encoded by ``send``.
    errors : Mapping[LinkErrorKind, int]
        LinkError events reported, per kind (kinds never seen are absent).
    """

    bytes_received: int
    bytes_discarded: int
    messages_received: int
    messages_sent: int
    errors: Mapping[LinkErrorKind, int]


class SensorLink:
    """One end of the sensor link.

    Parameters
    ----------
    role : Role or {"engine", "board"}
        Which end this is; decides which messages may be sent and received.
    max_frame : int
        Largest decoded frame accepted, bytes (body + CRC).

    Notes
    -----
    Call :meth:`next_event` until it returns None after each
    :meth:`receive_data`: frames are split as bytes arrive (so an endless run
    without a delimiter is bounded) but decoded only when asked for.
    """

    def __init__(
        self, role: Role | Literal["engine", "board"], *, max_frame: int = MAX_FRAME_SIZE
    ) -> None:
        if isinstance(role, Role):
            self.role = role
        elif role in ("engine", "board"):
            self.role = Role[role.upper()]
        else:
            raise ValueError(f"role must be 'engine' or 'board', got {role!r}")
        self._decoder = FrameDecoder(max_frame)
        self._events: deque[Event] = deque()
        self._rx_seq = SequenceTracker()
        self._last_sent = 0
        self._peer_hello: Hello | None = None
        self._bytes_received = 0
        self._received = 0
        self._sent = 0
        self._errors: Counter[LinkErrorKind] = Counter()

    # -- receiving ---------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Take bytes read from the port.  Never raises on their content."""
        self._bytes_received += len(data)
        self._decoder.feed(data)

    def next_event(self) -> Event | None:
        """The next message or LinkError, or None when more data is needed."""
        while not self._events:
            item = self._decoder.next_frame()
            if item is None:
                return None
            if isinstance(item, LinkError):
                self._error(item)
            else:
                self._handle(item)
        event = self._events.popleft()
        if not isinstance(event, LinkError):
            self._received += 1
        return event

    def _error(self, error: LinkError) -> None:
        self._errors[error.kind] += 1
        self._events.append(error)

    def _reject(self, frame: Frame, kind: LinkErrorKind, detail: str) -> None:
        self._error(LinkError(kind, detail, seq=frame.seq, message_type=frame.type))

    def _handle(self, frame: Frame) -> None:
        # Sequence first: a CRC-valid frame was really sent by the peer with this
        # number, whatever its payload turns out to be.
        if frame.type == MessageType.HELLO:
            self._rx_seq.reset()  # the peer may have restarted its counter
        check = self._rx_seq.observe(frame.seq)
        if check.verdict is SeqVerdict.DUPLICATE:
            self._reject(frame, LinkErrorKind.DUPLICATE, f"sequence number {frame.seq} repeated")
            return
        if check.verdict is SeqVerdict.OUT_OF_ORDER:
            self._reject(
                frame,
                LinkErrorKind.OUT_OF_ORDER,
                f"sequence number {frame.seq} is older than {self._rx_seq.last}",
            )
            return
        if check.verdict is SeqVerdict.GAP:
            self._reject(
                frame,
                LinkErrorKind.SEQUENCE_GAP,
                f"{check.missing} frame(s) missing before sequence number {frame.seq}",
            )
        try:
            message = decode_message(frame)
        except MessageDecodeError as exc:
            self._reject(frame, exc.kind, exc.detail)
            return
        if message.TYPE not in RECEIVES[self.role]:
            self._reject(
                frame,
                LinkErrorKind.UNEXPECTED,
                f"a {self.role.name.lower()} does not receive {type(message).__name__}",
            )
            return
        if isinstance(message, Hello):
            if message.role == self.role:
                self._reject(
                    frame,
                    LinkErrorKind.UNEXPECTED,
                    f"Hello from another {self.role.name.lower()}: a loop on the line?",
                )
                return
            self._peer_hello = message
        elif isinstance(message, SignatureMessage):
            try:
                message.to_signature()
            except SignatureError as exc:
                # The seq rides along so the engine can still answer the coin (reject).
                self._reject(frame, LinkErrorKind.INVALID_SIGNATURE, str(exc))
                return
        self._events.append(message)

    # -- sending -----------------------------------------------------------

    @staticmethod
    def preamble() -> bytes:
        """Bytes to write when (re)opening the port, before the first frame.

        A lone delimiter: it ends whatever half frame the peer may hold from
        before, so that our first frame is not lost with it.
        """
        return b"\x00"

    def send(self, message: Message) -> bytes:
        """The wire bytes for ``message``, numbered if its ``seq`` is 0.

        The number used is then :attr:`last_sent_seq` (a board keeps it to
        match the gate command to the coin).  An explicit ``seq`` is used as
        given, and moves the counter on only if it is ahead of it.

        Raises
        ------
        LocalProtocolError
            This role may not send this message, or it does not fit in a frame.
        """
        if message.TYPE not in SENDS[self.role]:
            raise LocalProtocolError(
                f"a {self.role.name.lower()} does not send {type(message).__name__}"
            )
        if isinstance(message, Hello) and message.role != self.role:
            raise LocalProtocolError(f"a {self.role.name.lower()} must say Hello as itself")
        seq = message.seq or next_seq(self._last_sent)
        try:
            data = encode_message(message, seq)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from exc
        if self._last_sent == 0 or seq_newer(seq, self._last_sent):
            self._last_sent = seq
        self._sent += 1
        return data

    # -- state -------------------------------------------------------------

    @property
    def last_sent_seq(self) -> int:
        """The sequence number of the last frame sent (0 before the first)."""
        return self._last_sent

    @property
    def peer_hello(self) -> Hello | None:
        """The peer's last accepted Hello, if any."""
        return self._peer_hello

    @property
    def stats(self) -> LinkStats:
        """A snapshot of the counters."""
        return LinkStats(
            bytes_received=self._bytes_received,
            bytes_discarded=self._decoder.bytes_discarded,
            messages_received=self._received,
            messages_sent=self._sent,
            errors=types.MappingProxyType(dict(self._errors)),
        )
