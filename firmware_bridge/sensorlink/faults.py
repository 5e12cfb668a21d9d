"""Fault injection for link tests: split, garble, drop and insert bytes.

The idea is pymodbus's null-modem manipulator: put something between two
endpoints that damages the byte stream the way a noisy or overloaded serial
line does, reproducibly (every random choice comes from a seeded
``random.Random``), and keeps a log of what it did so a test can tell which
frames were touched.  Used to show that the link never invents a message:
whatever is damaged is reported or lost, never delivered altered.
"""

from __future__ import annotations

import enum
import itertools
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field


def flip_bit(data: bytes, bit: int) -> bytes:
    """``data`` with bit number ``bit`` inverted (bit 0 is the LSB of byte 0)."""
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (out-of-range and repeated cuts are ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def random_chunks(data: bytes, rng: random.Random, max_chunk: int) -> list[bytes]:
    """``data`` split into consecutive chunks of 1 to ``max_chunk`` bytes, as reads return it."""
    if max_chunk < 1:
        raise ValueError("max_chunk must be at least 1")
    chunks = []
    pos = 0
    while pos < len(data):
        n = rng.randint(1, max_chunk)
        chunks.append(data[pos : pos + n])
        pos += n
    return chunks


class FaultKind(enum.Enum):
    """What the manipulator did at one offset."""

    FLIP = "flip"
    DROP = "drop"
    INSERT = "insert"


@dataclass(frozen=True, slots=True)
class Injected:
    """One injected fault: its kind and the offset in the input it applied to."""

    kind: FaultKind
    offset: int


@dataclass
class LineManipulator:
    """Damages bytes at given per-byte rates, and splits them into random reads.

    Parameters
    ----------
    rng : random.Random
        The only source of randomness; seed it for a reproducible run.
    flip_rate, drop_rate, insert_rate : float
        Per input byte, the chance of flipping one of its bits, dropping it,
        or inserting a random byte before it.
    max_chunk : int or None
        If set, :meth:`__call__` returns reads of 1 to ``max_chunk`` bytes.

    Attributes
    ----------
    log : list of Injected
        Every fault injected by :meth:`damage`, with offsets in its input.
    """

    rng: random.Random
    flip_rate: float = 0.0
    drop_rate: float = 0.0
    insert_rate: float = 0.0
    max_chunk: int | None = None
    log: list[Injected] = field(default_factory=list)

    def damage(self, data: bytes) -> bytes:
        """``data`` with faults injected at the configured rates; appends to :attr:`log`."""
        if not (self.flip_rate or self.drop_rate or self.insert_rate):
            return data
        out = bytearray()
        rng = self.rng
        for offset, byte in enumerate(data):
            if self.insert_rate and rng.random() < self.insert_rate:
                out.append(rng.randrange(256))
                self.log.append(Injected(FaultKind.INSERT, offset))
            if self.drop_rate and rng.random() < self.drop_rate:
                self.log.append(Injected(FaultKind.DROP, offset))
                continue
            if self.flip_rate and rng.random() < self.flip_rate:
                byte ^= 1 << rng.randrange(8)
                self.log.append(Injected(FaultKind.FLIP, offset))
            out.append(byte)
        return bytes(out)

    def __call__(self, data: bytes) -> list[bytes]:
        """``data`` damaged, then cut into reads (one read if ``max_chunk`` is None)."""
        damaged = self.damage(data)
        if self.max_chunk is None:
            return [damaged] if damaged else []
        return random_chunks(damaged, self.rng, self.max_chunk)


class NullModem:
    """Two in-memory serial ends wired back to back, each direction through a manipulator.

    Bytes written at one end are damaged by that direction's manipulator (if
    any) and queued, in the manipulator's chunks, for the other end's
    :meth:`read`.  No threads, no clock: a test pumps it.
    """

    def __init__(
        self,
        a_to_b: LineManipulator | None = None,
        b_to_a: LineManipulator | None = None,
    ) -> None:
        self._to_b: deque[bytes] = deque()
        self._to_a: deque[bytes] = deque()
        self._a_to_b = a_to_b
        self._b_to_a = b_to_a

    @staticmethod
    def _carry(data: bytes, via: LineManipulator | None, queue: deque[bytes]) -> None:
        queue.extend(via(data) if via is not None else [data])

    def write_a(self, data: bytes) -> None:
        """End A sends ``data`` towards B."""
        self._carry(data, self._a_to_b, self._to_b)

    def write_b(self, data: bytes) -> None:
        """End B sends ``data`` towards A."""
        self._carry(data, self._b_to_a, self._to_a)

    def read_a(self) -> bytes | None:
        """The next chunk that reached end A, or None."""
        return self._to_a.popleft() if self._to_a else None

    def read_b(self) -> bytes | None:
        """The next chunk that reached end B, or None."""
        return self._to_b.popleft() if self._to_b else None
