"""A teach sample's features as the store keeps them, so that a session's summary
never reads its signatures again.

One float64 row per sample, packed as bytes: the features of
:data:`coinval.features.FEATURE_NAMES`, then the edge count, the board
temperature, the speed and whether the signature carried loss traces.  A row of
another width (features added in a later version) is taken as missing and made
again from the signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from calibration.repository.teach import PackedSample
from coinval.features import FEATURE_NAMES, CoinFeatures, extract_signatures
from coinval.signature import Signature

_F = len(FEATURE_NAMES)
#: Values in a packed row.
WIDTH = _F + 4
#: Signatures extracted together: big enough for numpy, small enough that an
#: upload never holds more than this many parsed signatures at once.
CHUNK = 256


def pack(signatures: Sequence[Signature]) -> list[bytes]:
    """Each signature's packed feature row, in order."""
    if not signatures:
        return []
    feats = extract_signatures(signatures)
    speed = feats.speed_mm_s if feats.speed_mm_s is not None else np.full(len(feats), np.nan)
    rows = np.column_stack(
        [
            feats.values,
            feats.edge_count.astype(np.float64),
            feats.temperature_c,
            speed,
            np.array([float(s.has_loss) for s in signatures]),
        ]
    ).astype(np.float64)
    return [row.tobytes() for row in rows]


def packed_in_chunks(
    items: Iterable[tuple[str, Signature]],
) -> Iterator[PackedSample]:
    """``(text, signature)`` pairs as packed samples, extracted :data:`CHUNK` at a time."""
    chunk: list[tuple[str, Signature]] = []

    def flush() -> Iterator[PackedSample]:
        rows = pack([sig for _, sig in chunk])
        for (text, sig), row in zip(chunk, rows, strict=True):
            yield PackedSample(text, sig.id, row)
        chunk.clear()

    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield from flush()
    yield from flush()


def usable(blob: bytes | None) -> bool:
    """Whether a stored row is a packed row of this version's width."""
    return blob is not None and len(blob) == WIDTH * 8


def unpack(blobs: Sequence[bytes]) -> tuple[CoinFeatures, np.ndarray]:
    """Features of packed rows, and whether each sample carried loss traces.

    Returns
    -------
    features : CoinFeatures
        n rows.
    has_loss : ndarray of bool, shape (n,)
    """
    rows = np.frombuffer(b"".join(blobs), dtype=np.float64).reshape(len(blobs), WIDTH)
    feats = CoinFeatures(
        values=rows[:, :_F].copy(),
        edge_count=rows[:, _F].astype(np.int64),
        temperature_c=rows[:, _F + 1].copy(),
        speed_mm_s=rows[:, _F + 2].copy(),
    )
    return feats, rows[:, _F + 3] > 0.5
