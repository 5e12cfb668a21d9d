"""MDB words as bytes on an 8-bit line: the two encodings the transports use.

Two-byte words (pseudo-terminals, tests, simulators)
    each 9-bit word is two bytes: a flag byte, ``0x01`` when the mode bit is set
    and ``0x00`` when not, then the data byte.  The encoding is fixed so that
    independent test tools can drive the changer: ``10B 0B`` (POLL) is
    ``01 0B 00 0B``.  :class:`TwoByteDecoder` resynchronises on a flag byte that
    is neither 0 nor 1 (dropped) and on a silent gap (a half word is dropped).

A real UART with mark/space parity and PARMRK (Linux)
    the ninth bit travels as the parity bit.  Sending: parity *mark* for a
    mode-bit word, *space* otherwise (the transport switches between runs of
    words, :func:`parity_runs`).  Receiving, the line is set to *space* parity
    with ``INPCK | PARMRK`` (``ISTRIP`` and ``IGNPAR`` clear): a byte whose
    ninth bit is 1 fails the space parity check, and the kernel delivers it as
    ``FF 00 <byte>``; a plain data byte ``FF`` is doubled as ``FF FF``; every
    other byte comes as itself.  :class:`ParmrkDecoder` turns that stream back
    into words: ``FF 00 x`` -> ``x`` with the mode bit, ``FF FF`` -> ``FF``,
    ``x`` -> ``x``.  A framing error is marked the same way as a parity error
    (so it reads as a mode bit, and the block it lands in fails its checksum or
    its length); a break would read as ``FF 00 00``, so the transport sets
    ``IGNBRK``.

Neither codec does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from firmware_bridge.mdb.words import MODE_BIT

__all__ = [
    "FLAG_DATA",
    "FLAG_MODE",
    "TWO_BYTE_GAP_S",
    "ParmrkDecoder",
    "TwoByteDecoder",
    "encode_two_byte",
    "parity_runs",
    "parmrk_stream",
]

#: First byte of a two-byte word without the mode bit.
FLAG_DATA = 0x00
#: First byte of a two-byte word with the mode bit.
FLAG_MODE = 0x01
#: Silence after which a half word (a flag byte alone) is dropped.  Senders write
#: whole words, so a longer gap inside one means a byte was lost.
TWO_BYTE_GAP_S = 0.020


def encode_two_byte(words: Iterable[int]) -> bytes:
    """Words as flag/data byte pairs: ``[0x10B, 0x0B]`` -> ``01 0B 00 0B``."""
    out = bytearray()
    for w in words:
        out.append(FLAG_MODE if w & MODE_BIT else FLAG_DATA)
        out.append(w & 0xFF)
    return bytes(out)


class TwoByteDecoder:
    """Incremental decoder of the two-byte word encoding; never raises on received bytes.

    Parameters
    ----------
    gap_s : float
        Silence that ends a half word (see :data:`TWO_BYTE_GAP_S`).

    Attributes
    ----------
    bytes_ignored : int
        Bytes that were not part of a word (a bad flag, a half word ended by a gap).
    """

    def __init__(self, gap_s: float = TWO_BYTE_GAP_S) -> None:
        self.gap_s = gap_s
        self.bytes_ignored = 0
        self._flag: int | None = None
        self._last_rx: float | None = None

    def reset(self) -> None:
        """Forget a half word."""
        if self._flag is not None:
            self.bytes_ignored += 1
        self._flag = None

    def feed(self, data: bytes, now: float | None = None) -> list[int]:
        """Bytes in (any chunking), words out.

        Parameters
        ----------
        data : bytes
            Bytes as read.
        now : float, optional
            Their arrival time in seconds; without it no gap is applied.

        Returns
        -------
        list of int
            Complete words, in order.
        """
        if now is not None and self._last_rx is not None and now - self._last_rx > self.gap_s:
            self.reset()
        if data and now is not None:
            self._last_rx = now
        words: list[int] = []
        for b in data:
            if self._flag is None:
                if b in (FLAG_DATA, FLAG_MODE):
                    self._flag = b
                else:
                    self.bytes_ignored += 1  # out of step: the next 0 or 1 may start a word
                continue
            words.append(b | (MODE_BIT if self._flag == FLAG_MODE else 0))
            self._flag = None
        return words


def parmrk_stream(words: Iterable[int]) -> bytes:
    """What a Linux tty set as in the module notes delivers for ``words`` (tests, docs)."""
    out = bytearray()
    for w in words:
        b = w & 0xFF
        if w & MODE_BIT:
            out += bytes((0xFF, 0x00, b))
        elif b == 0xFF:
            out += b"\xff\xff"
        else:
            out.append(b)
    return bytes(out)


class ParmrkDecoder:
    """Incremental decoder of a PARMRK-marked byte stream into words; never raises.

    Attributes
    ----------
    bytes_ignored : int
        ``FF`` followed by anything but ``FF`` or ``00`` (a stream the kernel
        does not produce: the ``FF`` is dropped, the byte after it read again).
    """

    def __init__(self) -> None:
        self.bytes_ignored = 0
        self._state = 0  # 0: plain, 1: after FF, 2: after FF 00

    def reset(self) -> None:
        """Forget a partial mark (the transport reopened the port)."""
        self._state = 0

    def feed(self, data: bytes) -> list[int]:
        """Bytes as read from the tty, words out (any chunking)."""
        words: list[int] = []
        for b in data:
            if self._state == 2:
                words.append(b | MODE_BIT)  # parity error: the ninth bit was 1
                self._state = 0
            elif self._state == 1:
                if b == 0xFF:
                    words.append(0xFF)
                    self._state = 0
                elif b == 0x00:
                    self._state = 2
                else:
                    self.bytes_ignored += 1
                    self._state = 0
                    words.append(b)
            elif b == 0xFF:
                self._state = 1
            else:
                words.append(b)
        return words


def parity_runs(words: Iterable[int]) -> list[tuple[bool, bytes]]:
    """Split words into runs sent with one parity: ``(mark, bytes)`` per run.

    A peripheral's data response is one *space* run and a one-byte *mark* run
    (the CHK); a VMC command is a *mark* run (the address) and a *space* run.
    """
    runs: list[tuple[bool, bytearray]] = []
    for w in words:
        mark = bool(w & MODE_BIT)
        if not runs or runs[-1][0] != mark:
            runs.append((mark, bytearray()))
        runs[-1][1].append(w & 0xFF)
    return [(mark, bytes(data)) for mark, data in runs]
