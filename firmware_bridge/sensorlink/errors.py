"""What can go wrong on the sensor link, as values rather than exceptions.

The receiving side never raises on what the peer sent (a remote error): every
problem becomes a :class:`LinkError` event, counted, and the stream goes on at
the next frame delimiter.  Only the local side's own mistakes raise
(:class:`LocalProtocolError`), as in h11.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LinkErrorKind(enum.Enum):
    """Why a run of received bytes did not become a delivered message."""

    #: A run of bytes between delimiters longer than the frame limit; discarded unbuffered.
    OVERSIZE = "oversize"
    #: The run is not valid COBS (a code byte points past the end of the run).
    COBS = "cobs"
    #: The decoded frame is shorter than header plus CRC.
    SHORT_FRAME = "short_frame"
    #: The CRC-32 does not match the frame body.
    CRC = "crc"
    #: The frame's version byte is not one we speak.
    VERSION = "version"
    #: The message type byte is not in the decode table.
    UNKNOWN_TYPE = "unknown_type"
    #: A valid frame carries a message this role never receives (e.g. an engine sent a signature).
    UNEXPECTED = "unexpected"
    #: The payload does not match its message layout (truncated, trailing bytes, bad enum...).
    MALFORMED = "malformed"
    #: A well-formed signature message that breaks spec section 2.
    INVALID_SIGNATURE = "invalid_signature"
    #: The frame repeats the last accepted sequence number; dropped.
    DUPLICATE = "duplicate"
    #: The frame's sequence number is older than the last accepted one; dropped.
    OUT_OF_ORDER = "out_of_order"
    #: Frames are missing before this one (informational: the message is still delivered).
    SEQUENCE_GAP = "sequence_gap"


@dataclass(frozen=True, slots=True)
class LinkError:
    """An event: something received could not be delivered as a message.

    Attributes
    ----------
    kind : LinkErrorKind
    detail : str
        Human-readable explanation, for logs.
    seq : int or None
        The frame's sequence number when it is known (the frame passed its CRC),
        else None.  For a signature frame this is the coin's sequence number, so
        the engine can still answer the coin with a reject.
    message_type : int or None
        The frame's type byte when it is known (the frame passed its CRC).
    """

    kind: LinkErrorKind
    detail: str
    seq: int | None = None
    message_type: int | None = None


class LocalProtocolError(ValueError):
    """The local side tried to send something the protocol forbids."""


class MessageDecodeError(ValueError):
    """A frame body could not be decoded into a message (a remote error).

    Raised by the message layer and turned into a :class:`LinkError` by
    :class:`~firmware_bridge.sensorlink.protocol.SensorLink`; never escapes
    ``receive_data``/``next_event``.
    """

    def __init__(self, kind: LinkErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
