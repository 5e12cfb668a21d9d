"""Rim features: the outline (diameter, edges, their sharpness), the milling and
the edge inscription, read off the spectrum of the rim gauge's revolution.

The only built-in numbers are geometric: edges are looked for among harmonics
2..16 of the rim (the first harmonic is eccentric mounting, not shape), milling
lives above the edge harmonics, and the new pound's milling alternates between
neighbouring sides, so it modulates at half the edge count, in phase with the
sides (which lie between the vertices the edge harmonic peaks at); an edge
inscription is letter-sized relief, between the edge harmonics and the milling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import fft as sfft

from coinval.features.mending import despike
from coinval.features.table import FloatArray, IntArray, side_by_side

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
    clean = despike(rim32, periodic=True, own=not np.may_share_memory(rim32, rim))
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
    values = side_by_side(diameter, edge_depth, sharpness, log_milling, alternation, log_lettering)
    return values, k.astype(np.int64)
