"""The coin signature of spec section 2: the one record every part of coinval exchanges.

`parse_signature` turns an untrusted mapping (a JSON object, an HTTP body) into a
validated :class:`Signature`, or raises :class:`SignatureError` naming the field
and the rule it broke.  Nothing here assumes a particular sensor head's lengths
or scales: only the ranges of the contract are enforced.
"""

from __future__ import annotations

import math
import numbers
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

EDDY_MIN_SAMPLES = 32
EDDY_MAX_SAMPLES = 4096
RIM_MIN_SAMPLES = 64
RIM_MAX_SAMPLES = 8192
ID_MAX_CHARS = 64

FloatArray = npt.NDArray[np.float64]
_NUMBER_TYPES = frozenset({float, int})


class SignatureError(ValueError):
    """A signature breaks a rule of spec section 2.

    Attributes
    ----------
    field : str
        The offending field (or ``"$"`` for the object as a whole).
    rule : str
        The rule that was broken, in words an operator can act on.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


@dataclass(frozen=True, slots=True)
class Signature:
    """One coin's passage through the sensor head.

    Attributes
    ----------
    eddy_lo, eddy_hi : ndarray of shape (n_eddy,)
        Low- and high-frequency eddy-current traces, hardware units.
    eddy_rate_hz : float
        Sample rate of both eddy traces.
    rim : ndarray of shape (n_rim,)
        Centre-to-edge distance over one revolution, mm.
    thickness_mm, speed_mm_s, temperature_c : float
    id, head : str or None
    eddy_lo_loss, eddy_hi_loss : ndarray of shape (n_eddy,) or None
        The loss (resistive) component at each frequency, where the head's
        demodulator gives it (contract v1.1); both or neither.
    """

    eddy_lo: FloatArray
    eddy_hi: FloatArray
    eddy_rate_hz: float
    rim: FloatArray
    thickness_mm: float
    speed_mm_s: float
    temperature_c: float
    id: str | None = None
    head: str | None = None
    eddy_lo_loss: FloatArray | None = None
    eddy_hi_loss: FloatArray | None = None

    @property
    def has_loss(self) -> bool:
        """Whether the head reported loss traces (signature contract v1.1)."""
        return self.eddy_lo_loss is not None

    def to_json_dict(self) -> dict[str, Any]:
        """The spec-format JSON object of this signature."""
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        if self.head is not None:
            out["head"] = self.head
        out.update(
            eddy_lo=self.eddy_lo.tolist(),
            eddy_hi=self.eddy_hi.tolist(),
            eddy_rate_hz=self.eddy_rate_hz,
            rim=self.rim.tolist(),
            thickness_mm=self.thickness_mm,
            speed_mm_s=self.speed_mm_s,
            temperature_c=self.temperature_c,
        )
        if self.eddy_lo_loss is not None and self.eddy_hi_loss is not None:
            out["eddy_lo_loss"] = self.eddy_lo_loss.tolist()
            out["eddy_hi_loss"] = self.eddy_hi_loss.tolist()
        return out


def _number(obj: Mapping[str, Any], field: str) -> float:
    if field not in obj:
        raise SignatureError(field, "is required")
    value = obj[field]
    # bool is an int subclass; a JSON true is not a measurement.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SignatureError(field, "must be a number")
    try:
        x = float(value)
    except OverflowError:  # an integer beyond any double
        raise SignatureError(field, "must be finite") from None
    if not math.isfinite(x):
        raise SignatureError(field, "must be finite")
    return x


def _trace(obj: Mapping[str, Any], field: str, lo: int, hi: int) -> FloatArray:
    if field not in obj:
        raise SignatureError(field, "is required")
    value = obj[field]
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise SignatureError(field, "must be a one-dimensional array of numbers")
        arr = value.astype(np.float64, copy=False)
    else:
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise SignatureError(field, "must be an array of numbers")
        if not lo <= len(value) <= hi:
            raise SignatureError(field, f"must hold {lo} to {hi} samples, got {len(value)}")
        arr = np.empty(len(value), dtype=np.float64)
        try:
            # Real numbers only, in one C loop: the doubles fromiter makes, faster.
            struct.pack_into(f"{len(value)}d", arr.data, 0, *value)
        except (struct.error, TypeError, OverflowError, ValueError):
            # struct refuses anything but real numbers, and integers too big
            # for a double: name which.  (A numeric string or null is not a
            # sample, whatever a lenient converter would make of it.)
            for i, sample in enumerate(value):
                if isinstance(sample, bool) or not isinstance(sample, numbers.Real):
                    raise SignatureError(
                        field, f"must be an array of numbers (sample {i} is not a number)"
                    ) from None
            raise SignatureError(field, "every sample must be finite") from None
        # A boolean became 0.0 or 1.0: only those few samples need their type
        # checked, not the whole trace (bool is not a number in JSON).
        for i in np.flatnonzero((arr == 0.0) | (arr == 1.0)).tolist():
            if type(value[i]) not in _NUMBER_TYPES:
                raise SignatureError(field, "must be an array of numbers")
    if not lo <= arr.shape[0] <= hi:
        raise SignatureError(field, f"must hold {lo} to {hi} samples, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise SignatureError(field, f"every sample must be finite (sample {bad} is not)")
    return arr


def _optional_str(obj: Mapping[str, Any], field: str, max_chars: int | None) -> str | None:
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SignatureError(field, "must be a string")
    if max_chars is not None and len(value) > max_chars:
        raise SignatureError(field, f"must be at most {max_chars} characters")
    return value


def parse_signature(obj: Any) -> Signature:
    """Validate an untrusted JSON object against spec section 2.

    Parameters
    ----------
    obj : Any
        Usually a ``dict`` decoded from one JSON line. Unknown fields are ignored.

    Returns
    -------
    Signature

    Raises
    ------
    SignatureError
        Naming the first field that breaks a rule, and the rule.
    """
    if not isinstance(obj, Mapping):
        raise SignatureError("$", "a signature must be a JSON object")
    eddy_lo = _trace(obj, "eddy_lo", EDDY_MIN_SAMPLES, EDDY_MAX_SAMPLES)
    eddy_hi = _trace(obj, "eddy_hi", EDDY_MIN_SAMPLES, EDDY_MAX_SAMPLES)
    if eddy_hi.shape != eddy_lo.shape:
        raise SignatureError(
            "eddy_hi",
            f"must have the same length as eddy_lo ({eddy_lo.shape[0]}), got {eddy_hi.shape[0]}",
        )
    rate = _number(obj, "eddy_rate_hz")
    if not rate > 0:
        raise SignatureError("eddy_rate_hz", "must be > 0")
    lo_loss, hi_loss = _loss_traces(obj, eddy_lo.shape[0])
    rim = _trace(obj, "rim", RIM_MIN_SAMPLES, RIM_MAX_SAMPLES)
    thickness = _number(obj, "thickness_mm")
    if not 0 < thickness < 10:
        raise SignatureError("thickness_mm", "must be > 0 and < 10")
    speed = _number(obj, "speed_mm_s")
    if not 0 < speed < 5000:
        raise SignatureError("speed_mm_s", "must be > 0 and < 5000")
    temperature = _number(obj, "temperature_c")
    if not -40 <= temperature <= 85:
        raise SignatureError("temperature_c", "must be from -40 to 85")
    return Signature(
        eddy_lo=eddy_lo,
        eddy_hi=eddy_hi,
        eddy_rate_hz=rate,
        rim=rim,
        thickness_mm=thickness,
        speed_mm_s=speed,
        temperature_c=temperature,
        id=_optional_str(obj, "id", ID_MAX_CHARS),
        head=_optional_str(obj, "head", None),
        eddy_lo_loss=lo_loss,
        eddy_hi_loss=hi_loss,
    )


LOSS_FIELDS = ("eddy_lo_loss", "eddy_hi_loss")


def _loss_traces(
    obj: Mapping[str, Any], length: int
) -> tuple[FloatArray | None, FloatArray | None]:
    """The optional loss traces (v1.1): both or neither, each as long as ``eddy_lo``.

    A JSON null counts as absent, as it does for ``id`` and ``head``.
    """
    present = [obj.get(field) is not None for field in LOSS_FIELDS]
    if not any(present):
        return None, None
    if not all(present):
        missing = LOSS_FIELDS[present.index(False)]
        other = LOSS_FIELDS[present.index(True)]
        raise SignatureError(missing, f"is required when {other} is given (both or neither)")
    traces = []
    for field in LOSS_FIELDS:
        arr = _trace(obj, field, EDDY_MIN_SAMPLES, EDDY_MAX_SAMPLES)
        if arr.shape[0] != length:
            raise SignatureError(
                field, f"must have the same length as eddy_lo ({length}), got {arr.shape[0]}"
            )
        traces.append(arr)
    return traces[0], traces[1]


ScalarFields = tuple[float, float, float, float, "str | None"]
"""``eddy_rate_hz``, ``thickness_mm``, ``speed_mm_s``, ``temperature_c``, ``id``."""

_INF = math.inf
_BIG_INT = 1 << 1000  # float() of a larger int overflows


LossLists = tuple[list[Any], list[Any]] | None
"""``eddy_lo_loss`` and ``eddy_hi_loss`` of a v1.1 signature, or None (v1)."""


def plain_fields(
    obj: Any,
) -> tuple[list[Any], list[Any], list[Any], ScalarFields, LossLists] | None:
    """The traces and checked scalars of a plain JSON signature, or None when unsure.

    The first half of the columnar fast path (:func:`coinval.batch.parse_batches`):
    for a ``dict`` as a JSON decoder makes it, check everything but the trace
    samples (types, lengths, numbers and their ranges, ``id`` and ``head``)
    with a few comparisons.  It only ever returns None for an object that
    :func:`parse_signature` might refuse, or that is not plain JSON; the
    caller then takes :func:`parse_signature`'s word (and its exact message).
    """
    if type(obj) is not dict:
        return None
    lo = obj.get("eddy_lo")
    hi = obj.get("eddy_hi")
    rim = obj.get("rim")
    if type(lo) is not list or type(hi) is not list or type(rim) is not list:
        return None
    n = len(lo)
    if (
        not EDDY_MIN_SAMPLES <= n <= EDDY_MAX_SAMPLES
        or len(hi) != n
        or not RIM_MIN_SAMPLES <= len(rim) <= RIM_MAX_SAMPLES
    ):
        return None
    numbers: list[float] = []
    for field in ("eddy_rate_hz", "thickness_mm", "speed_mm_s", "temperature_c"):
        value: Any = obj.get(field)
        # float or int only (a bool is neither here), to float as _number does.
        if type(value) is float:
            numbers.append(value)
        elif type(value) is int and -_BIG_INT < value < _BIG_INT:
            numbers.append(float(value))
        else:
            return None
    rate, thickness, speed, temperature = numbers
    # NaN fails every comparison, an infinity every range.
    if not (
        0 < rate < _INF and 0 < thickness < 10 and 0 < speed < 5000 and -40 <= temperature <= 85
    ):
        return None
    coin_id = obj.get("id")
    if coin_id is not None and (type(coin_id) is not str or len(coin_id) > ID_MAX_CHARS):
        return None
    head = obj.get("head")
    if head is not None and type(head) is not str:
        return None
    lo_loss = obj.get("eddy_lo_loss")
    hi_loss = obj.get("eddy_hi_loss")
    losses: LossLists = None
    if lo_loss is not None or hi_loss is not None:
        if type(lo_loss) is not list or type(hi_loss) is not list:
            return None
        if len(lo_loss) != n or len(hi_loss) != n:
            return None
        losses = (lo_loss, hi_loss)
    return lo, hi, rim, (rate, thickness, speed, temperature, coin_id), losses


def stack_traces(rows: Sequence[list[Any]], good: npt.NDArray[np.bool_]) -> FloatArray:
    """Traces of equal length as one (n, length) float array, checked as :func:`_trace` does.

    A row :func:`parse_signature` might refuse (a sample that is not a real
    number, a JSON boolean, not finite) is marked False in ``good``.

    ``struct`` converts a list of Python numbers in one C loop, faster than
    numpy's per-element conversion, and to the very same doubles.
    """
    n, length = len(rows), len(rows[0])
    out = np.empty((n, length), dtype=np.float64)
    pack = struct.Struct(f"{length}d").pack_into
    stride = 8 * length
    buffer = out.data
    for i, row in enumerate(rows):
        try:
            pack(buffer, i * stride, *row)
        except (struct.error, TypeError, OverflowError, ValueError):
            good[i] = False
    # struct takes a JSON boolean as 0.0 or 1.0: only those samples need their
    # type checked (bool is not a number in JSON), as parse_signature does.
    hits = np.flatnonzero(((out == 0.0) | (out == 1.0)).any(axis=1) & good)
    for i in hits.tolist():
        row = rows[i]
        for j in np.flatnonzero((out[i] == 0.0) | (out[i] == 1.0)).tolist():
            if type(row[j]) not in _NUMBER_TYPES:
                good[i] = False
                break
    good &= np.isfinite(out).all(axis=1)
    return out


def echo_id(obj: Any) -> str | None:
    """The ``id`` to echo in a decision, even for an invalid signature.

    An id that is itself invalid (not a string, too long) is not echoed.
    """
    if isinstance(obj, Mapping):
        value = obj.get("id")
        if isinstance(value, str) and len(value) <= ID_MAX_CHARS:
            return value
    return None
