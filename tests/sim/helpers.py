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
