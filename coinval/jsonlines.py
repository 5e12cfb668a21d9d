"""Streaming JSON Lines: bounded memory whatever the input size.

Lines are read with a length cap, so a file with no newlines (or a hostile
stream) never makes the reader hold more than one capped line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

# The longest valid signature: 2 x 4096 + 8192 numbers of up to ~25 characters.
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Line:
    """One input line: its number (from 1) and its object, or why it has none."""

    number: int
    obj: Any = None
    error: str | None = None


def read_raw_lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Yield each line undecoded: ``obj`` holds its bytes, or ``error`` why it has none.

    A line longer than ``max_bytes`` is skipped without being held in memory.
    A final line without a newline counts; a trailing newline does not start
    another line.
    """
    number = 0
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while True:
                more = stream.readline(max_bytes)
                if not more or more.endswith(b"\n"):
                    break
            yield Line(number, error=f"line {number} is longer than {max_bytes} bytes")
            continue
        yield Line(number, obj=raw)


def decode_line(line: Line) -> Line:
    """Decode a raw line from :func:`read_raw_lines` into its JSON value."""
    if line.error is not None:
        return line
    raw = line.obj  # bytes, or a memoryview of them
    # JSON allows the surrounding whitespace and newline: no need to copy the
    # line to strip it, only to tell a blank line from a JSON error.
    if len(raw) < 64 and not bytes(raw).strip():
        return Line(line.number, error=f"line {line.number} is empty")
    try:
        return Line(line.number, obj=orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        return Line(line.number, error=f"line {line.number} is not valid JSON: {exc}")


def read_lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Yield each line of a JSON Lines stream, decoded, in order.

    A line that is not JSON, or longer than ``max_bytes``, yields a :class:`Line`
    with ``error`` set; reading goes on with the next line.
    """
    for line in read_raw_lines(stream, max_bytes):
        yield decode_line(line)


def dumps_line(obj: Any) -> bytes:
    """One JSON Lines record, newline included."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY)
