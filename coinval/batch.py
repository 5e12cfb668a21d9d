"""Signatures stacked into arrays: the unit the vectorised core works on.

A batch holds coins whose traces share one length (a sensor head's boards give
constant lengths); :func:`group_by_shape` splits mixed input into such batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from coinval.signature import LossLists, ScalarFields, Signature, plain_fields, stack_traces

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SignatureBatch:
    """n signatures with equal trace lengths, as arrays.

    Attributes
    ----------
    eddy_lo, eddy_hi : ndarray of shape (n, n_eddy)
    eddy_rate_hz : ndarray of shape (n,)
    rim : ndarray of shape (n, n_rim)
    thickness_mm, speed_mm_s, temperature_c : ndarray of shape (n,)
    ids : list of (str or None), length n
    eddy_lo_loss, eddy_hi_loss : ndarray of shape (n, n_eddy) or None
        Loss traces (contract v1.1), for every coin of the batch or for none.
    """

    eddy_lo: FloatArray
    eddy_hi: FloatArray
    eddy_rate_hz: FloatArray
    rim: FloatArray
    thickness_mm: FloatArray
    speed_mm_s: FloatArray
    temperature_c: FloatArray
    ids: list[str | None] = field(default_factory=list)
    eddy_lo_loss: FloatArray | None = None
    eddy_hi_loss: FloatArray | None = None

    @property
    def has_loss(self) -> bool:
        """Whether the batch carries loss traces (signature contract v1.1)."""
        return self.eddy_lo_loss is not None

    def __len__(self) -> int:
        return int(self.eddy_lo.shape[0])

    @classmethod
    def from_signatures(cls, signatures: Sequence[Signature]) -> SignatureBatch:
        """Stack signatures of equal trace lengths, all with or all without loss traces."""
        if not signatures:
            raise ValueError("an empty batch has no trace length")
        with_loss = [s.eddy_lo_loss is not None for s in signatures]
        if any(with_loss) and not all(with_loss):
            raise ValueError("a batch holds loss traces for every coin or for none")
        lo_loss = hi_loss = None
        if all(with_loss):
            lo_loss = np.stack([s.eddy_lo_loss for s in signatures])  # type: ignore[misc]
            hi_loss = np.stack([s.eddy_hi_loss for s in signatures])  # type: ignore[misc]
        return cls(
            eddy_lo=np.stack([s.eddy_lo for s in signatures]),
            eddy_hi=np.stack([s.eddy_hi for s in signatures]),
            eddy_rate_hz=np.array([s.eddy_rate_hz for s in signatures], dtype=np.float64),
            rim=np.stack([s.rim for s in signatures]),
            thickness_mm=np.array([s.thickness_mm for s in signatures], dtype=np.float64),
            speed_mm_s=np.array([s.speed_mm_s for s in signatures], dtype=np.float64),
            temperature_c=np.array([s.temperature_c for s in signatures], dtype=np.float64),
            ids=[s.id for s in signatures],
            eddy_lo_loss=lo_loss,
            eddy_hi_loss=hi_loss,
        )

    def signatures(self) -> list[Signature]:
        """The batch as individual :class:`Signature` records."""
        return [
            Signature(
                eddy_lo=self.eddy_lo[i],
                eddy_hi=self.eddy_hi[i],
                eddy_rate_hz=float(self.eddy_rate_hz[i]),
                rim=self.rim[i],
                thickness_mm=float(self.thickness_mm[i]),
                speed_mm_s=float(self.speed_mm_s[i]),
                temperature_c=float(self.temperature_c[i]),
                id=self.ids[i] if self.ids else None,
                eddy_lo_loss=None if self.eddy_lo_loss is None else self.eddy_lo_loss[i],
                eddy_hi_loss=None if self.eddy_hi_loss is None else self.eddy_hi_loss[i],
            )
            for i in range(len(self))
        ]

    def rows(self, start: int, stop: int) -> SignatureBatch:
        """Rows ``start:stop`` as views of this batch's arrays: no copy."""
        return SignatureBatch(
            eddy_lo=self.eddy_lo[start:stop],
            eddy_hi=self.eddy_hi[start:stop],
            eddy_rate_hz=self.eddy_rate_hz[start:stop],
            rim=self.rim[start:stop],
            thickness_mm=self.thickness_mm[start:stop],
            speed_mm_s=self.speed_mm_s[start:stop],
            temperature_c=self.temperature_c[start:stop],
            ids=self.ids[start:stop] if self.ids else [],
            eddy_lo_loss=None if self.eddy_lo_loss is None else self.eddy_lo_loss[start:stop],
            eddy_hi_loss=None if self.eddy_hi_loss is None else self.eddy_hi_loss[start:stop],
        )

    def take(self, index: npt.ArrayLike) -> SignatureBatch:
        """A sub-batch of the rows selected by ``index``."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        ids = [self.ids[i] for i in idx] if self.ids else []
        return SignatureBatch(
            eddy_lo=self.eddy_lo[idx],
            eddy_hi=self.eddy_hi[idx],
            eddy_rate_hz=self.eddy_rate_hz[idx],
            rim=self.rim[idx],
            thickness_mm=self.thickness_mm[idx],
            speed_mm_s=self.speed_mm_s[idx],
            temperature_c=self.temperature_c[idx],
            ids=ids,
            eddy_lo_loss=None if self.eddy_lo_loss is None else self.eddy_lo_loss[idx],
            eddy_hi_loss=None if self.eddy_hi_loss is None else self.eddy_hi_loss[idx],
        )


def group_by_shape(signatures: Sequence[Signature]) -> list[tuple[list[int], SignatureBatch]]:
    """Split signatures into batches of equal trace lengths (and loss traces or none).

    Returns
    -------
    list of (indices, batch)
        ``indices`` are positions in ``signatures``, in their original order.
    """
    groups: dict[tuple[int, int, bool], list[int]] = {}
    for i, s in enumerate(signatures):
        groups.setdefault((s.eddy_lo.shape[0], s.rim.shape[0], s.has_loss), []).append(i)
    return [
        (idx, SignatureBatch.from_signatures([signatures[i] for i in idx]))
        for idx in groups.values()
    ]


def parse_batches(
    objects: Sequence[Any],
) -> tuple[list[tuple[list[int], SignatureBatch]], list[int]]:
    """Validate untrusted JSON objects by columns, straight into batches.

    The fast path of :func:`coinval.signature.parse_signature` for many objects:
    no per-coin :class:`Signature`, each trace converted once into its
    batch's array, samples checked with whole-array operations.  Objects it
    cannot vouch for are left to :func:`~coinval.signature.parse_signature`,
    which gives the same verdict (and the exact message) either way.

    Returns
    -------
    groups : list of (indices, batch)
        Valid signatures of equal trace lengths; ``indices`` are positions in
        ``objects``, ascending.
    rest : list of int
        Positions, ascending, of objects still to go through ``parse_signature``.
    """
    shapes: dict[tuple[int, int, bool], list[int]] = {}
    fields: list[tuple[list[Any], list[Any], list[Any], ScalarFields, LossLists]] = []
    where: list[int] = []
    rest: list[int] = []
    for i, obj in enumerate(objects):
        got = plain_fields(obj)
        if got is None:
            rest.append(i)
            continue
        shapes.setdefault((len(got[0]), len(got[2]), got[4] is not None), []).append(len(fields))
        fields.append(got)
        where.append(i)
    groups: list[tuple[list[int], SignatureBatch]] = []
    for (_, _, with_loss), members in shapes.items():
        rows = [fields[k] for k in members]
        idx = [where[k] for k in members]
        good = np.ones(len(rows), dtype=bool)
        scalars = np.array([r[3][:4] for r in rows], dtype=np.float64)
        batch = SignatureBatch(
            eddy_lo=stack_traces([r[0] for r in rows], good),
            eddy_hi=stack_traces([r[1] for r in rows], good),
            eddy_rate_hz=scalars[:, 0].copy(),
            rim=stack_traces([r[2] for r in rows], good),
            thickness_mm=scalars[:, 1].copy(),
            speed_mm_s=scalars[:, 2].copy(),
            temperature_c=scalars[:, 3].copy(),
            ids=[r[3][4] for r in rows],
            eddy_lo_loss=stack_traces([r[4][0] for r in rows if r[4]], good) if with_loss else None,
            eddy_hi_loss=stack_traces([r[4][1] for r in rows if r[4]], good) if with_loss else None,
        )
        if not good.all():
            rest.extend(i for i, ok in zip(idx, good.tolist(), strict=True) if not ok)
            keep = np.flatnonzero(good)
            if keep.size == 0:
                continue
            idx = [idx[k] for k in keep.tolist()]
            batch = batch.take(keep)
        groups.append((idx, batch))
    rest.sort()
    return groups, rest
