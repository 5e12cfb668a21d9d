"""How close a coin's region comes to each other taught coin: what a teach
session shows before the region is committed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coinval.classifier.estimator import CoinClassifier
from coinval.features import CoinFeatures


@dataclass(frozen=True, slots=True)
class Nearness:
    """One other taught coin as seen from a coin's region.

    Deviations are in region radii (:meth:`CoinClassifier.deviation`): 1 or
    less is inside.

    Attributes
    ----------
    coin : str
        The other coin.
    samples_inside_its_region : int
        The coin's samples that the other coin's region takes.
    closest_sample_deviation : float or None
        The nearest of them, in the other region's radii; None when none is
        finite (no sample shows the other coin's geometry).
    its_centre_deviation : float or None
        The other coin's centre, at its own reference temperature, in the
        coin's region's radii; None when not finite.
    conflict : bool
        Whether the two regions overlap so: a sample inside the other region,
        or the other coin's centre inside this one.
    """

    coin: str
    samples_inside_its_region: int
    closest_sample_deviation: float | None
    its_centre_deviation: float | None
    conflict: bool


def nearness(classifier: CoinClassifier, coin: str, feats: CoinFeatures) -> list[Nearness]:
    """How close ``coin``'s region and samples come to every other taught coin.

    Parameters
    ----------
    classifier : CoinClassifier
        Fitted, with a region for ``coin``.
    coin : str
    feats : CoinFeatures of shape (n, n_features)
        The coin's teach samples.

    Returns
    -------
    list of Nearness, one per other taught coin
        Closest sample first (those with none finite last).
    """
    clf = classifier
    mine = clf.coins_.index(coin)
    dev = clf.deviation(feats)  # (n, n_coins)
    out: list[Nearness] = []
    for c, other in enumerate(clf.coins_):
        if c == mine:
            continue
        centre = CoinFeatures(
            values=clf.mean_[c][None, :],
            edge_count=clf.edge_count_[c : c + 1],
            temperature_c=clf.t_ref_[c : c + 1],
        )
        centre_dev = float(clf.deviation(centre)[0, mine])
        samples_dev = dev[:, c]
        closest = float(samples_dev.min()) if samples_dev.size else float("inf")
        inside = int((samples_dev <= 1.0).sum())
        out.append(
            Nearness(
                coin=other,
                samples_inside_its_region=inside,
                closest_sample_deviation=closest if np.isfinite(closest) else None,
                its_centre_deviation=centre_dev if np.isfinite(centre_dev) else None,
                conflict=bool(inside > 0 or (np.isfinite(centre_dev) and centre_dev <= 1.0)),
            )
        )
    out.sort(
        key=lambda e: np.inf if e.closest_sample_deviation is None else e.closest_sample_deviation
    )
    return out
