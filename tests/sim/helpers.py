"""Helpers shared by the simulator tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from coinval.batch import SignatureBatch
from sim.heads import SensorHead

FloatArray = npt.NDArray[np.float64]


def normalised(batch: SignatureBatch, head: SensorHead) -> tuple[FloatArray, FloatArray]:
    """Eddy traces with the head's offset removed and its scale divided out, (n, m) each."""
    lo = (batch.eddy_lo - head.offset[0]) / head.scale[0]
    hi = (batch.eddy_hi - head.offset[1]) / head.scale[1]
    return lo, hi


def peak_level(trace: FloatArray) -> FloatArray:
    """Robust signed extreme of each trace: mean of the 8 samples furthest from zero, (n,)."""
    order = np.argsort(np.abs(trace), axis=1)[:, -8:]
    return np.take_along_axis(trace, order, axis=1).mean(axis=1)


def rim_spectrum(rim: FloatArray) -> FloatArray:
    """Single-sided amplitude spectrum of each rim trace, mm per harmonic, (n, m // 2 + 1)."""
    centred = rim - rim.mean(axis=1, keepdims=True)
    return np.abs(np.fft.rfft(centred, axis=1)) * 2.0 / rim.shape[1]


def milling_alternation(rim: FloatArray, first_harmonic: int = 80) -> FloatArray:
    """How strongly milling energy alternates six times per revolution, (n,).

    High-pass the rim (fine milling only), square it, and compare the 6th
    harmonic of that energy envelope with its mean: about 0.6 for six milled
    and six plain sides, about 0 for uniform milling.
    """
    spec = np.fft.rfft(rim - rim.mean(axis=1, keepdims=True), axis=1)
    spec[:, :first_harmonic] = 0.0
    fine = np.fft.irfft(spec, n=rim.shape[1], axis=1)
    envelope = np.abs(np.fft.rfft(fine**2, axis=1))
    return envelope[:, 6] / envelope[:, 0]


def baseline_free(trace: FloatArray) -> FloatArray:
    """Traces (n, m) less their baseline: the median of the coin-free sixteenths at both ends."""
    k = max(4, trace.shape[1] // 16)
    ends = np.concatenate([trace[:, :k], trace[:, -k:]], axis=1)
    return trace - np.median(ends, axis=1, keepdims=True)


def peak_window_loss_ratio(
    reactive: FloatArray, loss: FloatArray, share: float = 0.9
) -> FloatArray:
    """Loss over reactive component where the reactive trace stands within ``share`` of its
    peak, (n,).

    On a bimetal coin whose ring reads above its core that window is the ring (twice); on a
    monometallic coin it is the plateau.  Baselines come from the coin-free ends; the ratio
    is of sums over the window, so noise averages out.
    """
    r = baseline_free(reactive)
    los = baseline_free(loss)
    window = r >= share * r.max(axis=1, keepdims=True)
    return np.asarray((los * window).sum(axis=1) / (r * window).sum(axis=1))
