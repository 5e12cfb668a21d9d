"""The frame layer: bytes on the wire <-> (type, sequence number, payload).

On the wire a frame is ``COBS(body || CRC-32(body)) || 0x00`` where the body is

====== ==== ======= ============================================
offset size type    meaning
====== ==== ======= ============================================
0      1    u8      frame format version, :data:`VERSION` (1)
1      1    u8      message type
2      4    u32 LE  sequence number, 1 to 2**32-1 (0 is reserved)
6      n    bytes   payload, laid out per message type
====== ==== ======= ============================================

and the CRC is ``zlib.crc32`` (CRC-32/ISO-HDLC) of the body, little-endian.

:class:`FrameDecoder` splits a byte stream at 0x00 as it arrives, so that
nothing longer than one frame limit is ever buffered, and checks each run
lazily when asked for the next frame.  Nothing here knows the message types.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from dataclasses import dataclass

from firmware_bridge.sensorlink import cobs
from firmware_bridge.sensorlink.errors import LinkError, LinkErrorKind

#: The frame format version this code speaks.
VERSION = 1
#: Size of the body header: version, type, sequence number.
HEADER_SIZE = 6
#: Size of the CRC trailer.
CRC_SIZE = 4
#: Largest decoded frame (body + CRC).  The largest spec-valid signature is about
#: 98 KB as float32 traces (4 x 4096 eddy samples with the v1.1 loss traces, and
#: 8192 rim samples), so 128 KiB leaves room for its id and head.
MAX_FRAME_SIZE = 128 * 1024
#: Largest sequence number; the counter wraps from here to 1, never to 0.
SEQ_MAX = 0xFFFF_FFFF

_HEADER = struct.Struct("<BBI")
_CRC = struct.Struct("<I")


class FrameTooLargeError(ValueError):
    """A local message would not fit in one frame."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame that passed its CRC and version checks.

    Attributes
    ----------
    type : int
        Message type byte (not yet checked against the decode table).
    seq : int
        Sequence number, 1 to :data:`SEQ_MAX`.
    payload : bytes
        The message payload, not yet decoded.
    """

    type: int
    seq: int
    payload: bytes


def encode_frame(msg_type: int, seq: int, payload: bytes, max_frame: int = MAX_FRAME_SIZE) -> bytes:
    """The wire bytes of one frame, delimiter included.

    Raises
    ------
    ValueError
        If ``msg_type`` or ``seq`` is out of range.
    FrameTooLargeError
        If the decoded frame would exceed ``max_frame`` bytes.
    """
    if not 0 <= msg_type <= 0xFF:
        raise ValueError(f"message type {msg_type} is not a byte")
    if not 1 <= seq <= SEQ_MAX:
        raise ValueError(f"sequence number {seq} is not in 1..{SEQ_MAX}")
    body = _HEADER.pack(VERSION, msg_type, seq) + payload
    if len(body) + CRC_SIZE > max_frame:
        raise FrameTooLargeError(
            f"frame of {len(body) + CRC_SIZE} bytes exceeds the limit of {max_frame}"
        )
    return cobs.encode(body + _CRC.pack(zlib.crc32(body))) + b"\x00"


def parse_frame(decoded: bytes, max_frame: int = MAX_FRAME_SIZE) -> Frame | LinkError:
    """Check one COBS-decoded frame (body + CRC) and split its header off."""
    if len(decoded) > max_frame:
        # The run-length bound in FrameDecoder is a few bytes looser than this one.
        return LinkError(
            LinkErrorKind.OVERSIZE, f"frame of {len(decoded)} bytes exceeds {max_frame}"
        )
    if len(decoded) < HEADER_SIZE + CRC_SIZE:
        return LinkError(
            LinkErrorKind.SHORT_FRAME,
            f"frame of {len(decoded)} bytes is shorter than header and CRC "
            f"({HEADER_SIZE + CRC_SIZE})",
        )
    body = decoded[:-CRC_SIZE]
    (crc,) = _CRC.unpack_from(decoded, len(body))
    actual = zlib.crc32(body)
    if crc != actual:
        return LinkError(LinkErrorKind.CRC, f"CRC {crc:#010x} does not match body ({actual:#010x})")
    # Only now is the header trustworthy enough to quote in an error.
    version, msg_type, seq = _HEADER.unpack_from(body)
    if version != VERSION:
        return LinkError(
            LinkErrorKind.VERSION,
            f"frame version {version} is not {VERSION}",
            seq=seq,
            message_type=msg_type,
        )
    if seq == 0:
        return LinkError(
            LinkErrorKind.MALFORMED, "sequence number 0 is reserved", message_type=msg_type
        )
    return Frame(msg_type, seq, body[HEADER_SIZE:])


class FrameDecoder:
    """Turns a received byte stream into frames and frame errors.

    Parameters
    ----------
    max_frame : int
        Largest decoded frame (body + CRC) accepted.  A longer run of non-zero
        bytes is reported once as :attr:`LinkErrorKind.OVERSIZE` and discarded
        up to the next 0x00 without being buffered.

    Notes
    -----
    ``feed`` only splits at delimiters (fast, in C via ``bytes.find``); the COBS
    and CRC work happens in ``next_frame``, one frame per call.  Empty runs
    (two 0x00 in a row) are idle fill and are skipped silently, so a sender may
    send extra 0x00 bytes to flush a receiver that might be mid-frame.
    """

    def __init__(self, max_frame: int = MAX_FRAME_SIZE) -> None:
        self.max_frame = max_frame
        self._max_run = cobs.max_encoded_len(max_frame)
        self._partial = bytearray()
        self._discarding = False
        # Complete runs (still COBS-encoded) and oversize reports, in arrival order.
        self._ready: deque[bytes | LinkError] = deque()
        #: Bytes thrown away unexamined because their run exceeded the frame limit.
        self.bytes_discarded = 0

    @property
    def buffered(self) -> int:
        """Bytes held for the frame in progress (never more than one frame limit)."""
        return len(self._partial)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take received bytes; never raises on their content."""
        view = bytes(data)
        pos = 0
        while True:
            idx = view.find(0, pos)
            if idx < 0:
                self._append(view, pos, len(view))
                return
            self._append(view, pos, idx)
            self._end_run()
            pos = idx + 1

    def next_frame(self) -> Frame | LinkError | None:
        """The next checked frame or error, or None when more data is needed."""
        if not self._ready:
            return None
        run = self._ready.popleft()
        if isinstance(run, LinkError):
            return run
        try:
            decoded = cobs.decode(run)
        except cobs.CobsDecodeError as exc:
            return LinkError(LinkErrorKind.COBS, str(exc))
        return parse_frame(decoded, self.max_frame)

    def _append(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if n == 0:
            return
        if self._discarding:
            self.bytes_discarded += n
            return
        if len(self._partial) + n > self._max_run:
            # Report once, drop what we held, and skip to the next delimiter.
            self.bytes_discarded += len(self._partial) + n
            self._partial.clear()
            self._discarding = True
            self._ready.append(
                LinkError(
                    LinkErrorKind.OVERSIZE,
                    f"more than {self._max_run} bytes without a delimiter; "
                    "discarding to the next 0x00",
                )
            )
            return
        self._partial += data[start:end]

    def _end_run(self) -> None:
        if self._discarding:
            self._discarding = False
        elif self._partial:
            self._ready.append(bytes(self._partial))
            self._partial.clear()
