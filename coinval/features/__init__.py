"""Batch feature extraction: physics-derived features of every coin in a batch.

All functions work on whole batches, arrays of shape (n, samples), with numpy
and scipy; one coin is a batch of one.  By what each part measures:

========================  =====================================================
:mod:`.table`             the columns (:data:`FEATURE_NAMES`) and :class:`CoinFeatures`
:mod:`.rim`               outline, edges, milling and inscription off the rim gauge
:mod:`.mending`           glitches laid on the line through their neighbours
:mod:`.windows`           where on the passage ring and core are read
:mod:`.eddy`              ring and core levels of both eddy channels, their contrasts
:mod:`.core_width`        a bimetal coin's core width on each channel
:mod:`.loss`              loss angles: the metal's conductivity through its skin depth
:mod:`.parallel`          big batches split into row chunks over threads
:mod:`.extraction`        the feature table of a batch, or of the one coin at the gate
========================  =====================================================
"""

from coinval.features.eddy import eddy_features
from coinval.features.extraction import extract, extract_one, extract_rows, extract_signatures
from coinval.features.parallel import map_chunks
from coinval.features.rim import (
    EDGE_HARMONICS,
    MILLING_FIRST_HARMONIC,
    MILLING_SIDEBANDS,
    milling_visibility,
    rim_features,
)
from coinval.features.table import (
    CORE_WIDTHS,
    EDGED_ONLY,
    FEATURE_NAMES,
    INDUCTIVE,
    LOSS_ANGLES,
    CoinFeatures,
)

__all__ = [
    "CORE_WIDTHS",
    "EDGED_ONLY",
    "EDGE_HARMONICS",
    "FEATURE_NAMES",
    "INDUCTIVE",
    "LOSS_ANGLES",
    "MILLING_FIRST_HARMONIC",
    "MILLING_SIDEBANDS",
    "CoinFeatures",
    "eddy_features",
    "extract",
    "extract_one",
    "extract_rows",
    "extract_signatures",
    "map_chunks",
    "milling_visibility",
    "rim_features",
]
