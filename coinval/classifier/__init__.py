"""The calibration-driven, open-set coin classifier.

Each taught coin gets one acceptance region fitted from genuine coins only
(there are never counterfeits at teach time).  The region is a Mahalanobis
ellipsoid over every feature the coin has, around a centre that moves
linearly with temperature (and, for the eddy features, with the log of the
rolling speed):

* widths and correlations are the teach coins' own residual spread and
  correlations, the correlations shrunk towards none by as much as the teach
  set's size warrants (Ledoit and Wolf's estimate, from the data itself), so
  that a fake moving two correlated features apart is refused where
  independent per-feature boxes would take it;
* the bound on the squared distance is the chi-square quantile of the
  coin's feature count at the security level's false-rejection rate, for a
  coin whose centre is known only from n teach coins (each distance is
  taken against the residual variance plus the centre's own uncertainty at
  that temperature and speed, as a regression's prediction interval is);
* a teach from circulation (the normal field teach) holds several mint
  batches, so their spread is in the teach coins already; a launch teach
  (every coin from one batch) gets a documented extra budget in the same
  units: another batch may lie :data:`LAUNCH_BATCH_WIDTHS` teach spreads
  from the taught one, in any one direction.

Only geometric facts are built in: the edge count a polygon must show, and
that the new pound is milled on alternate sides.  Everything sensor-dependent
is learned in :meth:`CoinClassifier.fit`; :meth:`CoinClassifier.provenance`
says, per coin, where each width came from.

========================  =====================================================
:mod:`.estimator`         :class:`CoinClassifier`: fit, predict, explain
:mod:`.fitting`           one coin's region from its teach coins
:mod:`.drift`             how a centre moves with temperature and speed, and the
                          prediction's widening far from the teach
:mod:`.bounds`            security levels, teach kinds, the distance bound
:mod:`.nearness`          how close a coin's region comes to the other taught coins
:mod:`.projection`        a region's shadow on two features, and the pair that best
                          separates it from other coins (a teach preview's plot)
========================  =====================================================

A profile stores the regions (:mod:`coinval.profile`); the classifier knows
nothing of that format.
"""

from coinval.classifier.bounds import (
    FALSE_REJECTION,
    LAUNCH_BATCH_WIDTHS,
    SECURITY_LEVELS,
    TEACH_KINDS,
    SecurityLevel,
    TeachKind,
)
from coinval.classifier.estimator import CoinClassifier
from coinval.classifier.fitting import ALTERNATE_MILLING, ledoit_wolf_shrinkage
from coinval.classifier.nearness import Nearness, nearness
from coinval.classifier.projection import (
    DEFAULT_PAIR,
    FEATURE_UNITS,
    RegionShadow,
    moved_to,
    pair_deviation,
    region_shadow,
    separating_pair,
)

__all__ = [
    "ALTERNATE_MILLING",
    "DEFAULT_PAIR",
    "FALSE_REJECTION",
    "FEATURE_UNITS",
    "LAUNCH_BATCH_WIDTHS",
    "SECURITY_LEVELS",
    "TEACH_KINDS",
    "CoinClassifier",
    "Nearness",
    "RegionShadow",
    "SecurityLevel",
    "TeachKind",
    "ledoit_wolf_shrinkage",
    "moved_to",
    "nearness",
    "pair_deviation",
    "region_shadow",
    "separating_pair",
]
