"""Where on its passage a coin's ring and core are read off the eddy traces."""

from __future__ import annotations

import numpy as np

from coinval.features.table import FloatArray

# Positions along the coin's passage, as a fraction of its half-width between the
# half-height crossings of the eddy trace.  Bimetal UK coins have their core inside
# about 0.65 of the radius, so the centre window sees core and the outer band ring.
CORE_WINDOW = (-0.25, 0.25)
RING_WINDOWS = ((-0.85, -0.6), (0.6, 0.85))
LEVEL_WINDOW = (-0.85, 0.85)
_WINDOWS = (CORE_WINDOW, RING_WINDOWS[0], RING_WINDOWS[1], LEVEL_WINDOW)
_WINDOW_EDGES = np.unique(np.array(_WINDOWS, dtype=np.float64))
_WINDOW_STARTS = np.searchsorted(_WINDOW_EDGES, [w[0] for w in _WINDOWS])
_WINDOW_STOPS = np.searchsorted(_WINDOW_EDGES, [w[1] for w in _WINDOWS])


def window_means(y: FloatArray, centre: FloatArray, half: FloatArray) -> FloatArray:
    """Mean of each channel over each of :data:`_WINDOWS`, shape (2, n, 4).

    Window sums from the sums between consecutive window edges (one pass of
    add.reduceat over the flat traces, no running sum), each end of a segment
    taking its fraction of the sample it falls in.

    Parameters
    ----------
    y : ndarray of shape (2, n, length)
        Baseline-free low and high channel traces.
    centre, half : ndarray of shape (n,)
        The coin's centre and half-width on the traces, in samples.
    """
    _, n, length = y.shape
    c2 = np.concatenate([centre, centre])[:, None]
    h2 = np.concatenate([half, half])[:, None]
    pos = np.minimum(np.maximum(c2 + _WINDOW_EDGES[None, :] * h2, 0.0), length)  # ascending
    i = np.minimum(pos.astype(np.int64), length - 1)
    frac = pos - i
    flat_y = y.reshape(-1)
    idx = i + (np.arange(2 * n) * length)[:, None]
    at_edge = flat_y[idx]
    between = np.add.reduceat(flat_y, idx.reshape(-1)).reshape(2 * n, -1)[:, :-1]
    between = np.where(i[:, 1:] > i[:, :-1], between, 0.0)
    segment = between + frac[:, 1:] * at_edge[:, 1:] - frac[:, :-1] * at_edge[:, :-1]
    running = np.zeros(pos.shape)
    np.add.accumulate(segment, axis=1, out=running[:, 1:])
    sums = running[:, _WINDOW_STOPS] - running[:, _WINDOW_STARTS]
    means = sums / np.maximum(pos[:, _WINDOW_STOPS] - pos[:, _WINDOW_STARTS], 1e-9)
    out: FloatArray = means.reshape(2, n, 4)
    return out
