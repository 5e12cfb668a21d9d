"""The same simulated coins as a head with other trace lengths would record them.

Heads differ in how many samples they take of a passage (eddy traces) and of
one revolution of the rim; the engine must not care, so scaling benchmarks and
tests replay one population at other lengths.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample

from coinval.batch import SignatureBatch


def resampled(batch: SignatureBatch, eddy_samples: int, rim_samples: int) -> SignatureBatch:
    """The same coins seen with other trace lengths.

    Eddy traces are interpolated over the same time window (the rate scales
    with the length); the rim, one revolution, is resampled in the Fourier
    domain, which keeps every harmonic both lengths can hold.

    Parameters
    ----------
    batch : SignatureBatch of n coins
    eddy_samples, rim_samples : int

    Returns
    -------
    SignatureBatch with eddy traces of shape (n, eddy_samples) and rim (n, rim_samples)
    """
    n_eddy = batch.eddy_lo.shape[1]
    old_t = (np.arange(n_eddy) + 0.5) / n_eddy
    new_t = (np.arange(eddy_samples) + 0.5) / eddy_samples

    def eddy(traces: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(new_t, old_t, row) for row in traces])

    return SignatureBatch(
        eddy_lo=eddy(batch.eddy_lo),
        eddy_hi=eddy(batch.eddy_hi),
        eddy_rate_hz=batch.eddy_rate_hz * (eddy_samples / n_eddy),
        rim=np.asarray(resample(batch.rim, rim_samples, axis=1)),
        thickness_mm=batch.thickness_mm,
        speed_mm_s=batch.speed_mm_s,
        temperature_c=batch.temperature_c,
        ids=batch.ids,
    )
