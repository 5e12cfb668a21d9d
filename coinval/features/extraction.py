"""The feature table of a batch: rim, thickness and eddy features side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from coinval.batch import SignatureBatch, group_by_shape
from coinval.features.eddy import eddy_features
from coinval.features.parallel import map_chunks
from coinval.features.rim import rim_features
from coinval.features.table import FEATURE_NAMES, CoinFeatures, FloatArray
from coinval.no_coin import NoCoinLevels
from coinval.signature import Signature


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
