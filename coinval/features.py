"""Batch feature extraction: physics-derived features of every coin in a batch.

All functions work on whole batches, arrays of shape (n, samples), with numpy
and scipy; one coin is a batch of one.  Geometric features are in millimetres
(metrology, comparable across heads); inductive features are in the head's
hardware units or are scale-free contrasts, and only mean something against a
calibration made on the same head.

The only built-in numbers are geometric: edges are looked for among harmonics
2..16 of the rim (the first harmonic is eccentric mounting, not shape), milling
lives above the edge harmonics, and the new pound's milling alternates between
neighbouring sides, so it modulates at half the edge count, in phase with the
sides (which lie between the vertices the edge harmonic peaks at); an edge
inscription is letter-sized relief, between the edge harmonics and the milling.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from scipy import fft as sfft
from threadpoolctl import threadpool_limits

from coinval.batch import SignatureBatch, group_by_shape
from coinval.no_coin import NoCoinLevels, baseline_and_noise
from coinval.signature import Signature

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_Floats = TypeVar("_Floats", bound=npt.NDArray[np.floating[Any]])

EDGE_HARMONICS = (2, 16)
"""Edge counts looked for: harmonic 1 is eccentric mounting, not an edge."""
MILLING_FIRST_HARMONIC = 50
"""Milling ripple lies above the edges and their first harmonics (3 x 16 < 50)."""
MILLING_FLOOR_MM = 1e-4
"""A tenth of a micron: below any gauge's resolution, keeps the log finite."""
LETTERING_HARMONICS = (17, 49)
"""An edge inscription is letter-sized relief: broadband between the edge harmonics
(up to 16) and the milling (from 50 on)."""
LETTERING_FLOOR_MM = 1e-5
"""A hundredth of a micron a harmonic: keeps the log of a noise-free plain edge finite."""
MILLING_SIDEBANDS = 24
"""Milling on alternate sides of a 12-sided coin is the carrier gated at 6 cycles
per turn: its sidebands sit at +-6, +-18 harmonics around the groove count."""

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

FEATURE_NAMES: tuple[str, ...] = (
    "diameter_mm",
    "thickness_mm",
    "edge_depth_mm",
    "edge_sharpness",
    "log_milling_mm",
    "milling_alternation",
    "log_lettering_mm",
    "inductive_width_mm",
    "lo_level",
    "hi_level",
    "lo_ring",
    "lo_core",
    "hi_ring",
    "hi_core",
    "lo_core_vs_ring",
    "hi_core_vs_ring",
    "hi_vs_lo_ring",
    "hi_vs_lo_core",
    "hi_vs_lo_level",
    "lo_core_width_mm",
    "hi_core_width_mm",
    "lo_ring_loss_angle",
    "lo_core_loss_angle",
    "hi_ring_loss_angle",
    "hi_core_loss_angle",
)
"""Continuous features, in column order of :attr:`CoinFeatures.values`."""

LOSS_ANGLES: tuple[str, ...] = (
    "lo_ring_loss_angle",
    "lo_core_loss_angle",
    "hi_ring_loss_angle",
    "hi_core_loss_angle",
)
"""The phase of ring and core in the coil's impedance plane at each frequency,
``atan2(loss, reactive)`` in radians: scale-free measures of conductivity
(signature contract v1.1); NaN where a head gives no loss traces."""

INDUCTIVE: list[int] = list(
    range(FEATURE_NAMES.index("inductive_width_mm"), FEATURE_NAMES.index("hi_vs_lo_level") + 1)
)
"""Columns of the eddy-current levels, contrasts and width: with the core's widths and
the loss angles, the features that move with rolling speed."""

EDGED_ONLY: tuple[str, ...] = ("edge_sharpness", "milling_alternation")
"""Features measured relative to the edges: noise on a coin that has none."""

CORE_WIDTHS: tuple[str, ...] = ("lo_core_width_mm", "hi_core_width_mm")
"""The core's width on each channel, mm: 0 where neither channel's centre reads
weaker than its ring, noise on a coin that has no core."""


@dataclass(frozen=True, slots=True)
class CoinFeatures:
    """Features of a batch of coins.

    Attributes
    ----------
    values : ndarray of shape (n, n_features)
        Continuous features, columns named by :data:`FEATURE_NAMES`.
    edge_count : ndarray of shape (n,)
        Dominant rim harmonic among 2..16 (meaningful only for edged coins).
    temperature_c : ndarray of shape (n,)
        The covariate, passed through.
    speed_mm_s : ndarray of shape (n,) or None
        The second covariate, passed through; None where it is not known.
    """

    values: FloatArray
    edge_count: IntArray
    temperature_c: FloatArray
    speed_mm_s: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def rows(self, index: npt.ArrayLike) -> CoinFeatures:
        """The features of some of the coins (an index array or a boolean mask)."""
        idx = np.asarray(index)
        speed = None if self.speed_mm_s is None else self.speed_mm_s[idx]
        return CoinFeatures(self.values[idx], self.edge_count[idx], self.temperature_c[idx], speed)

    @staticmethod
    def concat(parts: Sequence[CoinFeatures]) -> CoinFeatures:
        """The coins of several batches, in order (speeds kept only if all have them)."""
        speeds = [p.speed_mm_s for p in parts]
        return CoinFeatures(
            values=np.concatenate([p.values for p in parts]),
            edge_count=np.concatenate([p.edge_count for p in parts]),
            temperature_c=np.concatenate([p.temperature_c for p in parts]),
            speed_mm_s=(
                None
                if any(v is None for v in speeds)
                else np.concatenate([v for v in speeds if v is not None])
            ),
        )


