"""MDB (Multi-Drop Bus 4.2) coin changer, level 3, sans-I/O.

Layers, bottom up: :mod:`.words` (9-bit words, mode bit, CHK, ACK/RET/NAK),
:mod:`.wire` (words as bytes: two-byte words for pseudo-terminals, PARMRK
marking from a real UART), :mod:`.framing` (command blocks for the changer,
responses for the VMC), :mod:`.messages` (commands, SETUP, POLL items, COIN
TYPE, IDENTIFICATION), :mod:`.timing` (the spec's times), then the protocol
objects :mod:`.changer` (what the engine is on the bus), :mod:`.vmc` (what a
vending machine is) and :mod:`.acceptor` (the changer behind the money path's
coin-acceptor calls).  Nothing here touches a port:
:mod:`firmware_bridge.transport.mdb_serial` puts words on a line.
"""

from firmware_bridge.mdb.changer import (
    ChangerEvent,
    CoinChanger,
    CommandReceived,
    DispenseRequested,
    EnablesChanged,
    Reply,
    Reported,
    ResetDone,
)
from firmware_bridge.mdb.framing import CommandParser, ResponseParser
from firmware_bridge.mdb.messages import (
    CHANGER_ADDRESS,
    GBP_COUNTRY_CODE,
    ChangerIdentity,
    ChangerSetup,
    ChangerStatus,
    CoinTypeEnables,
    Command,
    Expansion,
    PollItem,
    Route,
    decode_poll,
)
from firmware_bridge.mdb.wire import ParmrkDecoder, TwoByteDecoder, encode_two_byte, parmrk_stream
from firmware_bridge.mdb.words import ACK, MODE_BIT, NAK, RET, block_checksum

__all__ = [
    "ACK",
    "CHANGER_ADDRESS",
    "GBP_COUNTRY_CODE",
    "MODE_BIT",
    "NAK",
    "RET",
    "ChangerEvent",
    "ChangerIdentity",
    "ChangerSetup",
    "ChangerStatus",
    "CoinChanger",
    "CoinTypeEnables",
    "Command",
    "CommandParser",
    "CommandReceived",
    "DispenseRequested",
    "EnablesChanged",
    "Expansion",
    "ParmrkDecoder",
    "PollItem",
    "Reply",
    "Reported",
    "ResetDone",
    "ResponseParser",
    "Route",
    "TwoByteDecoder",
    "block_checksum",
    "decode_poll",
    "encode_two_byte",
    "parmrk_stream",
]
