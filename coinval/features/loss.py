"""Loss angles: the phase of ring and core in the coil's impedance plane, a
measure of the metal's conductivity in which gain and lift-off cancel."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from coinval.features.mending import despike
from coinval.features.table import LOSS_ANGLES, FloatArray
from coinval.features.windows import window_means
from coinval.no_coin import baseline_and_noise

# A phase read off a response this many times its noise is good to about
# 1/5 rad; below, it says more about the noise than the metal.
_PHASE_OVER_NOISE = 5.0


def loss_angles(
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
    flat = despike(
        traces, periodic=False, own=False, sample_mm=np.concatenate((mm_per_sample, mm_per_sample))
    )
    base, _, _ = baseline_and_noise(flat, fallback, clean)
    y = (flat - base[:, None]).reshape(2, n, length)
    means = window_means(y, centre, half)
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
