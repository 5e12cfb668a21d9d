"""The message layer: one frozen dataclass per message type, and the decode table.

Each message knows its type byte (``TYPE``), how to write its payload
(``encode_payload``) and how to read one back (``decode_payload``).  The frame
sequence number travels in the frame header, not the payload; it is carried on
every message as the keyword-only ``seq`` (0 = not assigned yet, let
:class:`~firmware_bridge.sensorlink.protocol.SensorLink` number it).

Constructors validate what the layout can express (integer ranges, enum
values, array shapes) and raise ``ValueError``; decoding turns that into a
:class:`MessageDecodeError`.  Whether a signature obeys spec section 2 is a
separate question, answered by :meth:`SignatureMessage.to_signature`.

Byte layouts are documented, with test vectors, in ``docs/sensor-link.md``.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np

from coinval.signature import Signature, parse_signature
from firmware_bridge.sensorlink.errors import LinkErrorKind, MessageDecodeError
from firmware_bridge.sensorlink.framing import SEQ_MAX, Frame, encode_frame
from firmware_bridge.sensorlink.wire import (
    U16_MAX,
    Float32Array,
    Reader,
    pack_f32_array,
    pack_str16,
)

#: The message-set version a :class:`Hello` announces: 2 is sensor link v1.1,
#: which adds the loss traces to :class:`SignatureMessage` (a u8 cannot say
#: "1.1").  Frames say for themselves whether they carry loss traces, so this
#: only tells a board that this engine decodes them; a receiver never refuses
#: a Hello for its version.
PROTOCOL_VERSION = 2
#: Highest sorter path a gate command may name (0 = the board's default path).
MAX_SORTER_PATH = 8

_FLOAT32_MAX = float(np.finfo(np.float32).max)


class MessageType(enum.IntEnum):
    """The type byte of each message (offset 1 of the frame body)."""

    HELLO = 0x01
    STATUS = 0x02
    SIGNATURE = 0x10
    GATE_COMMAND = 0x11
    CREDIT_SENSOR = 0x12
    FAULT = 0x13


class Role(enum.IntEnum):
    """Which end of the link a node is."""

    ENGINE = 0
    BOARD = 1


class StatusFlags(enum.IntFlag):
    """Board condition bits of :class:`Status` (u16).

    Bits not named here are reserved: a receiver keeps them (``IntFlag`` keeps
    unknown bits) and ignores them, so newer firmware can add conditions.
    """

    NONE = 0
    READY = 0x0001
    JAM = 0x0002
    SENSOR_FAULT = 0x0004
    CREDIT_SENSOR_BLOCKED = 0x0008
    GATE_FAULT = 0x0010
    EXTERNAL_LIGHT = 0x0020
    TEMPERATURE_OUT_OF_RANGE = 0x0040


class GateAction(enum.IntEnum):
    """What the engine tells the board to do with one coin."""

    REJECT = 0
    ACCEPT = 1


class FaultCode(enum.IntEnum):
    """Why the board reports a :class:`Fault` (u8).

    Unlike status bits these are strict: an unknown code is a malformed frame,
    because a fault decides whether a coin may be credited.
    """

    COIN_GOING_BACKWARDS = 1
    COIN_ON_STRING = 2
    EXTERNAL_LIGHT = 3
    JAM = 4
    CREDIT_SENSOR_BLOCKED = 5
    SENSOR_FAULT = 6
    GATE_FAULT = 7
    #: The gate command came too late (or never): the gate stayed shut, the coin was returned.
    GATE_COMMAND_TIMEOUT = 8
    COIN_TOO_FAST = 9
    COIN_TOO_SLOW = 10
    #: A second coin followed too closely to be measured apart.
    SECOND_CLOSE_COIN = 11
    CREDIT_SENSOR_TOO_EARLY = 12
    OTHER = 255


def _check_uint(name: str, value: int, hi: int, lo: int = 0) -> None:
    # bool is an int; a flag passed where a number belongs is a caller's bug.
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")


def _check_str16(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if len(value.encode("utf-8")) > U16_MAX:
        raise ValueError(f"{name} is longer than {U16_MAX} UTF-8 bytes")


def _as_decode_error(cls_name: str, exc: ValueError) -> MessageDecodeError:
    if isinstance(exc, MessageDecodeError):
        return exc
    return MessageDecodeError(LinkErrorKind.MALFORMED, f"{cls_name}: {exc}")


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every sensor-link message.

    Attributes
    ----------
    seq : int
        The frame sequence number, 1 to 2**32-1; 0 on a message not sent yet
        means "number it for me".  Keyword-only.
    """

    TYPE: ClassVar[MessageType]

    seq: int = field(default=0, kw_only=True)

    def encode_payload(self) -> bytes:
        """The payload bytes (after the 6-byte frame header)."""
        raise NotImplementedError

    @classmethod
    def decode_payload(cls, payload: bytes, seq: int) -> Self:
        """Read a payload; raises :class:`MessageDecodeError`, never anything else."""
        try:
            return cls._read(Reader(payload, cls.__name__), seq)
        except ValueError as exc:  # MessageDecodeError is a ValueError too
            raise _as_decode_error(cls.__name__, exc) from None

    @classmethod
    def _read(cls, r: Reader, seq: int) -> Self:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Both directions: who is at the other end.  Resets the receiver's sequence tracking.

    Attributes
    ----------
    role : Role
        The sender's role; a node never accepts a Hello from its own role
        (that is a wiring loop, or the engine hearing its own echo).
    head_id : str
        The board: sensor head serial (as in signatures' ``head``).  The engine:
        its instance name.
    firmware : str
        Firmware (board) or software (engine) version.
    protocol_version : int
        Message-set version the sender speaks, u8; :data:`PROTOCOL_VERSION`.
    """

    TYPE: ClassVar[MessageType] = MessageType.HELLO

    role: Role
    head_id: str
    firmware: str
    protocol_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        _check_uint("seq", self.seq, SEQ_MAX)
        object.__setattr__(self, "role", Role(self.role))
        _check_uint("protocol_version", self.protocol_version, 0xFF)
        _check_str16("head_id", self.head_id)
        _check_str16("firmware", self.firmware)

    def encode_payload(self) -> bytes:
        """u8 protocol_version, u8 role, str16 head_id, str16 firmware."""
        return (
            struct.pack("<BB", self.protocol_version, self.role)
            + pack_str16(self.head_id)
            + pack_str16(self.firmware)
        )

    @classmethod
    def _read(cls, r: Reader, seq: int) -> Self:
        version = r.u8("protocol_version")
        role = Role(r.u8("role"))
        head_id = r.str16("head_id")
        firmware = r.str16("firmware")
        r.finish()
        return cls(role, head_id, firmware, version, seq=seq)


@dataclass(frozen=True, slots=True)
class Status(Message):
    """Board to engine: the board's condition, sent at start, on change and as a heartbeat.

    Attributes
    ----------
    flags : StatusFlags
    temperature_c : float
        Board thermistor, binary64.
    """

    TYPE: ClassVar[MessageType] = MessageType.STATUS

    flags: StatusFlags
    temperature_c: float

    def __post_init__(self) -> None:
        _check_uint("seq", self.seq, SEQ_MAX)
        _check_uint("flags", int(self.flags), U16_MAX)
        object.__setattr__(self, "flags", StatusFlags(int(self.flags)))

    def encode_payload(self) -> bytes:
        """u16 flags, f64 temperature_c."""
        return struct.pack("<Hd", self.flags, self.temperature_c)

    @classmethod
    def _read(cls, r: Reader, seq: int) -> Self:
        flags = r.u16("flags")
        temperature = r.f64("temperature_c")
        r.finish()
        return cls(StatusFlags(flags), temperature, seq=seq)


def _float32_trace(name: str, value: Any) -> Float32Array:
    """A read-only 1-D float32 copy of ``value``; refuses values float32 cannot hold."""
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.shape[0] > U16_MAX:
        raise ValueError(f"{name} has {arr.shape[0]} samples; the wire allows {U16_MAX}")
    if arr.dtype != np.float32:
        # A finite float64 beyond float32's range would silently become inf:
        # refuse it rather than send a measurement the board never made.
        finite = arr[np.isfinite(arr)]
        if finite.size and float(np.abs(finite).max()) > _FLOAT32_MAX:
            raise ValueError(f"{name} has a sample beyond the float32 range")
    out: Float32Array = np.array(arr, dtype=np.float32, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class SignatureMessage(Message):
    """Board to engine: one coin's signature; its ``seq`` is the coin's sequence number.

    Fields mirror :class:`coinval.signature.Signature`.  On the wire the
    traces are float32 (the ADCs give at most 24 bits, which float32 holds
    exactly) and the scalars float64.  The message itself only promises a
    well-formed layout; :meth:`to_signature` applies spec section 2.

    Attributes
    ----------
    eddy_lo, eddy_hi : ndarray of float32, shape (n_eddy,)
        Same length (one length field on the wire), up to 65535 samples.
    eddy_rate_hz : float
    rim : ndarray of float32, shape (n_rim,)
    thickness_mm, speed_mm_s, temperature_c : float
    id, head : str or None
    eddy_lo_loss, eddy_hi_loss : ndarray of float32, shape (n_eddy,), or None
        The loss components (sensor link v1.1, signature contract v1.1): both
        or neither, as long as ``eddy_lo``.  One option bit says they follow
        and they share ``n_eddy``, so the wire cannot say anything else either.
    """

    TYPE: ClassVar[MessageType] = MessageType.SIGNATURE

    eddy_lo: Float32Array
    eddy_hi: Float32Array
    eddy_rate_hz: float
    rim: Float32Array
    thickness_mm: float
    speed_mm_s: float
    temperature_c: float
    id: str | None = None
    head: str | None = None
    eddy_lo_loss: Float32Array | None = None
    eddy_hi_loss: Float32Array | None = None

    _FIXED: ClassVar[struct.Struct] = struct.Struct("<ddddHHB")
    _HAS_ID: ClassVar[int] = 0x01
    _HAS_HEAD: ClassVar[int] = 0x02
    #: v1.1: eddy_lo_loss and eddy_hi_loss follow the rim.  A v1 receiver
    #: refuses the bit (bits 2-7 had to be 0), so an old engine rejects such a
    #: coin as malformed rather than misreading the loss traces as id or head.
    _HAS_LOSS: ClassVar[int] = 0x04
    _KNOWN_OPTIONS: ClassVar[int] = _HAS_ID | _HAS_HEAD | _HAS_LOSS

    def __post_init__(self) -> None:
        _check_uint("seq", self.seq, SEQ_MAX)
        for name in ("eddy_lo", "eddy_hi", "rim"):
            object.__setattr__(self, name, _float32_trace(name, getattr(self, name)))
        if self.eddy_lo.shape != self.eddy_hi.shape:
            raise ValueError(
                f"eddy_lo and eddy_hi must have the same length "
                f"({self.eddy_lo.shape[0]} != {self.eddy_hi.shape[0]})"
            )
        self._check_loss_traces()
        for name in ("eddy_rate_hz", "thickness_mm", "speed_mm_s", "temperature_c"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("id", "head"):
            value = getattr(self, name)
            if value is not None:
                _check_str16(name, value)

    def _check_loss_traces(self) -> None:
        # One option bit and the shared n_eddy are all the wire has for them,
        # so "one without the other" or "another length" cannot be sent.
        lo, hi = self.eddy_lo_loss, self.eddy_hi_loss
        if lo is None and hi is None:
            return
        if lo is None or hi is None:
            missing = "eddy_lo_loss" if lo is None else "eddy_hi_loss"
            raise ValueError(f"{missing} is missing: the loss traces come both or neither")
        for name in ("eddy_lo_loss", "eddy_hi_loss"):
            trace = _float32_trace(name, getattr(self, name))
            if trace.shape != self.eddy_lo.shape:
                raise ValueError(
                    f"{name} must have the same length as eddy_lo "
                    f"({trace.shape[0]} != {self.eddy_lo.shape[0]})"
                )
            object.__setattr__(self, name, trace)

    @property
    def has_loss(self) -> bool:
        """Whether the message carries the loss traces (sensor link v1.1)."""
        return self.eddy_lo_loss is not None

    @property
    def coin_seq(self) -> int:
        """The coin's sequence number: the frame's."""
        return self.seq

    def __eq__(self, other: object) -> bool:
        # Arrays make the generated __eq__ ambiguous; the payload bytes are the
        # exact, bit-for-bit identity of a message (NaN payloads included).
        if not isinstance(other, SignatureMessage):
            return NotImplemented
        return self.seq == other.seq and self.encode_payload() == other.encode_payload()

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: not hashable

    def encode_payload(self) -> bytes:
        """Scalars, lengths, option flags, the three traces, the loss traces, the strings."""
        flags = (
            (self._HAS_ID if self.id is not None else 0)
            | (self._HAS_HEAD if self.head is not None else 0)
            | (self._HAS_LOSS if self.has_loss else 0)
        )
        parts = [
            self._FIXED.pack(
                self.eddy_rate_hz,
                self.speed_mm_s,
                self.thickness_mm,
                self.temperature_c,
                self.eddy_lo.shape[0],
                self.rim.shape[0],
                flags,
            ),
            pack_f32_array(self.eddy_lo),
            pack_f32_array(self.eddy_hi),
            pack_f32_array(self.rim),
        ]
        if self.eddy_lo_loss is not None and self.eddy_hi_loss is not None:
            # After the rim, so every v1 field keeps its v1 offset.
            parts += [pack_f32_array(self.eddy_lo_loss), pack_f32_array(self.eddy_hi_loss)]
        if self.id is not None:
            parts.append(pack_str16(self.id))
        if self.head is not None:
            parts.append(pack_str16(self.head))
        return b"".join(parts)

    @classmethod
    def _read(cls, r: Reader, seq: int) -> Self:
        rate = r.f64("eddy_rate_hz")
        speed = r.f64("speed_mm_s")
        thickness = r.f64("thickness_mm")
        temperature = r.f64("temperature_c")
        n_eddy = r.u16("n_eddy")
        n_rim = r.u16("n_rim")
        flags = r.u8("options")
        if flags & ~cls._KNOWN_OPTIONS:
            raise MessageDecodeError(
                LinkErrorKind.MALFORMED, f"SignatureMessage: reserved option bits set ({flags:#x})"
            )
        eddy_lo = r.f32_array(n_eddy, "eddy_lo")
        eddy_hi = r.f32_array(n_eddy, "eddy_hi")
        rim = r.f32_array(n_rim, "rim")
        lo_loss = hi_loss = None
        if flags & cls._HAS_LOSS:
            lo_loss = r.f32_array(n_eddy, "eddy_lo_loss")
            hi_loss = r.f32_array(n_eddy, "eddy_hi_loss")
        sig_id = r.str16("id") if flags & cls._HAS_ID else None
        head = r.str16("head") if flags & cls._HAS_HEAD else None
        r.finish()
        return cls(
            eddy_lo,
            eddy_hi,
            rate,
            rim,
            thickness,
            speed,
            temperature,
            sig_id,
            head,
            lo_loss,
            hi_loss,
            seq=seq,
        )

    def to_signature(self) -> Signature:
        """The spec signature, through :func:`coinval.signature.parse_signature`.

        Raises
        ------
        coinval.signature.SignatureError
            If the message breaks spec section 2 (lengths, ranges, finiteness, id length).
        """
        obj: dict[str, Any] = {
            "eddy_lo": self.eddy_lo.astype(np.float64),
            "eddy_hi": self.eddy_hi.astype(np.float64),
            "eddy_rate_hz": self.eddy_rate_hz,
            "rim": self.rim.astype(np.float64),
            "thickness_mm": self.thickness_mm,
            "speed_mm_s": self.speed_mm_s,
            "temperature_c": self.temperature_c,
            "id": self.id,
            "head": self.head,
        }
        if self.eddy_lo_loss is not None and self.eddy_hi_loss is not None:
            obj["eddy_lo_loss"] = self.eddy_lo_loss.astype(np.float64)
            obj["eddy_hi_loss"] = self.eddy_hi_loss.astype(np.float64)
        return parse_signature(obj)

    @classmethod
    def from_signature(cls, signature: Signature, *, seq: int = 0) -> SignatureMessage:
        """The message for ``signature``, loss traces included; traces are rounded to float32.

        Raises
        ------
        ValueError
            If a sample is beyond the float32 range or a trace beyond 65535 samples.
        """
        # Each as it is: a hand-made Signature with only one is refused by the
        # constructor, never sent as v1 with a trace silently dropped.
        lo_loss, hi_loss = signature.eddy_lo_loss, signature.eddy_hi_loss
        return cls(
            _float32_trace("eddy_lo", signature.eddy_lo),
            _float32_trace("eddy_hi", signature.eddy_hi),
            signature.eddy_rate_hz,
            _float32_trace("rim", signature.rim),
            signature.thickness_mm,
            signature.speed_mm_s,
            signature.temperature_c,
            signature.id,
            signature.head,
            None if lo_loss is None else _float32_trace("eddy_lo_loss", lo_loss),
            None if hi_loss is None else _float32_trace("eddy_hi_loss", hi_loss),
            seq=seq,
        )


@dataclass(frozen=True, slots=True)
class GateCommand(Message):
    """Engine to board: what to do with the coin whose signature had ``coin_seq``.

    Attributes
    ----------
    coin_seq : int
        The signature frame's sequence number, 1 to 2**32-1.
    action : GateAction
    sorter_path : int
        1 to 8 for a chosen path, 0 for the board's default; always 0 with REJECT.
    """

    TYPE: ClassVar[MessageType] = MessageType.GATE_COMMAND

    coin_seq: int
    action: GateAction
    sorter_path: int = 0

    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<IBB")

    def __post_init__(self) -> None:
        _check_uint("seq", self.seq, SEQ_MAX)
        _check_uint("coin_seq", self.coin_seq, SEQ_MAX, lo=1)
        object.__setattr__(self, "action", GateAction(self.action))
        _check_uint("sorter_path", self.sorter_path, MAX_SORTER_PATH)
        if self.action is GateAction.REJECT and self.sorter_path != 0:
            raise ValueError("a rejected coin has no sorter path (sorter_path must be 0)")

    def encode_payload(self) -> bytes:
        """u32 coin_seq, u8 action, u8 sorter_path."""
        return self._LAYOUT.pack(self.coin_seq, self.action, self.sorter_path)

    @classmethod
    def _read(cls, r: Reader, seq: int) -> Self:
        coin_seq = r.u32("coin_seq")
        action = GateAction(r.u8("action"))
        path = r.u8("sorter_path")
        r.finish()
        return cls(coin_seq, action, path, seq=seq)


@dataclass(frozen=True, slots=True)
class CreditSensorEvent(Message):
    """Board to engine: what the credit sensor saw after an accepting gate command.

    Attributes
    ----------
    coin_seq : int
        The coin (its signature's sequence number).
    passed : bool
        The coin went past the credit sensor within the board's window.
    forward : bool
        It went past in the direction of travel (False: going backwards).
    transit_us : int
        Microseconds from receiving the gate command to the credit sensor
        (u32; when not passed, how long the board waited).
    """

    TYPE: ClassVar[MessageType] = MessageType.CREDIT_SENSOR

    coin_seq: int
    passed: bool
    forward: bool
    transit_us: int

    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<IBI")
    _PASSED: ClassVar[int] = 0x01
    _FORWARD: ClassVar[int] = 0x02

    def __post_init__(self) -> None:
        _check_uint("seq", self.seq, SEQ_MAX)
        _check_uint("coin_seq", self.coin_seq, SEQ_MAX, lo=1)
        if not isinstance(self.passed, bool) or not isinstance(self.forward, bool):
            raise ValueError("passed and forward must be bools")
        _check_uint("transit_us", self.transit_us, 0xFFFF_FFFF)

    def encode_payload(self) -> bytes:
        """u32 coin_seq, u8 flags (bit 0 passed, bit 1 forward), u32 transit_us."""
        flags = (self._PASSED if self.passed else 0) | (self._FORWARD if self.forward else 0)
        return self._LAYOUT.pack(self.coin_seq, flags, self.transit_us)

    @classmethod
    def _read(cls, r: Reader, seq: int) -> Self:
        coin_seq = r.u32("coin_seq")
        flags = r.u8("flags")
        transit = r.u32("transit_us")
        r.finish()
        # Strict: this message decides a credit, so unknown bits are not shrugged off.
        if flags & ~(cls._PASSED | cls._FORWARD):
            raise MessageDecodeError(
                LinkErrorKind.MALFORMED, f"CreditSensorEvent: reserved flag bits set ({flags:#x})"
            )
        return cls(
            coin_seq, bool(flags & cls._PASSED), bool(flags & cls._FORWARD), transit, seq=seq
        )


@dataclass(frozen=True, slots=True)
class Fault(Message):
    """Board to engine: something went wrong, with a coin or with the board.

    Attributes
    ----------
    coin_seq : int
        The coin concerned, or 0 for a fault not tied to a coin.
    code : FaultCode
    detail : str
        Free text for the log; may be empty.
    """

    TYPE: ClassVar[MessageType] = MessageType.FAULT

    coin_seq: int
    code: FaultCode
    detail: str = ""

    def __post_init__(self) -> None:
        _check_uint("seq", self.seq, SEQ_MAX)
        _check_uint("coin_seq", self.coin_seq, SEQ_MAX)
        object.__setattr__(self, "code", FaultCode(self.code))
        _check_str16("detail", self.detail)

    def encode_payload(self) -> bytes:
        """u32 coin_seq, u8 code, str16 detail."""
        return struct.pack("<IB", self.coin_seq, self.code) + pack_str16(self.detail)

    @classmethod
    def _read(cls, r: Reader, seq: int) -> Self:
        coin_seq = r.u32("coin_seq")
        code = FaultCode(r.u8("code"))
        detail = r.str16("detail")
        r.finish()
        return cls(coin_seq, code, detail, seq=seq)


#: Type byte -> message class: the decode table.
MESSAGE_CLASSES: Mapping[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (Hello, Status, SignatureMessage, GateCommand, CreditSensorEvent, Fault)
}


def encode_message(message: Message, seq: int | None = None) -> bytes:
    """The wire bytes (COBS frame with delimiter) of ``message``.

    Parameters
    ----------
    message : Message
    seq : int, optional
        Overrides ``message.seq``; one of the two must be 1 to 2**32-1.

    Raises
    ------
    ValueError
        No sequence number, or the message does not fit in a frame.
    """
    number = message.seq if seq is None else seq
    return encode_frame(message.TYPE, number, message.encode_payload())


def decode_message(frame: Frame) -> Message:
    """The message in a checked frame.

    Raises
    ------
    MessageDecodeError
        UNKNOWN_TYPE or MALFORMED.
    """
    cls = MESSAGE_CLASSES.get(frame.type)
    if cls is None:
        raise MessageDecodeError(
            LinkErrorKind.UNKNOWN_TYPE, f"unknown message type {frame.type:#04x}"
        )
    return cls.decode_payload(frame.payload, frame.seq)
