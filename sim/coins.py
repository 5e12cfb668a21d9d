"""Physical designs of coins: shape, size, edge and the metal stacks of ring and core.

A :class:`CoinDesign` is the nominal recipe of a coin (or a counterfeit, or a
look-alike).  Geometry of the genuine UK coins comes from
:mod:`coinval.catalogue`; materials, edge milling details and the spread of
pieces and batches are ours (:mod:`sim.materials`), because the catalogue is
deliberately free of inductive facts.

Conventions
-----------
* ``diameter_mm`` is point-to-point for polygons, the width for Reuleaux
  polygons, the diameter for round coins.
* A :class:`Region` is a substrate with optional cladding layers on *both*
  faces (outermost first): nickel plating on steel, cupronickel over a nickel
  core layer (euro), copper plating on a slug.
* Milling: ``grooves`` fine grooves per revolution; on ``"alternate"`` edges
  only every other of ``segments`` equal arcs is milled (the new pound: six of
  its twelve sides; the euro: three of six sections).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from coinval import catalogue
from coinval.catalogue import Shape
from sim import materials as m

#: The six circulating UK coins a demo machine is taught: both pounds, 2, 50, 20 and 10 pence.
TAUGHT_COINS = (
    "gb-100-2017",
    "gb-100-1983",
    "gb-200-1997",
    "gb-050-1997",
    "gb-020-1982",
    "gb-010-2012",
)
Milling = Literal["none", "all", "alternate"]


@dataclass(frozen=True, slots=True)
class Layer:
    """A cladding or plating layer of fixed nominal thickness."""

    material: m.Material
    thickness_mm: float


@dataclass(frozen=True, slots=True)
class Region:
    """The metal stack of a ring, a core or a monometallic blank.

    Attributes
    ----------
    substrate : Material
        Fills the thickness between the cladding layers.
    cladding : tuple of Layer
        Layers on both faces, outermost first.
    """

    substrate: m.Material
    cladding: tuple[Layer, ...] = ()

    @property
    def magnetic(self) -> bool:
        """True if any layer of the stack is ferromagnetic."""
        return self.substrate.magnetic or any(c.material.magnetic for c in self.cladding)


@dataclass(frozen=True, slots=True)
class Edge:
    """The coin's edge as the rim gauge sees it.

    Attributes
    ----------
    milling : {"none", "all", "alternate"}
    grooves : int
        Fine grooves per full revolution (as if milled all round).
    depth_mm : float
        Groove depth, peak to valley.
    segments : int
        For ``"alternate"``: number of equal arcs, alternately milled and
        plain (even); 0 means one arc per side of the polygon.
    sharpness : float
        0 for rounded, blurry grooves (cast fakes), 1 for crisp struck grooves.
    lettering_depth_mm : float
        Depth of an incuse edge inscription (0: none).
    """

    milling: Milling = "none"
    grooves: int = 0
    depth_mm: float = 0.0
    segments: int = 0
    sharpness: float = 1.0
    lettering_depth_mm: float = 0.0


@dataclass(frozen=True, slots=True)
class Variation:
    """How far pieces and mint batches of a design spread around its nominal.

    Piece figures are standard deviations (fractions or mm); ``batch_shift``
    is the (min, max) magnitude of the per-batch fractional shift of ring and
    core conductivity, cladding thickness and core diameter.
    """

    piece_sigma: float = 0.006
    piece_diameter_mm: float = 0.02
    piece_thickness_mm: float = 0.015
    piece_cladding: float = 0.03
    piece_core_diameter: float = 0.004
    piece_milling: float = 0.08
    ellipticity_mm: float = 0.008
    batch_shift: tuple[float, float] = (0.01, 0.04)


GENUINE = Variation()
# Forgers control alloy, blanking and striking far worse than a mint.
COUNTERFEIT = Variation(
    piece_sigma=0.03,
    piece_diameter_mm=0.07,
    piece_thickness_mm=0.04,
    piece_cladding=0.12,
    piece_core_diameter=0.015,
    piece_milling=0.25,
    ellipticity_mm=0.03,
    batch_shift=(0.02, 0.08),
)
INDUSTRIAL = Variation(
    piece_sigma=0.02,
    piece_diameter_mm=0.05,
    piece_thickness_mm=0.04,
    piece_cladding=0.15,
    piece_core_diameter=0.01,
    piece_milling=0.0,
    ellipticity_mm=0.02,
    batch_shift=(0.01, 0.05),
)


@dataclass(frozen=True, slots=True)
class CoinDesign:
    """Nominal recipe of one kind of piece.

    Attributes
    ----------
    name : str
    shape : {"round", "polygon", "reuleaux"}
    diameter_mm, thickness_mm : float
    outer : Region
        The ring of a bimetal coin, or the whole blank.
    sides : int
        Number of sides (polygon, Reuleaux); 0 for round.
    corner_radius_mm : float
        Corner rounding of a polygon.
    core : Region or None
        The inner disc of a bimetal coin.
    core_diameter_mm : float
    hole_diameter_mm : float
        Central hole (washers); 0 for none.
    edge : Edge
    variation : Variation
    """

    name: str
    shape: Shape
    diameter_mm: float
    thickness_mm: float
    outer: Region
    sides: int = 0
    corner_radius_mm: float = 0.0
    core: Region | None = None
    core_diameter_mm: float = 0.0
    hole_diameter_mm: float = 0.0
    edge: Edge = field(default_factory=Edge)
    variation: Variation = GENUINE

    def __post_init__(self) -> None:
        if self.shape != "round" and self.sides < 3:
            raise ValueError(f"{self.name}: a {self.shape} needs sides >= 3")
        if self.core is not None and not 0 < self.core_diameter_mm < self.diameter_mm:
            raise ValueError(f"{self.name}: core diameter must be inside the coin")
        if self.edge.milling == "alternate" and self.milled_segments % 2:
            raise ValueError(f"{self.name}: alternate milling needs an even number of segments")

    @property
    def milled_segments(self) -> int:
        """Number of alternating edge arcs (0 if not alternately milled)."""
        if self.edge.milling != "alternate":
            return 0
        return self.edge.segments or self.sides


class Recipe(TypedDict):
    """What the simulator adds to a catalogue entry: materials and edge."""

    outer: Region
    core: NotRequired[Region | None]
    core_diameter_mm: NotRequired[float]
    corner_radius_mm: NotRequired[float]
    hole_diameter_mm: NotRequired[float]
    edge: NotRequired[Edge]
    variation: NotRequired[Variation]


# Materials and edges of the genuine coins; geometry is the catalogue's.
_NICKEL_PLATED_STEEL = Region(m.LOW_CARBON_STEEL, (Layer(m.NICKEL_PLATING, 0.022),))

_GENUINE_RECIPES: dict[str, Recipe] = {
    "gb-100-2017": {
        "outer": Region(m.NICKEL_BRASS_RING),
        "core": Region(m.CORE_ALLOY_2017, (Layer(m.NICKEL_PLATING, 0.015),)),
        "core_diameter_mm": 15.0,
        # Point to point 23.43 mm, across flats about 23.03 mm: heavily rounded corners.
        "corner_radius_mm": 5.85,
        "edge": Edge("alternate", grooves=146, depth_mm=0.06),
    },
    "gb-100-1983": {
        "outer": Region(m.NICKEL_BRASS_1983),
        "edge": Edge("all", grooves=140, depth_mm=0.07, lettering_depth_mm=0.03),
    },
    "gb-200-1997": {
        "outer": Region(m.NICKEL_BRASS_RING),
        "core": Region(m.CUPRONICKEL_25),
        "core_diameter_mm": 19.8,
        "edge": Edge("all", grooves=176, depth_mm=0.06, lettering_depth_mm=0.025),
    },
    "gb-050-1997": {"outer": Region(m.CUPRONICKEL_25)},
    "gb-020-1982": {"outer": Region(m.CUPRONICKEL_16)},
    "gb-010-2012": {
        "outer": _NICKEL_PLATED_STEEL,
        "edge": Edge("all", grooves=150, depth_mm=0.06),
    },
    "gb-005-2012": {
        "outer": _NICKEL_PLATED_STEEL,
        "edge": Edge("all", grooves=112, depth_mm=0.05),
    },
}


def design_from_spec(spec: catalogue.CoinSpec, recipe: Recipe) -> CoinDesign:
    """A design with the catalogue's geometry and the given materials and edge."""
    return CoinDesign(
        name=spec.id,
        shape=spec.shape,
        diameter_mm=spec.diameter_mm,
        thickness_mm=spec.thickness_mm,
        sides=spec.sides,
        **recipe,
    )


