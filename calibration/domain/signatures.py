"""Uploaded signatures: decode a body (JSON array or JSON Lines), validate each one.

A bad signature never spoils the others: each is reported by its index (and
line, for JSON Lines) with the rule it broke, in the core's own words.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import orjson

from calibration.errors import CalibrationError
from coinval.jsonlines import read_lines
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


def _media_type(content_type: str | None) -> str:
    return (content_type or "application/json").split(";")[0].strip().lower()


def decode(body: bytes, content_type: str | None) -> list[Item]:
    """Split a body into items (not yet validated as signatures)."""
    kind = _media_type(content_type)
    if kind in JSONL_TYPES:
        items: list[Item] = []
        for line in read_lines(io.BytesIO(body)):
            if line.error is not None and line.error.endswith("is empty"):
                continue  # blank lines separate nothing and are skipped
            items.append(Item(len(items), line.number, line.obj, error=line.error))
        if not items:
            raise BadBodyError("the body holds no signatures")
        return items
    if kind not in JSON_TYPES and not kind.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"content type {kind!r} is not taken: send application/json (an array of "
            "signatures) or application/x-ndjson (JSON Lines)"
        )
    if not body.strip():
        raise BadBodyError("the body is empty: send an array of signatures")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBodyError(f"the body is not valid JSON: {exc}") from None
    if isinstance(obj, dict) and isinstance(obj.get("signatures"), list):
        obj = obj["signatures"]
    elif isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list):
        raise BadBodyError("the body must be a JSON array of signature objects")
    if not obj:
        raise BadBodyError("the body holds no signatures")
    return [Item(i, None, o) for i, o in enumerate(obj)]


def validate(items: list[Item], *, head: str | None = None) -> list[Item]:
    """Each item with its :class:`Signature`, or the rule it broke.

    With ``head``, a signature that names another head is refused: its levels
    belong to that head.
    """
    out: list[Item] = []
    for item in items:
        if item.error is not None:
            out.append(item)
            continue
        try:
            sig = parse_signature(item.obj)
        except SignatureError as exc:
            out.append(Item(item.index, item.line, item.obj, error=str(exc), field=exc.field))
            continue
        if head is not None and sig.head is not None and sig.head != head:
            out.append(
                Item(
                    item.index,
                    item.line,
                    item.obj,
                    field="head",
                    error=f"head: this signature is from head {sig.head!r}, not {head!r}",
                )
            )
            continue
        out.append(Item(item.index, item.line, item.obj, signature=sig))
    return out


def to_text(signature: Signature) -> str:
    """Compact spec-format JSON text of a signature, for the store."""
    return orjson.dumps(signature.to_json_dict()).decode()


def from_text(text: str) -> Signature:
    """A stored signature back as a :class:`Signature`."""
    return parse_signature(orjson.loads(text))
