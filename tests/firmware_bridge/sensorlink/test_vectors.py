"""The test vectors of docs/sensor-link.md, checked byte for byte against the code.

The document tags its fenced blocks ```json sensorlink-vector=NAME``` (the
message), ```hex sensorlink-body=NAME``` (body + CRC before COBS) and
```hex sensorlink-wire=NAME``` (the bytes on the wire).  If the code or the
document changes alone, this fails.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.sensorlink import (
    MESSAGE_CLASSES,
    FaultCode,
    GateAction,
    GateCommand,
    Message,
    Role,
    SensorLink,
    SignatureMessage,
    StatusFlags,
    cobs,
    encode_message,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "sensor-link.md"
BLOCK = re.compile(r"^```(\w+) sensorlink-(vector|body|wire)=(\S+)\n(.*?)^```", re.M | re.S)
REQUIRED = {
    "hello",
    "status",
    "signature",
    "signature_loss",
    "gate_command",
    "credit_sensor",
    "fault",
}

_CONVERT: dict[str, Callable[[Any], Any]] = {
    "role": lambda name: Role[name],
    "action": lambda name: GateAction[name],
    "code": lambda name: FaultCode[name],
    "flags": lambda names: reduce(or_, (StatusFlags[n] for n in names), StatusFlags.NONE),
}


def _blocks() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for lang, part, name, text in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        assert (lang, part) in {("json", "vector"), ("hex", "body"), ("hex", "wire")}
        assert part not in found.setdefault(name, {}), f"two {part} blocks for {name}"
        found[name][part] = text
    return found


VECTORS = _blocks()


def message_from_json(text: str) -> Message:
    fields = json.loads(text)
    by_name = {cls.__name__: cls for cls in MESSAGE_CLASSES.values()}
    cls = by_name[fields.pop("type")]
    seq = fields.pop("seq")
    kwargs = {key: _CONVERT.get(key, lambda v: v)(value) for key, value in fields.items()}
    return cls(**kwargs, seq=seq)


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def test_the_document_has_every_required_vector_complete() -> None:
    assert set(VECTORS) >= REQUIRED
    for name, parts in VECTORS.items():
        assert set(parts) == {"vector", "body", "wire"}, name


def test_signature_vector_has_the_promised_sizes() -> None:
    message = message_from_json(VECTORS["signature"]["vector"])
    assert isinstance(message, SignatureMessage)
    assert message.eddy_lo.shape == message.eddy_hi.shape == (32,)
    assert message.rim.shape == (64,)
    message.to_signature()  # and it is a spec-valid signature


def test_the_v1_signature_vector_carries_no_loss_traces() -> None:
    # A v1 board's frame: option bit 2 clear, decoded exactly as in v1.
    body = hex_bytes(VECTORS["signature"]["body"])
    assert body[6 + 36] & 0x04 == 0
    message = message_from_json(VECTORS["signature"]["vector"])
    assert isinstance(message, SignatureMessage)
    assert not message.has_loss
    assert not message.to_signature().has_loss


def test_the_v1_1_signature_vector_adds_loss_traces_after_the_v1_fields() -> None:
    message = message_from_json(VECTORS["signature_loss"]["vector"])
    assert isinstance(message, SignatureMessage)
    assert message.has_loss
    assert message.to_signature().has_loss  # and it is a spec-valid v1.1 signature
    payload = hex_bytes(VECTORS["signature_loss"]["body"])[6:-4]
    assert payload[36] == 0x06  # head and loss traces follow, no id
    v1 = dataclasses.replace(message, eddy_lo_loss=None, eddy_hi_loss=None).encode_payload()
    # Everything up to the end of the rim is the v1 layout (options byte aside) ...
    end_of_rim = 37 + 8 * 32 + 4 * 64
    assert payload[:36] == v1[:36] and v1[36] == 0x02
    assert payload[37:end_of_rim] == v1[37:end_of_rim]
    # ... then the two loss traces, then the head string as in v1.
    assert payload[end_of_rim + 8 * 32 :] == v1[end_of_rim:]


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_encoding_the_message_gives_the_documented_bytes(name: str) -> None:
    message = message_from_json(VECTORS[name]["vector"])
    wire = encode_message(message)
    assert wire.hex(" ") == hex_bytes(VECTORS[name]["wire"]).hex(" ")
    assert cobs.decode(wire[:-1]).hex(" ") == hex_bytes(VECTORS[name]["body"]).hex(" ")


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_decoding_the_documented_bytes_gives_the_message(name: str) -> None:
    message = message_from_json(VECTORS[name]["vector"])
    receiver = SensorLink("board" if isinstance(message, GateCommand) else "engine")
    receiver.receive_data(hex_bytes(VECTORS[name]["wire"]))
    assert receiver.next_event() == message
    assert receiver.next_event() is None
