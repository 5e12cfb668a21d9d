"""The width of a bimetal coin's core along its passage, on each eddy channel."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from coinval.features.table import FloatArray


def one_core_width(
    y: FloatArray, centre: float, half: float, core: FloatArray, ring: FloatArray
) -> list[float]:
    """:func:`core_width` of one coin: y of shape (2, length), levels of shape (2,)."""
    length = y.shape[1]
    reach = math.ceil(0.95 * half)
    middle = round(centre)
    first, last = max(middle - reach, 0), min(middle + reach, length - 1)
    out = []
    for trace, c, r in zip(y, core.tolist(), ring.tolist(), strict=True):
        step = c - r
        if step == 0.0:
            out.append(0.0)
            continue
        share = (trace[first : last + 1] - r) / step
        # The centre lies inside the trace, so the right side is never empty.
        split = max(middle - first, 0)
        left = int(share[:split].argmin()) if split else 0
        right = split + int(share[split:].argmin())
        counted = share[left : right + 1]
        out.append(float(np.minimum(np.maximum(counted, 0.0), 1.0).sum()))
    return out


@lru_cache(maxsize=64)
def _positions(length: int) -> FloatArray:
    """Sample positions 0 .. length - 1, as floats."""
    out = np.arange(length, dtype=np.float64)
    out.flags.writeable = False  # shared between calls
    return out


def core_width(
    y: FloatArray, centre: FloatArray, half: FloatArray, core: FloatArray, ring: FloatArray
) -> FloatArray:
    """Width of a bimetal coin's core along its passage on each channel, in samples.

    Each sample counts for how far it has stepped from the ring's level towards
    the core's (0 at the ring, 1 at the core): across a step blurred
    symmetrically by the coil that sums to the distance from its half-way
    point, so the sum is the core's width.  A sum, not the first crossing of
    half-way: one noisy sample moves it by at most its own share, where it
    could move a crossing to the centre.  The ring's level is read beside the
    core, where the coil's blur reaches: widths read a little short, and change
    by 60-90 % of a change in the core.  Each channel reads its own: where the
    two see the core differently, a blend would move with their weights from
    pass to pass.

    Parameters
    ----------
    y : ndarray of shape (2, n, length)
        Baseline-free low and high channel traces.
    centre, half : ndarray of shape (n,)
        The coin's centre and half-width on the traces, in samples.
    core, ring : ndarray of shape (2, n)
        Each channel's core and ring levels.

    Returns
    -------
    ndarray of shape (2, n)
    """
    _, n, length = y.shape
    # Only the samples within 0.95 of the coin's half-width of its centre matter:
    # a block of them around each row's centre (slices, not a gather sample by
    # sample), so the work goes with the coin's width, not the window's.
    reach = np.ceil(0.95 * half)
    size = min(2 * int(reach.max()) + 1, length) if n else 1
    middle = np.rint(centre).astype(np.int64)
    start = np.minimum(np.maximum(middle - size // 2, 0), length - size)
    # Every run of ``size`` samples of every row, as a view (what numpy's
    # sliding_window_view makes, without its checks: one coin at the gate).
    rows = np.ascontiguousarray(y.reshape(2 * n, length))
    item = rows.itemsize
    blocks: FloatArray = np.ndarray(
        (2 * n, length - size + 1, size), rows.dtype, rows, 0, (length * item, item, item)
    )
    share = blocks[np.arange(2 * n), np.concatenate((start, start))].reshape(2, n, size)
    from_centre = (start - middle)[:, None] + _positions(size)
    within = np.abs(from_centre) <= reach[:, None]
    before = from_centre < 0.0
    # How far each sample has gone from the ring's level towards the core's
    # (no step at all: nowhere).
    step = core - ring
    share -= ring[..., None]
    share /= np.where(step == 0.0, np.inf, step)[..., None]
    # Outward from the centre the trace goes core, ring, then off the coin.  Where
    # the core is the weaker, leaving the coin also goes the core's way, so only
    # the samples up to the ring's strongest (least share) on each side count.
    left = np.where(within & before, share, np.inf).argmin(axis=2)
    right = np.where(within & ~before, share, np.inf).argmin(axis=2)
    np.minimum(np.maximum(share, 0.0, out=share), 1.0, out=share)
    column = _positions(size)
    counted = (column >= left[..., None]) & (column <= right[..., None])
    width: FloatArray = np.add.reduce(np.where(counted, share, 0.0), axis=2)
    return width
