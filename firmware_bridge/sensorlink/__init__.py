"""The sensor link: our framed binary protocol between sensor board and engine.

Layers, each a module with one job (see ``docs/sensor-link.md`` for the bytes):

- :mod:`~firmware_bridge.sensorlink.cobs`: COBS byte stuffing.
- :mod:`~firmware_bridge.sensorlink.framing`: frames (COBS, 0x00 delimiter,
  CRC-32, version/type/sequence header), resync and size limits.
- :mod:`~firmware_bridge.sensorlink.messages`: the message dataclasses and
  their decode table.
- :mod:`~firmware_bridge.sensorlink.sequence`: sequence-number arithmetic.
- :mod:`~firmware_bridge.sensorlink.protocol`: :class:`SensorLink`, the
  sans-I/O endpoint the runtime loop drives.
- :mod:`~firmware_bridge.sensorlink.faults`: fault injection for tests.
"""

from firmware_bridge.sensorlink.errors import (
    LinkError,
    LinkErrorKind,
    LocalProtocolError,
    MessageDecodeError,
)
from firmware_bridge.sensorlink.framing import MAX_FRAME_SIZE, VERSION
from firmware_bridge.sensorlink.messages import (
    MESSAGE_CLASSES,
    PROTOCOL_VERSION,
    CreditSensorEvent,
    Fault,
    FaultCode,
    GateAction,
    GateCommand,
    Hello,
    Message,
    MessageType,
    Role,
    SignatureMessage,
    Status,
    StatusFlags,
    decode_message,
    encode_message,
)
from firmware_bridge.sensorlink.protocol import Event, LinkStats, SensorLink

__all__ = [
    "MAX_FRAME_SIZE",
    "MESSAGE_CLASSES",
    "PROTOCOL_VERSION",
    "VERSION",
    "CreditSensorEvent",
    "Event",
    "Fault",
    "FaultCode",
    "GateAction",
    "GateCommand",
    "Hello",
    "LinkError",
    "LinkErrorKind",
    "LinkStats",
    "LocalProtocolError",
    "Message",
    "MessageDecodeError",
    "MessageType",
    "Role",
    "SensorLink",
    "SignatureMessage",
    "Status",
    "StatusFlags",
    "decode_message",
    "encode_message",
]
