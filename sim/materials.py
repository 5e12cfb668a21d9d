"""Coin alloys and platings as the eddy-current model sees them.

A material is four numbers: electrical conductivity at 20 C (MS/m), relative
permeability, the temperature coefficient of resistivity (per K) and, for
ferromagnetic metals, the hysteresis loss tangent ``mu'' / mu'`` of the
permeability at the small fields of a sensor coil.  The
conductivities are *invented but plausible*: no measured values are published
for the mint alloys (see ``reference/coins.toml``), and the classifier must not
depend on them anyway, since it learns inductive levels per sensor head.

Temperature: resistivity grows linearly, so
``sigma(T) = sigma_20 / (1 + alpha * (T - 20))``.  Cupronickels have a very
small alpha (they are resistance alloys), brasses a moderate one, pure metals
and steel a large one; this is what makes the inductive levels of different
coins drift *differently* with temperature.

Hysteresis: in the low-field (Rayleigh) region the permeability of a soft
magnetic metal is complex, ``mu = mu' (1 - j tan_h)``; the imaginary part is
the energy lost per cycle in reversing the magnetisation, which the coil sees
as extra loss on top of the eddy-current (Joule) loss.  Unannealed low-carbon
steel loses more per cycle than nickel.  The tangents, like the
conductivities, are invented but plausible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

REFERENCE_TEMPERATURE_C = 20.0


@dataclass(frozen=True, slots=True)
class Material:
    """One homogeneous metal.

    Attributes
    ----------
    name : str
        Short human name (alloy composition).
    sigma_ms_m : float
        Conductivity at 20 C, MS/m.
    mu_r : float
        Relative permeability (1 for non-magnetic metals).
    alpha_per_k : float
        Temperature coefficient of resistivity, 1/K.
    hysteresis_tangent : float
        ``mu'' / mu'`` at small fields (0 for non-magnetic metals).
    """

    name: str
    sigma_ms_m: float
    mu_r: float = 1.0
    alpha_per_k: float = 0.002
    hysteresis_tangent: float = 0.0

    def __post_init__(self) -> None:
        if not self.sigma_ms_m > 0:
            raise ValueError(f"{self.name}: conductivity must be > 0")
        if not self.mu_r >= 1:
            raise ValueError(f"{self.name}: relative permeability must be >= 1")
        if not 0.0 <= self.hysteresis_tangent < 1.0:
            raise ValueError(f"{self.name}: hysteresis loss tangent must be in [0, 1)")

    @property
    def magnetic(self) -> bool:
        """True for ferromagnetic metals (steel, nickel)."""
        return self.mu_r > 1.5

    def conductivity(self, temperature_c: npt.ArrayLike, factor: npt.ArrayLike = 1.0) -> FloatArray:
        """Conductivity in S/m at the given temperatures.

        Parameters
        ----------
        temperature_c : array_like of shape (n,)
        factor : array_like of shape (n,) or scalar
            Multiplicative deviation of this piece (batch shift, piece scatter,
            counterfeit alloy offset).

        Returns
        -------
        ndarray of shape (n,)
        """
        t = np.asarray(temperature_c, dtype=np.float64)
        f = np.asarray(factor, dtype=np.float64)
        return self.sigma_ms_m * 1e6 * f / (1.0 + self.alpha_per_k * (t - REFERENCE_TEMPERATURE_C))


# --- UK mint alloys ---------------------------------------------------------------------------
NICKEL_BRASS_RING = Material("nickel-brass Cu76 Zn20 Ni4", 12.5, 1.0, 0.0016)
NICKEL_BRASS_1983 = Material("nickel-brass Cu70 Zn24.5 Ni5.5", 10.8, 1.0, 0.0015)
# The new pound's core alloy is not published ("sources disagree"); a brass-like
# alloy under the nickel plating gives a core clearly unlike the ring at both frequencies.
CORE_ALLOY_2017 = Material("core alloy (brass-like, under nickel plating)", 16.0, 1.0, 0.0017)
CUPRONICKEL_25 = Material("cupronickel Cu75 Ni25", 3.6, 1.0, 0.0003)
CUPRONICKEL_16 = Material("cupronickel Cu84 Ni16", 5.0, 1.0, 0.0005)
LOW_CARBON_STEEL = Material("low-carbon steel", 6.0, 120.0, 0.0040, hysteresis_tangent=0.25)
# Electroplated nickel is less permeable than annealed bulk nickel.
NICKEL_PLATING = Material("electroplated nickel", 14.0, 80.0, 0.0040, hysteresis_tangent=0.15)

# --- other metals (look-alikes, counterfeits) ----------------------------------------------
NICKEL_BULK = Material("nickel (clad core layer)", 14.3, 110.0, 0.0040, hysteresis_tangent=0.12)
NICKEL_BRASS_EURO = Material("nickel-brass Cu75 Zn20 Ni5", 11.6, 1.0, 0.0015)
BRASS_THREEPENCE = Material("brass Cu79 Zn20 Ni1", 15.0, 1.0, 0.0017)
COPPER = Material("copper", 58.0, 1.0, 0.0039)
BRASS_CUZN37 = Material("brass Cu63 Zn37", 15.5, 1.0, 0.0016)
CAST_LEADED_BRASS = Material("cast leaded nickel-brass", 8.6, 1.0, 0.0014)
ZINC_ALLOY = Material("zinc die-casting alloy (Zamak)", 16.0, 1.0, 0.0035)
ZINC_PLATING = Material("electro-galvanised zinc", 16.9, 1.0, 0.0037)

MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        NICKEL_BRASS_RING,
        NICKEL_BRASS_1983,
        CORE_ALLOY_2017,
        CUPRONICKEL_25,
        CUPRONICKEL_16,
        LOW_CARBON_STEEL,
        NICKEL_PLATING,
        NICKEL_BULK,
        NICKEL_BRASS_EURO,
        BRASS_THREEPENCE,
        COPPER,
        BRASS_CUZN37,
        CAST_LEADED_BRASS,
        ZINC_ALLOY,
        ZINC_PLATING,
    )
}
