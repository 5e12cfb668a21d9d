"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999), basic variant.

COBS rewrites a byte string so that it contains no 0x00, at a cost of at most
one byte per 254 plus one, which leaves 0x00 free to delimit frames on the
serial line: a receiver that loses sync waits for the next 0x00 and is back.

Written here rather than taken from the ``cobs`` package on PyPI: its current
release ships only as a source distribution with a C extension that silently
falls back to pure Python when no compiler is present, and it has no type
information (no ``py.typed``, names star-imported from the extension), so mypy
would see ``Any``.  The algorithm is twenty lines and is specified byte for
byte in ``docs/sensor-link.md`` for the firmware side anyway.
"""

from __future__ import annotations

#: The longest block a single code byte can describe (code 0xFF: 254 data bytes, no zero).
_MAX_BLOCK = 254


class CobsDecodeError(ValueError):
    """The input is not a valid COBS encoding."""


def max_encoded_len(n: int) -> int:
    """The largest COBS encoding of ``n`` bytes (without delimiter).

    One code byte per started 254-byte block, and one for an empty input.
    """
    return n + n // _MAX_BLOCK + 1


def encode(data: bytes | bytearray | memoryview) -> bytes:
    """COBS-encode ``data``; the result holds no 0x00 byte.

    Each zero-free chunk of the input becomes code bytes (chunk length + 1)
    followed by the chunk; a chunk of 254 or more is cut into 0xFF blocks, and
    a 0xFF block implies no zero after it.  As in the paper, no final code byte
    is written when the data ends exactly on a full 0xFF block.
    """
    out = bytearray()
    chunks = bytes(data).split(b"\x00")
    last = len(chunks) - 1
    for i, chunk in enumerate(chunks):
        start = 0
        # Full blocks: code 0xFF, 254 bytes, no implied zero.
        while len(chunk) - start >= _MAX_BLOCK:
            out.append(0xFF)
            out += chunk[start : start + _MAX_BLOCK]
            start += _MAX_BLOCK
        rest = len(chunk) - start
        if i == last and rest == 0 and start > 0:
            # The data ended exactly on a full block: nothing more to say.
            break
        out.append(rest + 1)
        out += chunk[start:]
    return bytes(out)


def decode(data: bytes | bytearray | memoryview) -> bytes:
    """Decode a COBS block sequence (without its delimiter).

    Raises
    ------
    CobsDecodeError
        If the input holds a 0x00 or a code byte points past its end.
    """
    buf = bytes(data)
    n = len(buf)
    if 0 in buf:
        raise CobsDecodeError("0x00 inside a COBS frame")
    # Walk the code bytes only; the data bytes between them are copied by slicing.
    out = bytearray()
    i = 0
    while i < n:
        code = buf[i]
        end = i + code
        if end > n:
            raise CobsDecodeError(f"code byte at offset {i} points past the end of the frame")
        out += buf[i + 1 : end]
        if code != 0xFF and end < n:
            # Every block but a full one implies a zero, except the very last block.
            out.append(0)
        i = end
    return bytes(out)
