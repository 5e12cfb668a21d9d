"""ccTalk framer: frame codec, checksums and an incremental, time-aware parser.

A frame on the wire is ``[dest][len][src][header][data x len][checksum]``, 5 to 260
bytes.  Two integrity modes exist:

``"simple"``
    the whole frame sums to 0 mod 256;
``"crc16"``
    CRC-CCITT/XMODEM (poly 0x1021, init 0, no reflection) over dest, len, header
    and data; its low byte takes the place of src, its high byte the place of the
    checksum.  The source address is therefore not transmitted and is *implied*.

This is the bottom layer of the bridge (pymodbus' "framer"): it knows bytes and
frames, nothing about what a header means.  It does no I/O and reads no clock:
the caller passes ``now`` (seconds, any monotonic origin) with every chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from firmware_bridge.cctalk.headers import Address

__all__ = [
    "INTER_BYTE_TIMEOUT_S",
    "MAX_FRAME_LEN",
    "MIN_FRAME_LEN",
    "ChecksumMode",
    "Frame",
    "FrameError",
    "FrameParser",
    "ParserStats",
    "checksum_ok",
    "crc16_xmodem",
    "decode_frame",
    "encode_frame",
    "simple_checksum",
]

ChecksumMode = Literal["simple", "crc16"]

#: A gap longer than this between two bytes ends (discards) a partial frame.
INTER_BYTE_TIMEOUT_S = 0.050
#: dest, len, src, header, checksum with no data.
MIN_FRAME_LEN = 5
#: The length byte allows at most 255 data bytes.
MAX_FRAME_LEN = MIN_FRAME_LEN + 255

_CHECKSUM_MODES: tuple[ChecksumMode, ...] = ("simple", "crc16")


class FrameError(ValueError):
    """Raised by :func:`decode_frame` for bytes that are not one valid frame."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One ccTalk message, independent of its integrity mode.

    Attributes
    ----------
    dest : int
        Destination address, 0-255 (0 broadcast, 1 host).
    src : int
        Source address, 0-255.  In CRC-16 mode it is not on the wire; decoders
        fill in the implied source (the host, by default).
    header : int
        Header (command) byte; 0 is a reply.
    data : bytes
        Payload, at most 255 bytes.
    """

    dest: int
    src: int
    header: int
    data: bytes = b""

    def __post_init__(self) -> None:
        for name in ("dest", "src", "header"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 255:
                raise ValueError(f"{name} must be a byte value 0-255, got {value!r}")
        if not isinstance(self.data, bytes):
            # bytearray would make the frozen dataclass unhashable and mutable.
            object.__setattr__(self, "data", bytes(self.data))
        if len(self.data) > 255:
            raise ValueError(f"data is at most 255 bytes, got {len(self.data)}")

    def to_bytes(self, checksum: ChecksumMode = "simple") -> bytes:
        """Encode this frame; shorthand for :func:`encode_frame`."""
        return encode_frame(self, checksum)


def simple_checksum(body: bytes) -> int:
    """Checksum byte that makes ``body`` plus itself sum to 0 mod 256."""
    return -sum(body) & 0xFF


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC16_TABLE = _crc16_table()


def crc16_xmodem(data: bytes) -> int:
    """CRC-CCITT/XMODEM: poly 0x1021, init 0, no reflection, no final xor.

    Parameters
    ----------
    data : bytes
        The covered bytes (for ccTalk: dest, len, header, data).

    Returns
    -------
    int
        The 16-bit CRC; ``crc16_xmodem(b"\\x28\\x00\\x01") == 0x3F46``.
    """
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16_TABLE[(crc >> 8) ^ byte]
    return crc


def _check_mode(checksum: str) -> None:
    if checksum not in _CHECKSUM_MODES:
        raise ValueError(f"checksum must be one of {_CHECKSUM_MODES}, got {checksum!r}")


def encode_frame(frame: Frame, checksum: ChecksumMode = "simple") -> bytes:
    """Encode a frame to wire bytes.

    Parameters
    ----------
    frame : Frame
        The message.  In ``"crc16"`` mode ``frame.src`` is not transmitted.
    checksum : {"simple", "crc16"}
        Integrity mode.

    Returns
    -------
    bytes
        ``5 + len(frame.data)`` bytes.
    """
    _check_mode(checksum)
    length = len(frame.data)
    if checksum == "simple":
        body = bytes((frame.dest, length, frame.src, frame.header)) + frame.data
        return body + bytes((simple_checksum(body),))
    crc = crc16_xmodem(bytes((frame.dest, length, frame.header)) + frame.data)
    return bytes((frame.dest, length, crc & 0xFF, frame.header)) + frame.data + bytes((crc >> 8,))


def checksum_ok(raw: bytes, checksum: ChecksumMode = "simple") -> bool:
    """Whether ``raw`` (exactly one frame's bytes, length already right) checks out."""
    if checksum == "simple":
        return sum(raw) & 0xFF == 0
    crc = crc16_xmodem(bytes((raw[0], raw[1])) + raw[3:-1])
    return crc == raw[2] | (raw[-1] << 8)


def _unchecked(raw: bytes, checksum: ChecksumMode, implied_src: int) -> Frame:
    src = raw[2] if checksum == "simple" else implied_src
    return Frame(dest=raw[0], src=src, header=raw[3], data=bytes(raw[4:-1]))


def decode_frame(
    raw: bytes, checksum: ChecksumMode = "simple", *, implied_src: int = Address.HOST
) -> Frame:
    """Decode exactly one frame.

    Parameters
    ----------
    raw : bytes
        The frame's bytes, nothing before or after.
    checksum : {"simple", "crc16"}
        Integrity mode.
    implied_src : int
        Source address reported for CRC-16 frames, which do not carry one.

    Returns
    -------
    Frame
        The decoded message.

    Raises
    ------
    FrameError
        Wrong length for the length byte, or a bad checksum/CRC.
    """
    _check_mode(checksum)
    raw = bytes(raw)
    if len(raw) < MIN_FRAME_LEN:
        raise FrameError(f"a frame is at least {MIN_FRAME_LEN} bytes, got {len(raw)}")
    if len(raw) != raw[1] + MIN_FRAME_LEN:
        raise FrameError(f"length byte says {raw[1]} data bytes, frame holds {len(raw) - 5}")
    if not checksum_ok(raw, checksum):
        raise FrameError(f"bad {checksum} checksum in {raw.hex(' ')}")
    return _unchecked(raw, checksum, implied_src)


@dataclass(slots=True)
class ParserStats:
    """What a :class:`FrameParser` threw away, for header 2 (comms status).

    Attributes
    ----------
    rx_timeouts : int
        Partial frames discarded because an inter-byte gap exceeded the timeout.
    bytes_ignored : int
        Bytes that did not end up in a valid frame.
    bad_checksums : int
        Frame-aligned candidates whose checksum failed (garbage the parser slides
        over after losing sync is counted in ``bytes_ignored`` only, so one
        corrupted request counts once, not once per byte).
    frames : int
        Valid frames delivered.
    """

    rx_timeouts: int = 0
    bytes_ignored: int = 0
    bad_checksums: int = 0
    frames: int = 0

    def clear(self) -> None:
        """Zero every counter (header 3, clear comms status)."""
        self.rx_timeouts = self.bytes_ignored = self.bad_checksums = self.frames = 0


class FrameParser:
    """Incremental ccTalk frame parser for a byte stream with arrival times.

    Accepts arbitrary chunks: whole frames, single bytes, several frames at
    once, garbage before and after.  It never raises on received bytes.

    Parameters
    ----------
    checksum : {"simple", "crc16"}
        Integrity mode of the bus.
    inter_byte_timeout : float
        Seconds of silence that end a partial frame (ccTalk: about 50 ms).
    implied_src : int
        Source address given to CRC-16 frames, which carry none.

    Notes
    -----
    Resynchronisation: when a complete candidate (as long as its length byte
    says) fails its checksum, the parser drops *one* byte and tries again from
    the next, because the real frame may start anywhere inside the bad one.

    Junk can make the parser wait: one stray byte before ``02 00 01 F2 0B``
    reads as a frame of length 2 that needs 7 bytes.  It does not guess frames
    inside a candidate that is still incomplete, since a guess could cut a real
    frame that is still arriving.  Instead the inter-byte gap ends it: a partial
    frame older than the timeout is discarded, as ccTalk prescribes, except
    that if its bytes *end* with one complete valid frame, that frame is
    delivered (the sender stopped, so a real frame behind junk ends exactly
    there).  That saves the host a retry after line noise.
    """

    def __init__(
        self,
        checksum: ChecksumMode = "simple",
        *,
        inter_byte_timeout: float = INTER_BYTE_TIMEOUT_S,
        implied_src: int = Address.HOST,
    ) -> None:
        _check_mode(checksum)
        self.checksum: ChecksumMode = checksum
        self.inter_byte_timeout = inter_byte_timeout
        self.implied_src = implied_src
        self.stats = ParserStats()
        self._buf = bytearray()
        self._last_rx: float | None = None
        # True while the buffer starts at a believed frame boundary: after a
        # valid frame, a timeout, or at start.  Only then does a bad candidate
        # count as a bad checksum or a discarded partial as an rx timeout.
        self._synced = True

    @property
    def pending(self) -> int:
        """Bytes held as a partial frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial frame (stats are kept)."""
        self._buf.clear()
        self._synced = True

    def expire(self, now: float) -> list[Frame]:
        """End the partial frame if the line has been silent too long.

        Parameters
        ----------
        now : float
            Current time in seconds (same clock as :meth:`feed`).

        Returns
        -------
        list of Frame
            At most one frame salvaged from the discarded bytes (see Notes of
            the class); usually empty.
        """
        if not self._buf or self._last_rx is None:
            return []
        # A clock that goes backwards (or NaN) never counts as a gap.
        if not now - self._last_rx > self.inter_byte_timeout:
            return []
        salvaged = self._salvage()
        if salvaged is None:
            if self._synced:
                self.stats.rx_timeouts += 1
            self.stats.bytes_ignored += len(self._buf)
            self.reset()
            return []
        start, frame = salvaged
        self.stats.bytes_ignored += start
        self.stats.frames += 1
        self.reset()
        return [frame]

    def _salvage(self) -> tuple[int, Frame] | None:
        # The sender has stopped, so a real frame hidden behind junk would end
        # exactly at the end of the buffer: look for the earliest such suffix.
        buf = self._buf
        for start in range(1, len(buf) - MIN_FRAME_LEN + 1):
            if buf[start + 1] + MIN_FRAME_LEN != len(buf) - start:
                continue
            raw = bytes(buf[start:])
            if checksum_ok(raw, self.checksum):
                return start, _unchecked(raw, self.checksum, self.implied_src)
        return None

    def feed(self, data: bytes, now: float) -> list[Frame]:
        """Add received bytes and return the frames they complete.

        Parameters
        ----------
        data : bytes
            Bytes as read from the line (may be empty: then only the timeout
            is applied).
        now : float
            Arrival time of ``data`` in seconds.

        Returns
        -------
        list of Frame
            Complete, checksum-valid frames in arrival order.
        """
        frames = self.expire(now)
        if not data:
            return frames
        self._buf += data
        self._last_rx = now
        frames.extend(self._extract())
        return frames

    def _extract(self) -> list[Frame]:
        frames: list[Frame] = []
        buf = self._buf
        while len(buf) >= 2:
            need = buf[1] + MIN_FRAME_LEN
            if len(buf) < need:
                break  # wait for the rest, or for the gap that discards it
            raw = bytes(buf[:need])
            if checksum_ok(raw, self.checksum):
                frames.append(_unchecked(raw, self.checksum, self.implied_src))
                del buf[:need]
                self.stats.frames += 1
                self._synced = True
                continue
            if self._synced:
                self.stats.bad_checksums += 1
                self._synced = False
            del buf[0]
            self.stats.bytes_ignored += 1
        return frames
