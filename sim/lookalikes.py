"""Look-alikes: real pieces that are not UK coins but fit a UK acceptor's slot.

``euro-1`` and ``threepence-1937`` take their geometry from the catalogue's
``[lookalikes]``; the washer and the slug are common parking-meter fraud.
"""

from __future__ import annotations

from coinval import catalogue
from sim import materials as m
from sim.coins import INDUSTRIAL, CoinDesign, Edge, Family, Layer, Region, design_from_spec


def _lookalikes() -> dict[str, Family]:
    specs = catalogue.lookalikes()
    euro = design_from_spec(
        specs["euro-1"],
        {
            "outer": Region(m.NICKEL_BRASS_EURO),
            # Three-layer core: cupronickel faces over a nickel centre (magnetic, but buried).
            "core": Region(m.NICKEL_BULK, (Layer(m.CUPRONICKEL_25, 0.45),)),
            "core_diameter_mm": 16.0,
            # Interrupted milling: six sections, alternately milled and plain.
            "edge": Edge("alternate", grooves=150, depth_mm=0.05, segments=6),
        },
    )
    threepence = design_from_spec(
        specs["threepence-1937"],
        {"outer": Region(m.BRASS_THREEPENCE), "corner_radius_mm": 1.5},
    )
    washer = CoinDesign(
        name="steel-washer",
        shape="round",
        diameter_mm=23.0,
        thickness_mm=2.0,
        outer=Region(m.LOW_CARBON_STEEL, (Layer(m.ZINC_PLATING, 0.008),)),
        hole_diameter_mm=8.4,
        variation=INDUSTRIAL,
    )

    def slug(name: str, blank: m.Material) -> CoinDesign:
        return CoinDesign(
            name=name,
            shape="round",
            diameter_mm=22.5,
            thickness_mm=3.0,
            outer=Region(blank, (Layer(m.COPPER, 0.02),)),
            variation=INDUSTRIAL,
        )

    return {
        "euro-1": Family(
            "one euro: bimetal round 23.25 mm, nickel-brass ring, clad cupronickel/nickel core",
            ((1.0, euro),),
        ),
        "threepence-1937": Family(
            "brass threepence: 12-sided single-metal brass, 21.6 mm, plain edge",
            ((1.0, threepence),),
        ),
        "steel-washer": Family(
            "zinc-plated steel washer, 23 mm with an 8.4 mm hole: magnetic, dip at the centre",
            ((1.0, washer),),
        ),
        "plated-slug": Family(
            "round 22.5 mm copper-plated blank, steel or zinc, plain edge",
            (
                (1.0, slug("plated-slug-steel", m.LOW_CARBON_STEEL)),
                (1.0, slug("plated-slug-zinc", m.ZINC_ALLOY)),
            ),
        ),
    }


LOOKALIKES: dict[str, Family] = _lookalikes()
