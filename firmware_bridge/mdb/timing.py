"""MDB 4.2 timing rules, in seconds, as the sans-I/O objects apply them.

Nothing here sleeps or reads a clock: callers pass ``now`` and the objects
compare.  Where the spec gives a *sender's* limit (inter-byte, response), the
receiver's tolerance is set apart and said so.
"""

from __future__ import annotations

__all__ = [
    "BAUD",
    "T_BREAK_S",
    "T_INTER_BYTE_S",
    "T_NON_RESPONSE_S",
    "T_RESPONSE_S",
    "T_SETUP_S",
]

#: Bits per second on the bus (11 bits per word: start, 8 data, mode, stop).
BAUD = 9600
#: Longest gap between two bytes of one block (the sender's limit).
T_INTER_BYTE_S = 0.001
#: A peripheral answers within this time of a command's last byte; the VMC
#: answers a data response (ACK / RET / NAK) within the same time.
T_RESPONSE_S = 0.005
#: A break this long resets every peripheral on the bus.
T_BREAK_S = 0.100
#: Longest time a peripheral may need after a reset before it answers.
T_SETUP_S = 0.200
#: The coin changer's maximum non-response time.  The VMC gives a silent
#: changer up after it; this changer applies it the other way round: with no
#: POLL for this long the VMC is gone, and coins are returned, not credited.
T_NON_RESPONSE_S = 2.0
