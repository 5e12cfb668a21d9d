"""Uploaded signatures: the media types taken, each item validated, stored as text.

A bad signature never spoils the others: each is reported by its index (and
line, for JSON Lines) with the rule it broke, in the core's own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from calibration.errors import CalibrationError
from coinval.signature import Signature, SignatureError, parse_signature

JSON_TYPES = ("application/json",)
JSONL_TYPES = (
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json-lines",
    "application/ndjson",
    "text/jsonl",
)
UPLOAD_DOC = (
    "Signatures as a JSON array (`application/json`; a single object or "
    '`{"signatures": [...]}` is also taken) or JSON Lines (`application/x-ndjson`), '
    "each in the shape of spec section 2 (v1.1: `eddy_lo_loss` and `eddy_hi_loss` optional, "
    "both or neither, each as long as `eddy_lo`)."
)


class UnsupportedMediaTypeError(CalibrationError):
    """The body is in a format the route does not take."""

    status = 415


class BadBodyError(CalibrationError):
    """The body cannot be decoded at all."""

    status = 400


@dataclass(frozen=True)
class Item:
    """One uploaded signature: where it was, its object, and why it is bad (if it is)."""

    index: int
    line: int | None
    obj: Any = None
    signature: Signature | None = None
    error: str | None = None
    field: str | None = None

    def problem(self) -> dict[str, Any]:
        """The JSON report of a bad item."""
        out: dict[str, Any] = {"index": self.index, "error": self.error}
        if self.line is not None:
            out["line"] = self.line
        if self.field is not None:
            out["field"] = self.field
        return out


def check_item(item: Item, *, head: str | None = None) -> Item:
    """``item`` with its :class:`Signature`, or with the rule it broke.

    With ``head``, a signature that names another head is refused: its levels
    belong to that head.
    """
    if item.error is not None:
        return item
    try:
        sig = parse_signature(item.obj)
    except SignatureError as exc:
        return Item(item.index, item.line, item.obj, error=str(exc), field=exc.field)
    if head is not None and sig.head is not None and sig.head != head:
        return Item(
            item.index,
            item.line,
            item.obj,
            field="head",
            error=f"head: this signature is from head {sig.head!r}, not {head!r}",
        )
    return Item(item.index, item.line, item.obj, signature=sig)


def to_text(signature: Signature) -> str:
    """Compact spec-format JSON text of a signature, for the store."""
    return orjson.dumps(signature.to_json_dict()).decode()


def from_text(text: str) -> Signature:
    """A stored signature back as a :class:`Signature`."""
    return parse_signature(orjson.loads(text))