def genuine_ids() -> list[str]:
    """Coin ids of the catalogue that the simulator can make."""
    return [cid for cid in catalogue.coins() if cid in _GENUINE_RECIPES]


def genuine_design(coin_id: str) -> CoinDesign:
    """The design of a genuine coin of the catalogue.

    Raises
    ------
    KeyError
        If the id is not a catalogue coin with a recipe here.
    """
    if coin_id not in _GENUINE_RECIPES:
        raise KeyError(f"no simulator recipe for coin {coin_id!r}")
    return design_from_spec(catalogue.coin(coin_id), _GENUINE_RECIPES[coin_id])


def counterfeit_of(base: CoinDesign, name: str, **changes: Any) -> CoinDesign:
    """``base`` with ``changes``, named ``name``, at a counterfeit's piece spreads."""
    return dataclasses.replace(base, name=name, variation=COUNTERFEIT, **changes)


def with_material(region: Region, factor: float, label: str) -> Region:
    """The region with its substrate conductivity scaled by ``factor``."""
    sub = region.substrate
    changed = dataclasses.replace(
        sub, name=f"{sub.name} ({label})", sigma_ms_m=sub.sigma_ms_m * factor
    )
    return dataclasses.replace(region, substrate=changed)


@dataclass(frozen=True, slots=True)
class Family:
    """A kind of piece the simulator can make: one or several weighted designs.

    Attributes
    ----------
    description : str
        One line for listings.
    variants : tuple of (float, CoinDesign)
        Relative weight and design; each piece is one of them.
    """

    description: str
    variants: tuple[tuple[float, CoinDesign], ...]

    def __post_init__(self) -> None:
        if not self.variants or min(w for w, _ in self.variants) <= 0:
            raise ValueError("a family needs variants with positive weights")
