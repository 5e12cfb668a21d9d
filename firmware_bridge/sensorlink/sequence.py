"""Sequence numbers: a per-direction frame counter on the ring 1..2**32-1.

Every frame a node sends takes the next number of its own counter (0 is
reserved for "no coin" in :class:`~firmware_bridge.sensorlink.messages.Fault`
and "unassigned" in a message not yet sent).  The receiver accepts a frame
only if its number is newer than the last one it accepted, in serial-number
arithmetic (RFC 1982) so that the wrap from 2**32-1 to 1 is not a step back.
A replayed or re-ordered frame is therefore never delivered twice, which is
what keeps a duplicated signature from becoming a second coin.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware_bridge.sensorlink.framing import SEQ_MAX

# Numbers less than half the ring ahead count as newer; the rest as older.
_HALF = SEQ_MAX // 2


def next_seq(seq: int) -> int:
    """The number after ``seq`` (0 gives 1; 2**32-1 wraps to 1, skipping 0)."""
    return 1 if seq >= SEQ_MAX else seq + 1


def seq_ahead(newer: int, older: int) -> int:
    """How many steps ``newer`` is after ``older`` on the ring 1..2**32-1."""
    return (newer - older) % SEQ_MAX


def seq_newer(newer: int, older: int) -> bool:
    """Whether ``newer`` comes after ``older`` (less than half the ring ahead)."""
    return 0 < seq_ahead(newer, older) <= _HALF


class SeqVerdict(enum.Enum):
    """How a received sequence number relates to the last accepted one."""

    FIRST = "first"  # nothing accepted since start or the last reset
    NEXT = "next"
    GAP = "gap"  # newer, but frames are missing in between
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"

    @property
    def accepted(self) -> bool:
        """Whether the frame is to be delivered."""
        return self in (SeqVerdict.FIRST, SeqVerdict.NEXT, SeqVerdict.GAP)


@dataclass(frozen=True, slots=True)
class SeqCheck:
    """The verdict on one sequence number, and how many frames are missing before it."""

    verdict: SeqVerdict
    missing: int = 0


class SequenceTracker:
    """Remembers the last accepted sequence number of one peer."""

    def __init__(self) -> None:
        self.last: int | None = None

    def reset(self) -> None:
        """Forget the past (the peer said Hello: it may have restarted its counter)."""
        self.last = None

    def observe(self, seq: int) -> SeqCheck:
        """Judge ``seq`` and, if it is to be accepted, remember it."""
        last = self.last
        if last is None:
            self.last = seq
            return SeqCheck(SeqVerdict.FIRST)
        ahead = seq_ahead(seq, last)
        if ahead == 0:
            return SeqCheck(SeqVerdict.DUPLICATE)
        if ahead > _HALF:
            return SeqCheck(SeqVerdict.OUT_OF_ORDER)
        self.last = seq
        if ahead == 1:
            return SeqCheck(SeqVerdict.NEXT)
        return SeqCheck(SeqVerdict.GAP, missing=ahead - 1)
