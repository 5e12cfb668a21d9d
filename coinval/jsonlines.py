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


def read_lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Yield each line of a JSON Lines stream, decoded, in order.

    A line that is not JSON, or longer than ``max_bytes``, yields a :class:`Line`
    with ``error`` set; reading goes on with the next line.  A final line without
    a newline counts; a file's trailing newline does not start another line.
    """
    number = 0
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            # Skip the rest of the over-long line without holding it.
            while True:
                more = stream.readline(max_bytes)
                if not more or more.endswith(b"\n"):
                    break
            yield Line(number, error=f"line {number} is longer than {max_bytes} bytes")
            continue
        text = raw.strip()
        if not text:
            yield Line(number, error=f"line {number} is empty")
            continue
        try:
            yield Line(number, obj=orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            yield Line(number, error=f"line {number} is not valid JSON: {exc}")


def dumps_line(obj: Any) -> bytes:
    """One JSON Lines record, newline included."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY)
