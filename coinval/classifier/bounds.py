"""Security levels and teach kinds: the bound on a region's squared distance."""

from __future__ import annotations

from typing import Literal

from scipy.special import chdtri, chndtrix

SecurityLevel = Literal["standard", "narrow", "very narrow"]
SECURITY_LEVELS: tuple[SecurityLevel, ...] = ("standard", "narrow", "very narrow")
TeachKind = Literal["circulation", "launch"]
TEACH_KINDS: tuple[TeachKind, ...] = ("circulation", "launch")

FALSE_REJECTION: dict[SecurityLevel, float] = {
    "standard": 1e-5,
    "narrow": 1e-4,
    "very narrow": 1e-3,
}
"""The chance that a genuine coin like those taught falls outside its region, per
security level, if its features were normal: the chi-square bound's tail."""

LAUNCH_BATCH_WIDTHS = 3.0
"""A launch teach (one mint batch) cannot see how far other batches lie: the
region admits another batch whose centre lies this many teach spreads (along
any one direction of the ellipsoid) from the taught one, by adding its square
to the distance bound.  Mint batches differ by a few percent in alloy and a few
hundredths of a millimetre, against a teach spread of a few percent."""


def distance_bound(security: SecurityLevel, teach_kind: TeachKind, dof: int) -> float:
    """The bound on a region's squared distance over ``dof`` features.

    The chi-square quantile at the security level's false-rejection rate; for a
    launch teach, the noncentral one of a coin whose batch lies
    :data:`LAUNCH_BATCH_WIDTHS` spreads off along one direction.
    """
    alpha = FALSE_REJECTION[security]
    if teach_kind == "launch":
        return float(chndtrix(1.0 - alpha, dof, LAUNCH_BATCH_WIDTHS**2))
    return float(chdtri(dof, alpha))