def _despike(
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
        The few rows with candidates (see :func:`_despike`); changed in place.
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
run of samples spanning less is a glitch; a euro's ring peak, three samples (6 mm)
wide on a 48-sample trace, was flattened as one before the rule."""


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
        The few rows with candidates (see :func:`_despike`); changed in place.
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
        # row-major order: marked on a mask, as a sort of them all (np.unique)
        # cost 20 times the rest on oversampled traces, where candidates are many.
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


def _envelope_ratio(
    band: npt.NDArray[np.complexfloating[Any, Any]],
    carrier: IntArray,
    harmonic: IntArray,
    length: int,
    axis: FloatArray,
) -> FloatArray:
    """``2 |Re(E[h] exp(-i axis))| / E[0]``: E the spectrum of the squared milling
    band, h ``harmonic``, projected on the phase the coin's geometry predicts.

    The band is squared in time, whose spectrum is the band's circular
    self-convolution on the two-sided spectrum,
    ``E[h] = sum over k of X[k] X[(h - k) mod length]``.  With X[k] on the band
    (bin p) and X[length - p] = conj(X[p]) on its mirror, the pairs are
    ``X[p] conj(X[p - h])`` and ``conj(X[p]) X[p + h]``, where p + h past the
    Nyquist bin folds back to ``conj(X[length - p - h])`` (milling on a coarse
    rim gauge sits near the Nyquist harmonic).  Exact, and without two FFTs.

    Parameters
    ----------
    band : ndarray of shape (n, 2 * MILLING_SIDEBANDS + 1)
        Rim spectrum at bins ``carrier - MILLING_SIDEBANDS ..  carrier + MILLING_SIDEBANDS``,
        zero where a bin is outside the milling band.
    carrier, harmonic : ndarrays of shape (n,)
    length : int
        Rim samples.
    axis : ndarray of shape (n,)
        Phase of E[h] (modulo pi) that milling on alternate sides has.  Noise has
        a random phase: only its projection counts, its magnitude does not.
    """
    width = band.shape[1]
    offsets = np.arange(width)[None, :] - MILLING_SIDEBANDS
    bins = carrier[:, None] + offsets  # bin p of each band column
    h = harmonic[:, None]

    def at_bin(b: IntArray, rows: slice | IntArray) -> npt.NDArray[np.complexfloating[Any, Any]]:
        col = b - carrier[rows, None] + MILLING_SIDEBANDS
        ok = (col >= 0) & (col < width)
        picked = band[rows]
        v = picked[np.arange(picked.shape[0])[:, None], np.minimum(np.maximum(col, 0), width - 1)]
        return np.where(ok, v, 0.0)

    # Away from Nyquist the mirror pairs sum to the band pairs: E[h] = 2 S.
    lower = np.add.reduce(band * np.conj(at_bin(bins - h, slice(None))), axis=1)
    eh = 2.0 * lower
    e0 = 2.0 * np.add.reduce(band.real**2 + band.imag**2, axis=1)
    # Rows whose band reaches the Nyquist bin within h: the exact sums there.
    near = (carrier + MILLING_SIDEBANDS + harmonic >= length // 2).nonzero()[0]
    if near.size:
        b_near, p, h_near = band[near], bins[near], h[near]
        mirror = np.where(2 * p == length, 0.0, 1.0)
        up = p + h_near
        beyond = np.where(up > length // 2, np.conj(at_bin(length - up, near)), at_bin(up, near))
        eh[near] = lower[near] + np.add.reduce(mirror * np.conj(b_near) * beyond, axis=1)
        e0[near] = np.add.reduce((b_near.real**2 + b_near.imag**2) * (1.0 + mirror), axis=1)
    along = eh.real * np.cos(axis) + eh.imag * np.sin(axis)
    out: FloatArray = 2.0 * np.abs(along) / np.maximum(e0, 1e-30)
    return out


_CLEAR_PEAK_OVER_NOISE = 30.0
"""Peak over noise at which a channel's outline counts half.  Simulated heads'
steel coins, read at half height, stray by tens of millimetres on the channel
where they all but vanish at up to 20 times the noise, and by under a sample
above 25."""
_MAX_NOISE_SHARE = 0.5
"""Share of the milling band's energy the alternation may set aside as noise."""
_MILLED_OVER_NOISE = 1.5
"""A band with less than this many times the noise's energy is not milled: white
noise alone gives about 1.1 over the band's ~50 bins (the carrier, the strongest
bin of the whole milling range, adds the 0.1) and passes 1.5 in 1.6-4 % of rims,
most often on coarse gauges, where the band is clipped to fewer bins."""
_MILLED_SIDEBANDS_OVER_NOISE = 8.0
"""Or, on a coin with sides to alternate between, one whose two bins at half the
edge count from the carrier hold this many times a bin's noise is milled: white
noise passes it on 0.1-0.2 % of rims (two free bins would pass 0.3 %; neither may
outdo the carrier), where the whole band's test above passes 1.6-4 %."""
_BOTH_SIDES = np.array([-1, 1])
_FEWEST_SIDES_TO_ALTERNATE = 6
"""Sidebands one or two bins from the carrier are also the once-a-turn wobble of
a coin mounted off-centre: the sideband test asks coins with six sides or more."""


def _noise_per_bin(power: npt.NDArray[np.floating[Any]], carrier: IntArray) -> FloatArray:
    """Power per bin of the gauge's white noise, from the rim spectrum above
    MILLING_FIRST_HARMONIC outside the milling band.

    A median, not a mean: the milling's own harmonics (folded on a coarse
    gauge), its sidebands from off-centre mounting and the edge pattern's
    harmonics are a few bins; white noise's power per bin is exponentially
    distributed, with a median of ln 2 times its mean.

    Parameters
    ----------
    power : ndarray of shape (n, n_high)
        Squared magnitude of the rim spectrum from bin MILLING_FIRST_HARMONIC
        on; the caller's own copy, which this overwrites.
    carrier : ndarray of shape (n,)
        Milling carrier bin of each coin.
    """
    n_high = power.shape[1]
    width = 2 * MILLING_SIDEBANDS + 1
    if n_high <= width:  # a gauge so coarse that the band is all there is
        return np.zeros(power.shape[0])
    # Leave out a window of the band's width around the carrier, slid inside the
    # range where the band is cut off at an end: every coin then has the same
    # number of bins left, one rank serves all, and no coin's floor depends on
    # the other coins of its batch.
    first = np.minimum(
        np.maximum(carrier - MILLING_FIRST_HARMONIC - MILLING_SIDEBANDS, 0), n_high - width
    )
    # The left-out window sorts last as inf; so do NaN and the inf of absurd
    # rims (1e300 mm) that overflow, which leave a coin no estimate.
    power[np.arange(power.shape[0])[:, None], first[:, None] + np.arange(width)] = np.inf
    kth = (n_high - width - 1) // 2
    power.partition(kth, axis=1)
    median = power[:, kth]
    out: FloatArray = np.where(np.isfinite(median), median, 0.0) / np.log(2.0)
    return out


def _rim_spectrum(rim: FloatArray) -> npt.NDArray[np.complexfloating[Any, Any]]:
    """Spectrum of each despiked rim, shape (n, n_rim // 2 + 1)."""
    # Single precision is ample for millimetre metrology and halves memory traffic.
    rim32 = np.asarray(rim, dtype=np.float32)
    # Mend in place only a copy made here (a float32 memmap's asarray is a view).
    clean = _despike(rim32, periodic=True, own=not np.may_share_memory(rim32, rim))
    spec: npt.NDArray[np.complexfloating[Any, Any]] = sfft.rfft(clean, axis=1, workers=1)
    return spec


def _milling_band(
    spec: npt.NDArray[np.complexfloating[Any, Any]], amp: npt.NDArray[np.floating[Any]]
) -> tuple[IntArray, npt.NDArray[np.bool_], npt.NDArray[np.complexfloating[Any, Any]], FloatArray]:
    """The milling carrier of each rim and the band around it.

    Parameters
    ----------
    spec, amp : ndarrays of shape (n, n_bins)
        Rim spectrum (more than MILLING_FIRST_HARMONIC bins) and its magnitudes.

    Returns
    -------
    carrier : ndarray of shape (n,)
    in_band : ndarray of shape (n, 2 * MILLING_SIDEBANDS + 1), bool
        Which band columns lie inside the milling range.
    band_spec : ndarray of shape (n, 2 * MILLING_SIDEBANDS + 1)
        Spectrum on the band, zero outside the range.
    band_power : ndarray of shape (n,)
    """
    n, n_bins = spec.shape
    # Keep only the milling carrier and its sidebands: white gauge noise
    # spread over the whole range would otherwise drown a fine milling.
    carrier = amp[:, MILLING_FIRST_HARMONIC:].argmax(axis=1) + MILLING_FIRST_HARMONIC
    band = carrier[:, None] + np.arange(-MILLING_SIDEBANDS, MILLING_SIDEBANDS + 1)[None, :]
    in_band = (band >= MILLING_FIRST_HARMONIC) & (band < n_bins)
    band = np.minimum(np.maximum(band, 0), n_bins - 1)
    band_spec = np.where(in_band, spec[np.arange(n)[:, None], band], 0.0)
    band_power: FloatArray = np.add.reduce(band_spec.real**2 + band_spec.imag**2, axis=1)
    return carrier, in_band, band_spec, band_power


def milling_visibility(rim: FloatArray) -> FloatArray:
    """How clearly the rim gauge sees each coin's milling, shape (n,).

    The milling band's energy over the gauge's white noise in the same bins:
    about 1 for a plain edge, tens for a milled coin on a good gauge, 0 where
    the gauge has too few samples a turn to have a milling range at all.

    Parameters
    ----------
    rim : ndarray of shape (n, n_rim)
    """
    with np.errstate(all="ignore"):
        spec = _rim_spectrum(rim)
        if spec.shape[1] <= MILLING_FIRST_HARMONIC:
            return np.zeros(spec.shape[0])
        amp = np.abs(spec)
        carrier, in_band, _, band_power = _milling_band(spec, amp)
        power = np.square(amp[:, MILLING_FIRST_HARMONIC:])
        noise = _noise_per_bin(power, carrier) * np.add.reduce(in_band, axis=1)
        # A noise-free gauge (synthetic rims) sees any milling clearly.
        out: FloatArray = band_power / np.maximum(noise, 1e-300)
    return out


def _sided_alternation(
    sided: IntArray,
    k: IntArray,
    at_k: npt.NDArray[np.complexfloating[Any, Any]],
    amp: npt.NDArray[np.floating[Any]],
    carrier: IntArray,
    in_band: npt.NDArray[np.bool_],
    band_spec: npt.NDArray[np.complexfloating[Any, Any]],
    band_power: FloatArray,
    length: int,
) -> FloatArray:
    """Milling alternation of the rows ``sided`` (an even edge count), shape (len(sided),).

    ``k`` and ``at_k`` are every row's edge count and spectrum there; ``amp`` the rim
    spectrum's magnitudes; the rest is :func:`_milling_band`'s; ``length`` rim samples.
    """
    half = k[sided] // 2
    # The gauge's white noise in the band, from the rest of the milling range.
    noise_per_bin = _noise_per_bin(np.square(amp[sided, MILLING_FIRST_HARMONIC:]), carrier[sided])
    noise = noise_per_bin * np.add.reduce(in_band[sided], axis=1)
    # Noise dilutes the envelope's modulation: a worn coin on a noisy gauge
    # would look less alternately milled than it is.  Up to half of the band
    # is set aside as noise; and a band that is not clearly above the noise
    # is no milling at all, so a plain edge never scores as alternate.
    power = band_power[sided]
    noise_share = np.minimum(noise / np.maximum(power, 1e-30), _MAX_NOISE_SHARE)
    # Milling on alternate sides is the grooves' carrier gated on and off once a
    # side pair: most of its energy sits in the carrier and in the two sidebands
    # at half the edge count, where a worn coin's still stands out on a gauge
    # whose noise over the whole band hides it.  The sidebands only are asked:
    # the carrier is the strongest bin of the milling range whatever the edge,
    # and a polygon's own harmonics (multiples of the edge count) never fall
    # half an edge count away from one another.
    # (half is at most EDGE_HARMONICS[1] // 2 = 8, the band MILLING_SIDEBANDS = 24 bins
    # either side: both are in it; a test holds the two constants to that.)
    pair = band_spec[sided[:, None], MILLING_SIDEBANDS + half[:, None] * _BOTH_SIDES]
    sidebands = np.add.reduce(pair.real**2 + pair.imag**2, axis=1)
    milled = (power > _MILLED_OVER_NOISE * noise) | (
        (2 * half >= _FEWEST_SIDES_TO_ALTERNATE)
        & (sidebands > _MILLED_SIDEBANDS_OVER_NOISE * noise_per_bin)
    )
    # Milled sides lie between the vertices, where the edge harmonic peaks:
    # a side's centre is half an edge period from a vertex, so the envelope's
    # modulation at half the edge count has half the edge harmonic's phase,
    # less a quarter turn (modulo a half turn: either set of sides).
    axis = 0.5 * np.arctan2(at_k.imag, at_k.real)[sided] - 0.5 * np.pi
    ratio = _envelope_ratio(band_spec[sided], carrier[sided], half, length, axis)
    out: FloatArray = np.where(milled, ratio / (1.0 - noise_share), 0.0)
    return out


def rim_features(rim: FloatArray) -> tuple[FloatArray, IntArray]:
    """Geometric features of the rim gauge.

    Parameters
    ----------
    rim : ndarray of shape (n, n_rim)
        Centre-to-edge distance over one revolution, mm.

    Returns
    -------
    values : ndarray of shape (n, 6)
        diameter_mm, edge_depth_mm, edge_sharpness, log_milling_mm, milling_alternation,
        log_lettering_mm.
    edge_count : ndarray of shape (n,)
    """
    spec = _rim_spectrum(rim)
    n, n_bins = spec.shape
    length = rim.shape[1]
    # |X| of each harmonic; times 2 / length it is the sinusoid's amplitude (index 0:
    # twice the mean), scaled only where used, not over the whole spectrum.
    amp = np.abs(spec)
    to_mm = 2.0 / length
    rows = np.arange(n)
    diameter = 2.0 * spec[:, 0].real / length

    lo, hi = EDGE_HARMONICS
    k = amp[:, lo : hi + 1].argmax(axis=1) + lo
    edge_amp = amp[rows, k] * to_mm
    edge_depth = 2.0 * edge_amp
    # The second harmonic of the edge pattern, phase-referenced to the first, tells
    # sharp vertices and flat sides (polygon) from curved sides (Reuleaux).
    k2 = np.minimum(2 * k, n_bins - 1)
    at_k, at_k2 = spec[rows, k], spec[rows, k2]
    phase = np.arctan2(at_k2.imag, at_k2.real) - 2.0 * np.arctan2(at_k.imag, at_k.real)
    sharpness = amp[rows, k2] * to_mm / np.maximum(edge_amp, 1e-12) * np.cos(phase)

    milling_mm = np.zeros(n)
    alternation = np.zeros(n)
    if n_bins > MILLING_FIRST_HARMONIC:
        # Higher harmonics of the edge pattern leak into the band too; they are
        # not excluded, because alternate-side milling puts its own sidebands on
        # exact multiples of the edge count.  They modulate the envelope at the
        # edge count, never at half of it, so the alternation stays clean.
        carrier, in_band, band_spec, band_power = _milling_band(spec, amp)
        milling_mm = np.sqrt(2.0 * band_power) / length
        # Only an even edge count has sides to alternate between (half of it is
        # the modulation looked for); the rest score 0 and skip the work.
        sided = (k % 2 == 0).nonzero()[0]
        if sided.size:  # none at the gate for a coin of an odd edge count: skip the work
            alternation[sided] = _sided_alternation(
                sided, k, at_k, amp, carrier, in_band, band_spec, band_power, length
            )
    # Milling depth varies by a factor (wear, dirt in the grooves), so it is
    # compared in log: a bound a few spreads below a milled coin never reaches
    # the plain edge of a slug, as a linear bound would for worn teach coins.
    log_milling = np.log(milling_mm + MILLING_FLOOR_MM)
    # An edge inscription (the round pound's, the 2 pound's) raises every harmonic
    # between the edges and the milling; the median harmonic ignores the few that
    # carry the outline (multiples of the edge count), and reads the gauge's noise
    # on a plain edge.  As a sinusoid's amplitude per harmonic, in mm.
    first, last = LETTERING_HARMONICS
    lettering_mm = np.zeros(n)
    if n_bins > last:
        power = np.square(amp[:, first : last + 1])
        mid = (last - first) // 2
        power.partition(mid, axis=1)
        lettering_mm = np.sqrt(power[:, mid] / np.log(2.0)) * to_mm
    log_lettering = np.log(lettering_mm + LETTERING_FLOOR_MM)
    values = _columns(diameter, edge_depth, sharpness, log_milling, alternation, log_lettering)
    return values, k.astype(np.int64)


def _columns(*columns: npt.ArrayLike) -> FloatArray:
    """Columns of shape (n,) side by side, shape (n, len(columns)), as float64.

    One ``np.array`` call, transposed (a view): for the one coin at the gate,
    where numpy's per-call overhead is most of the time, this costs less than
    ``np.stack`` or filling columns one by one.
    """
    out: FloatArray = np.array(columns, dtype=np.float64).T
    return out


def _contrast(a: FloatArray, b: FloatArray, eps: FloatArray) -> FloatArray:
    """Scale-free signed contrast (a - b) / (|a| + |b|): lift-off and gain cancel."""
    return (a - b) / (np.abs(a) + np.abs(b) + eps)


def _window_means(y: FloatArray, centre: FloatArray, half: FloatArray) -> FloatArray:
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


def eddy_features(
    eddy_lo: FloatArray,
    eddy_hi: FloatArray,
    rate_hz: FloatArray,
    speed_mm_s: FloatArray,
    eddy_lo_loss: FloatArray | None = None,
    eddy_hi_loss: FloatArray | None = None,
    no_coin: NoCoinLevels | None = None,
    temperature_c: FloatArray | None = None,
) -> FloatArray:
    """Inductive features of the two-frequency eddy traces.

    Parameters
    ----------
    eddy_lo, eddy_hi : ndarray of shape (n, n_eddy)
        Reactive component at each frequency.
    rate_hz, speed_mm_s : ndarray of shape (n,)
    eddy_lo_loss, eddy_hi_loss : ndarray of shape (n, n_eddy) or None
        Loss component at each frequency (contract v1.1), where the head gives it.
    no_coin : NoCoinLevels, optional
        The head's calibrated no-coin levels, for traces whose two ends both
        still hold the coin (see :mod:`coinval.no_coin`); needs ``temperature_c``.
    temperature_c : ndarray of shape (n,), optional

    Returns
    -------
    ndarray of shape (n, 18)
        inductive_width_mm, lo_level, hi_level, lo_ring, lo_core, hi_ring, hi_core,
        lo_core_vs_ring, hi_core_vs_ring, hi_vs_lo_ring, hi_vs_lo_core, hi_vs_lo_level,
        lo_core_width_mm, hi_core_width_mm, then the loss angles of ring and
        core at each frequency (see :data:`LOSS_ANGLES`), NaN without loss
        traces.
    """
    # Low channel rows, then high channel rows: (2n, N), a copy of our own.
    traces = np.concatenate((eddy_lo, eddy_hi)).astype(np.float64, copy=False)
    n, length = eddy_lo.shape
    mm_per_sample = speed_mm_s / rate_hz
    flat = _despike(
        traces, periodic=False, own=True, sample_mm=np.concatenate((mm_per_sample, mm_per_sample))
    )
    base, noise, clean = baseline_and_noise(flat, _fallback(no_coin, temperature_c, 0))
    # ``flat`` is ``traces`` or a copy of it: ours to change in place.
    flat -= base[:, None]
    y = flat.reshape(2, n, length)
    noise = noise.reshape(2, n)

    # Locate the coin on both channels and blend the two.  The channels' outlines
    # may differ (a bimetal coin whose ring outshines its core at one frequency
    # reads wider there), so a coin seen about as clearly by both must not be
    # located by one channel on one pass and by the other on the next.
    peak = np.maximum(y.max(axis=2), -y.min(axis=2))
    a = np.abs(y).reshape(2 * n, length)
    thr = 0.5 * peak.reshape(-1)
    rows = np.arange(2 * n)
    above = a > thr[:, None]
    first = above.argmax(axis=1)
    last = length - 1 - above[:, ::-1].argmax(axis=1)
    # Sub-sample crossing positions by linear interpolation on each edge.
    prev = np.maximum(first - 1, 0)
    a_prev, a_last = a[rows, prev], a[rows, last]
    d0 = a[rows, first] - a_prev
    rising = d0 > 0
    start = prev + np.where(rising, (thr - a_prev) / np.where(rising, d0, 1.0), 0.0)
    nxt = np.minimum(last + 1, length - 1)
    d1 = a_last - a[rows, nxt]
    falling = d1 > 0
    stop = last + np.where(falling, (a_last - thr) / np.where(falling, d1, 1.0), 0.0)
    # A channel counts fully once its peak stands clear of its noise, and fades
    # out steeply below that: where the coin all but vanishes on it (a steel coin
    # at one frequency), its half-height crossings fall anywhere.
    # As 1 / (1 + x^-8), which neither overflows for a huge peak nor divides by 0.
    weight = 1.0 / (1.0 + np.power(peak / (noise * _CLEAR_PEAK_OVER_NOISE), -8.0))
    total = weight.sum(axis=0)
    weight /= np.where(total > 0.0, total, 1.0)
    start = np.add.reduce(weight * start.reshape(2, n), axis=0)
    stop = np.add.reduce(weight * stop.reshape(2, n), axis=0)
    centre = 0.5 * (start + stop)
    half = np.maximum(0.5 * (stop - start), 1.0)
    # Traces of absurd magnitude (overflowing to inf) locate nothing: the windows
    # below need finite positions, and the width stays NaN, so no region takes it.
    lost = ~(np.isfinite(centre) & np.isfinite(half)) | ~(total > 0.0)
    centre[lost] = 0.0
    half[lost] = 1.0
    width_mm = np.where(lost, np.nan, 2.0 * half * mm_per_sample)

    means = _window_means(y, centre, half)
    core = means[:, :, 0]
    ring = 0.5 * (means[:, :, 1] + means[:, :, 2])
    level = means[:, :, 3]
    eps = 3.0 * noise
    # Only a core weaker than its ring is ever checked (see CoinClassifier.has_core):
    # coins with none on either channel read 0 and cost nothing (most of a mixed batch).
    weaker = (ring - core) * np.sign(ring) > 0.0
    cored = np.flatnonzero(weaker[0] | weaker[1])
    core_width_mm = np.zeros((2, n))
    if n == 1 and cored.size:
        # One coin at the gate: the same measure on plain slices, a third of the calls.
        core_width_mm[:, 0] = _one_core_width(y[:, 0], centre[0], half[0], core[:, 0], ring[:, 0])
        core_width_mm *= mm_per_sample
    elif cored.size == n:
        core_width_mm = _core_width(y, centre, half, core, ring) * mm_per_sample
    elif cored.size:
        core_width_mm[:, cored] = (
            _core_width(y[:, cored], centre[cored], half[cored], core[:, cored], ring[:, cored])
            * mm_per_sample[cored]
        )
    loss_angles = _loss_angles(
        eddy_lo_loss,
        eddy_hi_loss,
        mm_per_sample,
        centre,
        half,
        ring,
        core,
        noise,
        _fallback(no_coin, temperature_c, 2),
        clean,
    )
    return _columns(
        width_mm,
        level[0],
        level[1],
        ring[0],
        core[0],
        ring[1],
        core[1],
        _contrast(core[0], ring[0], eps[0]),
        _contrast(core[1], ring[1], eps[1]),
        _contrast(ring[1], ring[0], eps[0] + eps[1]),
        _contrast(core[1], core[0], eps[0] + eps[1]),
        _contrast(level[1], level[0], eps[0] + eps[1]),
        core_width_mm[0],
        core_width_mm[1],
        *loss_angles,
    )


# A phase read off a response this many times its noise is good to about
# 1/5 rad; below, it says more about the noise than the metal.
_PHASE_OVER_NOISE = 5.0


def _fallback(
    no_coin: NoCoinLevels | None, temperature_c: FloatArray | None, first: int
) -> FloatArray | None:
    """The calibrated no-coin levels of two channels for (low rows, high rows), or None."""
    if no_coin is None or temperature_c is None:
        return None
    return np.concatenate((no_coin.at(first, temperature_c), no_coin.at(first + 1, temperature_c)))


def _loss_angles(
    eddy_lo_loss: FloatArray | None,
    eddy_hi_loss: FloatArray | None,
    mm_per_sample: FloatArray,
    centre: FloatArray,
    half: FloatArray,
    ring: FloatArray,
    core: FloatArray,
    noise: FloatArray,
    fallback: FloatArray | None,
    clean: npt.NDArray[np.bool_],
) -> list[FloatArray]:
    """The phase of ring and core in the impedance plane at each frequency, radians.

    Loss and reactive components come through the same coil and demodulator
    at the same distance from the coin, so the coil's gain and the coin's
    lift-off cancel in their ratio, which then depends on the metal's
    conductivity (and, for a magnetic metal, its hysteresis) through the skin
    depth.  As an angle, not a ratio: a magnetic coin's reactive level can sit
    near zero, where a ratio runs off to either infinity.  Loss is dissipation,
    never negative, so the angles lie in [0, pi]; the cut is put at -pi/2
    (no loss at all, and less than none), where no metal reads.  Read in the
    same windows as the reactive levels, located on the reactive traces.

    A phase is only read where the response stands clear of the noise
    (:data:`_PHASE_OVER_NOISE` times the window mean's noise, from the reactive
    trace's): where a channel barely sees the coin (a steel coin at one
    frequency), its phase is the noise's, NaN here, and a region leaves it out.
    A loss trace that is itself noise or garbage gives a phase far from any
    coin's, which is judged.

    Parameters
    ----------
    noise : ndarray of shape (2, n)
        Per-sample noise of the reactive traces.
    fallback : ndarray of shape (2n,) or None
        The head's no-coin level of the loss traces (low rows, then high).
    clean : ndarray of shape (2n, 2), bool
        Which ends of the reactive traces are free of the coin: the loss
        traces' ends are the same moments of the same passage.

    Returns
    -------
    list of 4 ndarrays of shape (n,)
        lo ring, lo core, hi ring, hi core; NaN without loss traces.
    """
    n = centre.shape[0]
    if eddy_lo_loss is None or eddy_hi_loss is None:
        return [np.full(n, np.nan)] * len(LOSS_ANGLES)
    traces = np.concatenate((eddy_lo_loss, eddy_hi_loss)).astype(np.float64, copy=False)
    length = traces.shape[1]
    flat = _despike(
        traces, periodic=False, own=False, sample_mm=np.concatenate((mm_per_sample, mm_per_sample))
    )
    base, _, _ = baseline_and_noise(flat, fallback, clean)
    y = (flat - base[:, None]).reshape(2, n, length)
    means = _window_means(y, centre, half)
    loss_core = means[:, :, 0]
    loss_ring = 0.5 * (means[:, :, 1] + means[:, :, 2])
    # Each window holds a quarter of the coin's width (ring: two eighths).
    # The floor comes from the reactive trace's noise alone (one demodulator, the
    # same noise on both components): a loss trace of noise or garbage must not
    # lift its own floor and so switch the phase check off.
    per_window = np.sqrt(2.0 * noise**2 / np.maximum(0.5 * half, 1.0))
    floor = _PHASE_OVER_NOISE * per_window
    ring_angle = np.arctan2(loss_ring, ring)
    core_angle = np.arctan2(loss_core, core)
    ring_angle[np.hypot(loss_ring, ring) < floor] = np.nan
    core_angle[np.hypot(loss_core, core) < floor] = np.nan
    ring_angle = np.where(ring_angle < -0.5 * np.pi, ring_angle + 2.0 * np.pi, ring_angle)
    core_angle = np.where(core_angle < -0.5 * np.pi, core_angle + 2.0 * np.pi, core_angle)
    return [ring_angle[0], core_angle[0], ring_angle[1], core_angle[1]]


def _one_core_width(
    y: FloatArray, centre: float, half: float, core: FloatArray, ring: FloatArray
) -> list[float]:
    """:func:`_core_width` of one coin: y of shape (2, length), levels of shape (2,)."""
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


def _core_width(
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


# Rows per chunk when a big batch is split across threads: small enough for the
# working arrays to stay in cache, big enough that numpy's per-call cost vanishes.
CHUNK_ROWS = 1024
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    return _pool


def extract_rows(batch: SignatureBatch, no_coin: NoCoinLevels | None = None) -> CoinFeatures:
    """Features of a batch in one go, on the calling thread (see :func:`extract`)."""
    return _table(
        batch.rim,
        batch.eddy_lo,
        batch.eddy_hi,
        batch.eddy_rate_hz,
        batch.thickness_mm,
        batch.speed_mm_s,
        batch.temperature_c,
        batch.eddy_lo_loss,
        batch.eddy_hi_loss,
        no_coin,
    )


def extract_one(signature: Signature, no_coin: NoCoinLevels | None = None) -> CoinFeatures:
    """Features of the one coin at the gate: a batch of one without stacking.

    Its traces are read as one-row views, its scalars as one-element arrays:
    the same features as :func:`extract_rows` of a batch holding it alone.

    Returns
    -------
    CoinFeatures with values of shape (1, len(FEATURE_NAMES))
    """
    lo_loss, hi_loss = signature.eddy_lo_loss, signature.eddy_hi_loss
    rate, thickness, speed, temperature = np.array(
        [
            [signature.eddy_rate_hz],
            [signature.thickness_mm],
            [signature.speed_mm_s],
            [signature.temperature_c],
        ],
        dtype=np.float64,
    )
    return _table(
        signature.rim[None, :],
        signature.eddy_lo[None, :],
        signature.eddy_hi[None, :],
        rate,
        thickness,
        speed,
        temperature,
        None if lo_loss is None else lo_loss[None, :],
        None if hi_loss is None else hi_loss[None, :],
        no_coin,
    )


def _table(
    rim: FloatArray,
    eddy_lo: FloatArray,
    eddy_hi: FloatArray,
    eddy_rate_hz: FloatArray,
    thickness_mm: FloatArray,
    speed_mm_s: FloatArray,
    temperature_c: FloatArray,
    eddy_lo_loss: FloatArray | None,
    eddy_hi_loss: FloatArray | None,
    no_coin: NoCoinLevels | None,
) -> CoinFeatures:
    """The feature table of n coins from their traces, shapes as in :class:`SignatureBatch`."""
    # Absurd but in-range signatures (values near 1e300, a rate near 0) give
    # non-finite features; the classifier refuses those, no warning needed.
    with np.errstate(all="ignore"):
        rim_values, edge_count = rim_features(rim)
        eddy = eddy_features(
            eddy_lo,
            eddy_hi,
            eddy_rate_hz,
            speed_mm_s,
            eddy_lo_loss,
            eddy_hi_loss,
            no_coin,
            temperature_c,
        )
    values = np.concatenate(
        [rim_values[:, :1], thickness_mm[:, None], rim_values[:, 1:], eddy], axis=1
    )
    return CoinFeatures(
        values=values,
        edge_count=edge_count,
        temperature_c=np.asarray(temperature_c),
        speed_mm_s=np.asarray(speed_mm_s),
    )


def map_chunks(
    batch: SignatureBatch, work: Callable[[SignatureBatch], tuple[npt.NDArray[Any], ...]]
) -> tuple[npt.NDArray[Any], ...]:
    """Apply ``work`` to row chunks of a big batch on all cores; join the arrays.

    numpy releases the GIL inside its array loops, so threads scale without
    copying data between processes, and chunks keep the working arrays in cache.
    A small batch (one coin at the gate) runs on the calling thread.
    """
    n = len(batch)
    if n <= 2 * CHUNK_ROWS:
        return work(batch)
    # Our threads already fill the cores: BLAS threads of their own inside each
    # chunk's small matrix products only contend with them (20k coins took 1.8x
    # as long with OpenBLAS's default threads).
    with threadpool_limits(limits=1, user_api="blas"):
        parts = list(
            _executor().map(
                lambda start: work(batch.rows(start, min(start + CHUNK_ROWS, n))),
                range(0, n, CHUNK_ROWS),
            )
        )
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))


