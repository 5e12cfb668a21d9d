"""The feature table: its columns, and the record of a batch's features.

Geometric features are in millimetres (metrology, comparable across heads);
inductive features are in the head's hardware units or are scale-free
contrasts, and only mean something against a calibration made on the same head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

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


def side_by_side(*columns: npt.ArrayLike) -> FloatArray:
    """Columns of shape (n,) side by side, shape (n, len(columns)), as float64.

    One ``np.array`` call, transposed (a view): for the one coin at the gate,
    where numpy's per-call overhead is most of the time, this costs less than
    ``np.stack`` or filling columns one by one.
    """
    out: FloatArray = np.array(columns, dtype=np.float64).T
    return out
