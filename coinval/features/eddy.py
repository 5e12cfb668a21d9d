"""Eddy features: where the coin passes on the two-frequency eddy traces, its
ring and core levels on each channel, the contrasts between them in which head
gain and lift-off cancel, the core's width, and the loss angles."""

from __future__ import annotations

import numpy as np

from coinval.features.core_width import core_width, one_core_width
from coinval.features.loss import loss_angles
from coinval.features.mending import despike
from coinval.features.table import FloatArray, side_by_side
from coinval.features.windows import window_means
from coinval.no_coin import NoCoinLevels, baseline_and_noise

_CLEAR_PEAK_OVER_NOISE = 30.0
"""Peak over noise at which a channel's outline counts half.  Simulated heads'
steel coins, read at half height, stray by tens of millimetres on the channel
where they all but vanish at up to 20 times the noise, and by under a sample
above 25."""


def _contrast(a: FloatArray, b: FloatArray, eps: FloatArray) -> FloatArray:
    """Scale-free signed contrast (a - b) / (|a| + |b|): lift-off and gain cancel."""
    return (a - b) / (np.abs(a) + np.abs(b) + eps)


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
    flat = despike(
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

    means = window_means(y, centre, half)
    core = means[:, :, 0]
    ring = 0.5 * (means[:, :, 1] + means[:, :, 2])
    level = means[:, :, 3]
    eps = 3.0 * noise
    # Only a core weaker than its ring has its width read: coins with none on
    # either channel read 0 and cost nothing (most of a mixed batch).
    weaker = (ring - core) * np.sign(ring) > 0.0
    cored = np.flatnonzero(weaker[0] | weaker[1])
    core_width_mm = np.zeros((2, n))
    if n == 1 and cored.size:
        # One coin at the gate: the same measure on plain slices, a third of the calls.
        core_width_mm[:, 0] = one_core_width(y[:, 0], centre[0], half[0], core[:, 0], ring[:, 0])
        core_width_mm *= mm_per_sample
    elif cored.size == n:
        core_width_mm = core_width(y, centre, half, core, ring) * mm_per_sample
    elif cored.size:
        core_width_mm[:, cored] = (
            core_width(y[:, cored], centre[cored], half[cored], core[:, cored], ring[:, cored])
            * mm_per_sample[cored]
        )
    angles = loss_angles(
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
    return side_by_side(
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
        *angles,
    )


def _fallback(
    no_coin: NoCoinLevels | None, temperature_c: FloatArray | None, first: int
) -> FloatArray | None:
    """The calibrated no-coin levels of two channels for (low rows, high rows), or None."""
    if no_coin is None or temperature_c is None:
        return None
    return np.concatenate((no_coin.at(first, temperature_c), no_coin.at(first + 1, temperature_c)))
