"""Primitive little-endian fields of message payloads, and a bounds-checked reader.

Every read checks the remaining length first, so a truncated or lying payload
becomes a :class:`MessageDecodeError` naming the offset, never an IndexError or
a silently short array.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from firmware_bridge.sensorlink.errors import LinkErrorKind, MessageDecodeError

Float32Array = npt.NDArray[np.float32]

U16_MAX = 0xFFFF
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
#: Wire dtype of every sample array: IEEE 754 binary32, little-endian.
F32_LE = np.dtype("<f4")


def pack_str16(text: str) -> bytes:
    """A string as u16 LE byte length followed by its UTF-8 bytes.

    Raises
    ------
    ValueError
        If the UTF-8 encoding is longer than 65535 bytes.
    """
    raw = text.encode("utf-8")
    if len(raw) > U16_MAX:
        raise ValueError(f"string of {len(raw)} UTF-8 bytes exceeds {U16_MAX}")
    return _U16.pack(len(raw)) + raw


def pack_f32_array(values: Float32Array) -> bytes:
    """The samples as consecutive little-endian float32 (no length; the caller writes it)."""
    return values.astype(F32_LE, copy=False).tobytes()


class Reader:
    """Reads fields in order from one payload; raises MessageDecodeError(MALFORMED).

    Parameters
    ----------
    data : bytes
        The payload.
    what : str
        The message name, for error texts.
    """

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def _need(self, n: int, field: str) -> int:
        pos = self._pos
        if pos + n > len(self._data):
            raise MessageDecodeError(
                LinkErrorKind.MALFORMED,
                f"{self._what} truncated: {field} needs {n} bytes at payload offset {pos}, "
                f"{len(self._data) - pos} left",
            )
        self._pos = pos + n
        return pos

    def u8(self, field: str) -> int:
        """One unsigned byte."""
        return int(_U8.unpack_from(self._data, self._need(1, field))[0])

    def u16(self, field: str) -> int:
        """Unsigned 16-bit little-endian."""
        return int(_U16.unpack_from(self._data, self._need(2, field))[0])

    def u32(self, field: str) -> int:
        """Unsigned 32-bit little-endian."""
        return int(_U32.unpack_from(self._data, self._need(4, field))[0])

    def f64(self, field: str) -> float:
        """IEEE 754 binary64, little-endian."""
        return float(_F64.unpack_from(self._data, self._need(8, field))[0])

    def f32_array(self, n: int, field: str) -> Float32Array:
        """``n`` little-endian float32 samples, as a native-order array of its own."""
        pos = self._need(4 * n, field)
        # Copy, so the array neither aliases nor keeps alive the whole frame buffer.
        return np.frombuffer(self._data, dtype=F32_LE, count=n, offset=pos).astype(np.float32)

    def str16(self, field: str) -> str:
        """A u16-length-prefixed UTF-8 string."""
        n = self.u16(field)
        pos = self._need(n, field)
        try:
            return self._data[pos : pos + n].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MessageDecodeError(
                LinkErrorKind.MALFORMED, f"{self._what}: {field} is not UTF-8 ({exc.reason})"
            ) from None

    def finish(self) -> None:
        """Check that the whole payload was read: trailing bytes are an error."""
        extra = len(self._data) - self._pos
        if extra:
            raise MessageDecodeError(
                LinkErrorKind.MALFORMED,
                f"{self._what}: {extra} unexpected bytes after the last field",
            )
