"""Uploaded signature bodies, read item by item with a cap, and a bounded report of problems.

A body (a JSON array, ``{"signatures": [...]}``, a single object, or JSON Lines)
is never decoded whole: :func:`count_items` walks it once with a streaming
parser (checking its syntax and that it holds at most ``max_items``
signatures) and :func:`iter_items` yields one decoded item at a time, so
memory follows one item and the batch being worked on, not the body.

Problems are summarised by :class:`Problems`: the first few in full (index,
line, field, rule) and counts for all, never one entry per item without bound.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import ijson
import orjson

from calibration.domain.signatures import (
    JSON_TYPES,
    JSONL_TYPES,
    BadBodyError,
    Item,
    UnsupportedMediaTypeError,
)
from calibration.errors import CalibrationError
from coinval.jsonlines import MAX_LINE_BYTES, decode_line, read_raw_lines

#: Problems listed in full in a reply; the rest are only counted.
PROBLEMS_LISTED = 20

#: A body that is one signature object is at most this large (the longest valid one is less).
MAX_SINGLE_OBJECT_BYTES = MAX_LINE_BYTES


class TooManyItemsError(CalibrationError):
    """A body holding more items than one request may carry."""

    status = 413


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header (JSON when there is none)."""
    return (content_type or "application/json").split(";")[0].strip().lower()


def is_json_lines(content_type: str | None) -> bool:
    """Whether the body is JSON Lines; raises 415 for a type no upload takes."""
    kind = media_type(content_type)
    if kind in JSONL_TYPES:
        return True
    if kind in JSON_TYPES or kind.endswith("+json"):
        return False
    raise UnsupportedMediaTypeError(
        f"content type {kind!r} is not taken: send application/json (an array of "
        "signatures) or application/x-ndjson (JSON Lines)"
    )


def _first_byte(body: bytes) -> bytes:
    stripped = body.lstrip()
    return stripped[:1]


def _has_signatures_list(body: bytes) -> bool:
    """Whether a top-level object has a ``signatures`` array (walks the top level only)."""
    depth = 0
    key_seen = False
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(body), use_float=True):
            if event in ("start_map", "start_array"):
                if key_seen and depth == 1 and event == "start_array" and prefix == "signatures":
                    return True
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
            key_seen = depth == 1 and event == "map_key" and value == "signatures"
    except ijson.JSONError as exc:
        raise BadBodyError(f"the body is not valid JSON: {_short(exc)}") from None
    return False


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


@dataclass(frozen=True)
class _Shape:
    lines: bool
    prefix: str | None  # ijson prefix of the items; None: the body is one object


def _shape(body: bytes, content_type: str | None) -> _Shape:
    if is_json_lines(content_type):
        return _Shape(lines=True, prefix=None)
    first = _first_byte(body)
    if not first:
        raise BadBodyError("the body is empty: send an array of signatures")
    if first == b"[":
        return _Shape(lines=False, prefix="item")
    if first == b"{":
        if _has_signatures_list(body):
            return _Shape(lines=False, prefix="signatures.item")
        if len(body) > MAX_SINGLE_OBJECT_BYTES:
            raise TooManyItemsError(
                f"a body that is one signature object is at most {MAX_SINGLE_OBJECT_BYTES} bytes"
            )
        return _Shape(lines=False, prefix=None)
    try:
        orjson.loads(body[:MAX_SINGLE_OBJECT_BYTES])
    except orjson.JSONDecodeError:
        raise BadBodyError("the body is not valid JSON") from None
    raise BadBodyError("the body must be a JSON array of signature objects")


def _too_many(max_items: int) -> TooManyItemsError:
    return TooManyItemsError(
        f"the body holds more than {max_items} signatures, the most one request may carry "
        "(COINVAL_MAX_ITEMS_PER_REQUEST): split it"
    )


def count_items(body: bytes, content_type: str | None, max_items: int) -> int:
    """How many items the body holds, its syntax checked, before any is used.

    Raises
    ------
    UnsupportedMediaTypeError
        415: neither JSON nor JSON Lines.
    BadBodyError
        400: not valid JSON (a whole JSON body), or no items at all.
    TooManyItemsError
        413: more than ``max_items`` items (counting stops there).
    """
    shape = _shape(body, content_type)
    n = 0
    if shape.lines:
        for line in read_raw_lines(io.BytesIO(body)):
            if line.error is None and not bytes(line.obj).strip():
                continue
            n += 1
            if n > max_items:
                raise _too_many(max_items)
    elif shape.prefix is None:
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadBodyError(f"the body is not valid JSON: {exc}") from None
        n = 1
    else:
        try:
            for _ in ijson.items(io.BytesIO(body), shape.prefix, use_float=True):
                n += 1
                if n > max_items:
                    raise _too_many(max_items)
        except ijson.JSONError as exc:
            raise BadBodyError(f"the body is not valid JSON: {_short(exc)}") from None
    if n == 0:
        raise BadBodyError("the body holds no signatures")
    return n


def iter_items(body: bytes, content_type: str | None) -> Iterator[Item]:
    """The body's items, one at a time, in order (call :func:`count_items` first)."""
    shape = _shape(body, content_type)
    if shape.lines:
        index = 0
        for raw in read_raw_lines(io.BytesIO(body)):
            line = decode_line(raw)
            if line.error is not None and line.error.endswith("is empty"):
                continue  # blank lines separate nothing and are skipped
            yield Item(index, line.number, line.obj, error=line.error)
            index += 1
    elif shape.prefix is None:
        yield Item(0, None, orjson.loads(body))
    else:
        items = ijson.items(io.BytesIO(body), shape.prefix, use_float=True)
        for index, obj in enumerate(items):
            yield Item(index, None, obj)


@dataclass
class Problems:
    """Bad items of an upload: the first :data:`PROBLEMS_LISTED` in full, all counted."""

    listed: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    by_field: Counter[str] = field(default_factory=Counter)

    def add(self, item: Item) -> None:
        """Count a bad item (and keep it, while fewer than the listed bound are)."""
        self.total += 1
        self.by_field[item.field or "(body)"] += 1
        if len(self.listed) < PROBLEMS_LISTED:
            self.listed.append(item.problem())

    def summary(self) -> dict[str, Any]:
        """The counts, for a reply beside the listed problems (nothing when none was bad)."""
        if not self.total:
            return {}
        return {
            "rejected_total": self.total,
            "rejected_listed": len(self.listed),
            "rejected_by_field": dict(self.by_field.most_common(PROBLEMS_LISTED)),
        }
