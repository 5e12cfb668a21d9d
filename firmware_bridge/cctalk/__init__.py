"""ccTalk, sans-I/O: framer, payload codecs, coin-acceptor device and host.

Layers, bottom up (as in pymodbus): :mod:`.frame` (bytes <-> frames),
:mod:`.headers` and :mod:`.messages` (numbers and payload encodings),
:mod:`.credit_buffer` (header 229), then the protocol objects :mod:`.device`
(what the engine is on the bus) and :mod:`.host` (what a parking machine is).
None of them does I/O; :mod:`firmware_bridge.transport` does.
"""

from firmware_bridge.cctalk.credit_buffer import (
    BufferedEvent,
    CreditBufferSnapshot,
    CreditEvent,
    ErrorEvent,
)
from firmware_bridge.cctalk.device import (
    AddressChanged,
    CoinAcceptorDevice,
    CoinIdChanged,
    CreditBufferRead,
    DeviceEvent,
    DeviceIdentity,
    EventOverwritten,
    InhibitsChanged,
    MasterInhibitChanged,
    Polled,
    Reply,
    ResetRequested,
    SorterPathChanged,
)
from firmware_bridge.cctalk.frame import Frame, FrameError, FrameParser, decode_frame, encode_frame
from firmware_bridge.cctalk.headers import AcceptorError, Address, Header
from firmware_bridge.cctalk.host import CcTalkHost, CreditPoller, CreditPollResult

__all__ = [
    "AcceptorError",
    "Address",
    "AddressChanged",
    "BufferedEvent",
    "CcTalkHost",
    "CoinAcceptorDevice",
    "CoinIdChanged",
    "CreditBufferRead",
    "CreditBufferSnapshot",
    "CreditEvent",
    "CreditPollResult",
    "CreditPoller",
    "DeviceEvent",
    "DeviceIdentity",
    "ErrorEvent",
    "EventOverwritten",
    "Frame",
    "FrameError",
    "FrameParser",
    "Header",
    "InhibitsChanged",
    "MasterInhibitChanged",
    "Polled",
    "Reply",
    "ResetRequested",
    "SorterPathChanged",
    "decode_frame",
    "encode_frame",
]
