"""Glitch mending: samples hit by interference or debris laid on the line through
their neighbours, before any feature is read off a trace."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from coinval.features.table import FloatArray, IntArray

_Floats = TypeVar("_Floats", bound=npt.NDArray[np.floating[Any]])


def despike(
    x: _Floats, periodic: bool, own: bool = False, sample_mm: FloatArray | None = None
) -> _Floats:
    """Replace glitches (one to three samples hit by interference or debris) by
    the line through their neighbours.

    A glitch stands out from the line through its neighbours far more than the
    trace's own ripple (milling, noise) ever does; the ripple's size is the mean
    deviation of each sample from its two neighbours' mean over the whole trace.
    Rows where some sample deviates more than 8 times that are few, and only they
    are looked at closer: runs of two or three samples with a clean sample on
    each side first, then single samples, then runs at an open trace's ends (whose
    one side must be clean: mended first).  Runs only on open traces (eddy), and
    only where they span less than _NARROWEST_RING_MM (``sample_mm``: each row's
    millimetres a sample; without it no run is mended): on a coarse trace a coin's
    own ring is as few samples wide.  Not on a rim (``periodic``): a Reuleaux
    coin's vertices are as sharp as a glitch there, two or three samples on a
    256-sample gauge, and were flattened as one.  ``own`` says the caller made
    ``x`` for this call: it is mended in place.
    """
    length = x.shape[1]
    x = cast(_Floats, np.ascontiguousarray(x))
    dev = _deviation(x, periodic)
    threshold = 8.0 / length * np.add.reduce(dev, axis=1) + 1e-12
    cand_rows = (np.maximum.reduce(dev, axis=1) > threshold).nonzero()[0]
    if cand_rows.size == 0:
        return x  # the usual case: nothing to mend, no copy
    rows = x[cand_rows]  # a copy, mended in place
    limit = threshold[cand_rows]
    runs = not periodic and sample_mm is not None
    if runs:
        run_mm = np.asarray(sample_mm, dtype=np.float64)[cand_rows]
        mended = _mend_runs(rows, limit, run_mm, at_ends=False)
    else:
        mended = False
    mended |= _mend_spikes(rows, limit, periodic)
    if runs:
        mended |= _mend_runs(rows, limit, run_mm, at_ends=True)
    if not mended:
        return x
    out = x if own else x.copy()
    out[cand_rows] = rows
    return out


def _deviation(x: _Floats, periodic: bool) -> _Floats:
    """``|x - (left + right) / 2|`` of every sample, shape of ``x`` (C-contiguous).

    An open trace's end sample has one neighbour, mirrored to stand for both: a
    glitch on the very first sample is then measured at full size, where an end
    taken as its own neighbour halved it and let the next sample, pulled half-way
    by it, pass for the glitch.
    """
    dev = np.empty_like(x)
    # Computed on the flat array, where it is one contiguous pass; only each row's
    # first and last column straddle rows there, and those are set again.
    flat_x, flat_dev = x.reshape(-1), dev.reshape(-1)
    np.add(flat_x[:-2], flat_x[2:], out=flat_dev[1:-1])
    left_end = x[:, -1] if periodic else x[:, 1]
    right_end = x[:, 0] if periodic else x[:, -2]
    dev[:, 0] = left_end + x[:, 1]
    dev[:, -1] = x[:, -2] + right_end
    dev *= -0.5
    dev += x
    np.abs(dev, out=dev)
    return dev


def _mend_spikes(x: _Floats, threshold: FloatArray, periodic: bool) -> bool:
    """Mend, in place, single samples that tower over their neighbours; say whether any.

    Parameters
    ----------
    x : ndarray of shape (m, length)
        The few rows with candidates (see :func:`despike`); changed in place.
    threshold : ndarray of shape (m,)
        Deviation from the neighbours' mean beyond which a sample may be a spike.
    periodic : bool
    """
    length = x.shape[1]
    dev = _deviation(x, periodic)
    rows, cols = (dev > threshold[:, None]).nonzero()
    if rows.size == 0:
        return False

    def index(offset: int) -> IntArray:
        idx = cols + offset
        if periodic:
            return idx % length
        # Mirrored at the ends, as in _deviation (a trace shorter than 3 has no spikes to find).
        idx = np.abs(idx)
        return np.minimum(idx, 2 * (length - 1) - idx)

    def at(offset: int) -> npt.NDArray[np.floating[Any]]:
        return x[rows, index(offset)]

    # Only the local peak of the deviation is a spike: its neighbours deviate by
    # half as much only because the spike is in their own neighbour mean.
    d = dev[rows, cols]
    prev_d, next_d = dev[rows, index(-1)], dev[rows, index(1)]
    if not periodic:
        # An end sample measured against its one neighbour deviates by a spike's
        # full size whether the spike is on it or on that neighbour, where the
        # neighbour deviates by the full size or by half.  So an end is not held
        # to the peak test (whether it towers over the slope beside it decides),
        # and the sample next to it must reach three quarters of the end's deviation.
        end = (cols == 0) | (cols == length - 1)
        prev_d = np.where(end, 0.0, np.where(cols == 1, 0.75 * prev_d, prev_d))
        next_d = np.where(end, 0.0, np.where(cols == length - 2, 0.75 * next_d, next_d))
    peak = (d >= prev_d) & (d >= next_d)
    # A narrow but real bump (a small coin passing quickly, a few samples wide)
    # also stands out from its neighbours; it differs from a one-sample spike in
    # that its neighbours are steep too.  A spike towers over the slope beside it.
    left, right = np.abs(at(-1) - at(-2)), np.abs(at(2) - at(1))
    if not periodic:
        # Next to an end there is no slope beyond the neighbour on that side (the
        # mirror would fold it back onto the spike itself): the other side's counts.
        left = np.where(cols == 1, 0.0, left)
        right = np.where(cols == length - 2, 0.0, right)
        # An end has one neighbour, mirrored on both sides, and the slope beside
        # it is read beyond that neighbour, over three steps: a clean end sample
        # before a glitch run starting next to it must not pass for the spike.
        # (Mirrored, positive offsets walk inward from either end.)
        ahead = [np.abs(at(k + 1) - at(k)) for k in (1, 2, 3)]
        left = np.where(end, np.maximum.reduce(ahead), left)
    beside = np.maximum(left, right)
    # ... and stands apart from both its neighbours: the sample beside a longer
    # glitch deviates from its neighbours' mean too, but not from its other neighbour.
    apart = np.minimum(np.abs(at(0) - at(-1)), np.abs(at(0) - at(1))) > np.maximum(beside, 0.25 * d)
    towers = peak & (d > 2.0 * beside) & apart
    if not towers.any():
        return False
    x[rows[towers], cols[towers]] = 0.5 * (at(-1) + at(1))[towers]
    return True


_RUN_LENGTHS = (2, 3)
_NARROWEST_RING_MM = 3.5
"""No coin structure on an eddy trace is narrower than this: a bimetal coin's ring
(3.75 mm on a euro, 4.2 on the pounds), which the coil's footprint only widens.  A
run of samples spanning less is a glitch; a run spanning more may be a coin's own
ring (a euro's ring peak is three samples, 6 mm, wide on a 48-sample trace)."""


def _mend_runs(x: _Floats, threshold: FloatArray, sample_mm: FloatArray, at_ends: bool) -> bool:
    """Mend, in place, glitches of 2 or 3 consecutive samples on open traces (eddy);
    say whether any was.

    A glitch run is a run that lies off the line through the samples on either
    side of it, on average by more than the row's ``threshold`` and twice the
    slope beside the run, every sample of it the same way by at least half that
    (a spike on a coin's peak, with the peak's samples beside it, is not a run);
    and which comes back: the samples either side lie close to each other (a
    step, the edge of a coin on a coarse trace, does not come back).  It is
    replaced by that line.  With ``at_ends``, only runs at the trace's ends are
    looked for: they have one side, whose level they take (a coin cut off by the
    window's end within a run's length of it would be flattened too: only a
    glitch rises that steeply on a trace fine enough to mend runs on).

    Parameters
    ----------
    x : ndarray of shape (m, length)
        The few rows with candidates (see :func:`despike`); changed in place.
    threshold, sample_mm : ndarray of shape (m,)
        Each row's threshold, and its millimetres a sample.
    at_ends : bool
    """
    length = x.shape[1]
    mended = False
    dev: _Floats | None = None  # read again only after a width mended something
    for width in _RUN_LENGTHS:
        short = width * sample_mm < _NARROWEST_RING_MM
        if length < width + 4 or not short.any():
            break
        # A run and the clean sample either side of it all deviate from their
        # neighbours' mean: only runs around such samples are looked at.
        # (Half the threshold: the samples of a run deviate by half its size.)
        if dev is None:
            dev = _deviation(x, periodic=False)
        cand_row, cand_col = ((dev > 0.5 * threshold[:, None]) & short[:, None]).nonzero()
        if at_ends:
            near_end = (cand_col <= width + 1) | (cand_col >= length - width - 2)
            cand_row, cand_col = cand_row[near_end], cand_col[near_end]
        if cand_row.size == 0:
            continue
        # Every start whose run would hold or touch a candidate, each once, in
        # row-major order: marked on a mask, not sorted (np.unique): an oversampled
        # trace has many candidates, and their sort would outweigh the mending.
        near = np.minimum(np.maximum(cand_col[:, None] + np.arange(-width, 2), 0), length - 1)
        marked = np.zeros(x.shape, dtype=bool)
        marked[cand_row[:, None], near] = True
        rows, starts = marked.nonzero()
        if at_ends:
            keep = (starts == 0) | (starts == length - width)
        else:
            keep = (starts >= 1) & (starts <= length - width - 1)
        rows, starts = rows[keep], starts[keep]

        def at(offset: int, rows: IntArray = rows, starts: IntArray = starts) -> FloatArray:
            idx = np.minimum(np.maximum(starts + offset, 0), length - 1)
            return cast(FloatArray, x[rows, idx])

        left, right = at(-1), at(width)
        # Beyond a side that is the trace's end sample there is no slope to read:
        # clipped, it reads 0, and the other side's counts.
        slope = np.maximum(np.abs(left - at(-2)), np.abs(at(width + 1) - right))
        if at_ends:
            # The one side's level stands for both; the slope is read beyond it.
            first = starts == 0
            left = right = np.where(first, right, left)
            slope = np.abs(np.where(first, at(width + 1), at(-2)) - left)
        line = [left + (right - left) * ((k + 1) / (width + 1)) for k in range(width)]
        off = [at(k) - v for k, v in enumerate(line)]
        size = np.abs(sum(off[1:], off[0]) / width)
        sign = np.sign(off[0])
        each = np.minimum.reduce([sign * o for o in off])
        glitch = (
            (size > threshold[rows])
            & (size > 2.0 * slope)
            & (np.abs(right - left) < 0.5 * size)
            & (each > 0.5 * size)
        )
        if not glitch.any():
            continue
        g_rows, g_starts = rows[glitch], starts[glitch]
        for k in range(width):
            x[g_rows, g_starts + k] = line[k][glitch]
        mended = True
        dev = None
    return mended
