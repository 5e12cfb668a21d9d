"""The no-coin level of each eddy trace: read off the trace's ends, or from calibration.

A trace's no-coin level (its baseline) is read where the coin is not: at the
quieter of the window's two ends.  A coin rolling slowly enough overflows the
window at both ends, and then neither end is free of it: its tail would be
taken for the baseline, and every level read on it would be short by the
tail.  The head's own no-coin level, though, barely moves from coin to coin
(an oscillator's offset drifting with the board's temperature): calibration
reads it off the teach coins whose ends are clean, and a coin whose ends
both still hold the coin is measured against that instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CHANNELS: tuple[str, ...] = ("eddy_lo", "eddy_hi", "eddy_lo_loss", "eddy_hi_loss")
"""The traces a no-coin level is kept for, in this order."""

# An end is clean when its two halves' means differ by less than this many of
# their difference's standard deviations (from the trace's own noise): a coin's
# flank moves them apart by far more, noise by this much once in ~16,000 ends.
_CLEAN_END_SIGMAS = 4.0
# Levels read off clean ends further than this many robust spreads from the
# head's temperature trend are not the head's (a glitch, a coin's far tail).
_LEVEL_OUTLIER = 5.0
# Fewer clean ends than this on a channel fit no level for it.
_FEWEST_ENDS = 5


def end_segments(y: FloatArray) -> tuple[FloatArray, int]:
    """Both ends of every trace as the rows of one array: the first n rows the starts.

    Returns
    -------
    ends : ndarray of shape (2n, seg)
    seg : int
    """
    length = y.shape[1]
    seg = max(4, length // 12)
    return np.concatenate((y[:, :seg], y[:, -seg:])), seg


def baseline_and_noise(
    y: FloatArray, fallback: FloatArray | None = None, clean_hint: BoolArray | None = None
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """No-coin level, noise and end cleanliness of each trace.

    The level comes from the clean ends, weighted by how little each moves
    (from both ends by that weight when neither is clean); where both ends
    still hold the coin and ``fallback`` gives a level for the row (not NaN),
    that level is used instead.

    Parameters
    ----------
    y : ndarray of shape (n, length)
    fallback : ndarray of shape (n,), optional
        The head's calibrated no-coin level for each row.
    clean_hint : ndarray of shape (n, 2), bool, optional
        Ends known to hold the coin from another trace of the same passage
        (False): a weak trace (a loss trace of a coin that barely loses at that
        frequency) can hide a coin's tail in its noise, a strong one cannot.

    Returns
    -------
    baseline, noise : ndarrays of shape (n,)
        Noise is the per-sample standard deviation of the quieter end.
    clean : ndarray of shape (n, 2), bool
        Whether the start and the end are free of the coin.
    """
    n = y.shape[0]
    ends, seg = end_segments(y)
    means = np.add.reduce(ends, axis=1) / seg
    # Noise from first differences: insensitive to the slow level itself
    # (mean |difference| of white noise is 2 sigma / sqrt(pi)).
    steps = np.abs(ends[:, 1:] - ends[:, :-1])
    noise = np.add.reduce(steps, axis=1) * (0.886 / (seg - 1)) + 1e-12
    weight = (np.abs(ends[:, -1] - ends[:, 0]) + noise) ** -2.0
    half = seg // 2
    drift = np.abs(ends[:, half:].mean(axis=1) - ends[:, :half].mean(axis=1))
    # The two halves' means each carry sigma / sqrt(seg / 2) of noise.
    clean = (drift <= _CLEAN_END_SIGMAS * noise * 2.0 / np.sqrt(seg)).reshape(2, n).T
    if clean_hint is not None:
        clean &= clean_hint
        # An end that holds the coin counts for nothing while the other is clean.
        one = clean.any(axis=1)
        weight = weight * np.where(np.tile(one, 2), clean.T.reshape(-1), True)
    baseline = (weight[:n] * means[:n] + weight[n:] * means[n:]) / (weight[:n] + weight[n:])
    if fallback is not None:
        use = ~clean.any(axis=1) & np.isfinite(fallback)
        baseline = np.where(use, fallback, baseline)
    return baseline, np.minimum(noise[:n], noise[n:]), clean


@dataclass(frozen=True, slots=True)
class NoCoinLevels:
    """A head's no-coin level per eddy trace, linear in the board's temperature.

    Attributes
    ----------
    t_ref : float
        Reference temperature, C.
    level, slope_per_k : tuple of float, one per channel of :data:`CHANNELS`
        Level at ``t_ref`` and its change per kelvin; NaN where calibration saw
        too few clean ends (or no such trace) to say.
    n_ends : tuple of int
        Clean ends each level was read off.
    """

    t_ref: float
    level: tuple[float, ...]
    slope_per_k: tuple[float, ...]
    n_ends: tuple[int, ...]

    def at(self, channel: int, temperature_c: FloatArray) -> FloatArray:
        """Level of one channel at each temperature, shape (n,): NaN when unknown."""
        t = np.asarray(temperature_c, dtype=np.float64)
        out: FloatArray = self.level[channel] + self.slope_per_k[channel] * (t - self.t_ref)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; unknown levels are null."""
        return {
            "ref_c": self.t_ref,
            "channels": {
                name: (
                    None
                    if not np.isfinite(self.level[k])
                    else {
                        "level": self.level[k],
                        "slope_per_k": self.slope_per_k[k],
                        "n_ends": self.n_ends[k],
                    }
                )
                for k, name in enumerate(CHANNELS)
            },
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> NoCoinLevels:
        """Rebuild from :meth:`to_dict` output (validated by the profile loader)."""
        channels = obj["channels"]
        entries = [channels.get(name) for name in CHANNELS]
        return cls(
            t_ref=float(obj["ref_c"]),
            level=tuple(float(e["level"]) if e else float("nan") for e in entries),
            slope_per_k=tuple(float(e["slope_per_k"]) if e else float("nan") for e in entries),
            n_ends=tuple(int(e["n_ends"]) if e else 0 for e in entries),
        )


def fit_no_coin_levels(
    traces: Iterable[tuple[Sequence[FloatArray | None], FloatArray]],
) -> NoCoinLevels:
    """Fit a head's no-coin levels from the clean ends of its teach coins.

    Parameters
    ----------
    traces : iterable of (channels, temperature_c)
        Per batch of coins: the four traces of :data:`CHANNELS`, each of shape
        (n, length) or None, and the board temperatures, shape (n,).
    """
    levels: list[list[FloatArray]] = [[] for _ in CHANNELS]
    temps: list[list[FloatArray]] = [[] for _ in CHANNELS]
    for channels, temperature in traces:
        for k, y in enumerate(channels):
            if y is None or y.shape[0] == 0:
                continue
            n = y.shape[0]
            ends, _ = end_segments(y)
            with np.errstate(all="ignore"):
                _, _, clean = baseline_and_noise(y)
                # Medians: a glitch on an end must not move the head's level.
                read = np.median(ends, axis=1).reshape(2, n).T
            for side in (0, 1):
                ok = clean[:, side] & np.isfinite(read[:, side])
                levels[k].append(read[ok, side])
                temps[k].append(np.asarray(temperature, dtype=np.float64)[ok])
    all_t = [np.concatenate(t) for t in temps if t]
    t_ref = (
        float(np.median(np.concatenate(all_t))) if all_t and any(a.size for a in all_t) else 20.0
    )
    level, slope, count = [], [], []
    for k in range(len(CHANNELS)):
        y = np.concatenate(levels[k]) if levels[k] else np.zeros(0)
        t = np.concatenate(temps[k]) if temps[k] else np.zeros(0)
        fit = _robust_line(t - t_ref, y)
        if fit is None:
            level.append(float("nan"))
            slope.append(float("nan"))
            count.append(0)
            continue
        level.append(fit[0])
        slope.append(fit[1])
        count.append(fit[2])
    return NoCoinLevels(t_ref, tuple(level), tuple(slope), tuple(count))


def _robust_line(dt: FloatArray, y: FloatArray) -> tuple[float, float, int] | None:
    """Intercept and slope of y on dt, refitted without outlying points, or None."""
    keep = np.ones(y.shape[0], dtype=bool)
    for _ in range(3):
        if keep.sum() < _FEWEST_ENDS:
            return None
        slope = np.polyfit(dt[keep], y[keep], 1)[0] if np.ptp(dt[keep]) > 1.0 else 0.0
        intercept = float(np.median(y[keep] - slope * dt[keep]))
        resid = y - intercept - slope * dt
        spread = 1.4826 * float(np.median(np.abs(resid[keep]))) + 1e-12
        keep = np.abs(resid) <= _LEVEL_OUTLIER * spread
    if keep.sum() < _FEWEST_ENDS:
        return None
    return intercept, float(slope), int(keep.sum())