def extract(batch: SignatureBatch, no_coin: NoCoinLevels | None = None) -> CoinFeatures:
    """Features of every coin in a batch (equal trace lengths), on all cores.

    Parameters
    ----------
    batch : SignatureBatch of n coins

    Returns
    -------
    CoinFeatures with values of shape (n, len(FEATURE_NAMES))
    """

    def arrays(part: SignatureBatch) -> tuple[npt.NDArray[Any], ...]:
        f = extract_rows(part, no_coin)
        return f.values, f.edge_count, f.temperature_c, np.asarray(part.speed_mm_s)

    values, edges, temps, speeds = map_chunks(batch, arrays)
    return CoinFeatures(values=values, edge_count=edges, temperature_c=temps, speed_mm_s=speeds)


def extract_signatures(
    signatures: Sequence[Signature], no_coin: NoCoinLevels | None = None
) -> CoinFeatures:
    """Features of signatures of any mix of trace lengths, rows in input order."""
    if not signatures:
        raise ValueError("no signatures")
    values = np.empty((len(signatures), len(FEATURE_NAMES)))
    edges = np.empty(len(signatures), dtype=np.int64)
    temps = np.empty(len(signatures))
    speeds = np.empty(len(signatures))
    for idx, batch in group_by_shape(signatures):
        feats = extract(batch, no_coin)
        values[idx] = feats.values
        edges[idx] = feats.edge_count
        temps[idx] = feats.temperature_c
        speeds[idx] = batch.speed_mm_s
    return CoinFeatures(values=values, edge_count=edges, temperature_c=temps, speed_mm_s=speeds)
