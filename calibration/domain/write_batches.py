"""How big each write transaction of a long upload may be.

A request that writes many rows writes them in batches, one short transaction
each, so that the store's write lock is free between them and the safety
controls (master inhibit, inhibit, activate, rollback) get through within a
second under any upload.  The batch size follows the lock hold it causes: the
store's speed is not known in advance (disk, SQLite or PostgreSQL, other load).
"""

from __future__ import annotations

#: A batch that held the write lock longer than this makes the next one half as
#: big; one well under it lets the batches grow back to the configured rows.
HOLD_TARGET_S = 0.05
MIN_BATCH_ROWS = 25


def next_size(size: int, most: int, held: float) -> int:
    """The next batch's rows, after one of ``size`` rows held the lock ``held`` seconds."""
    if held > HOLD_TARGET_S:
        return max(MIN_BATCH_ROWS, min(size, most) // 2)
    if held < HOLD_TARGET_S / 2:
        return min(most, size * 2)
    return size
