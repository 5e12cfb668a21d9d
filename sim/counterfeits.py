"""Counterfeit families: fakes of the pound coins, each a design (or a few) of its own.

Each family changes one or a few things about the genuine design it imitates,
the way real fakes do: a different alloy, a blurred cast edge, the wrong
milling, a missing core or plating, the wrong size.  All vary from piece to
piece more than mint coins (:data:`sim.coins.COUNTERFEIT`).
"""

from __future__ import annotations

import dataclasses

from sim import materials as m
from sim.coins import Edge, Family, Region, counterfeit_of, genuine_design, with_material


def _families() -> dict[str, Family]:
    round_pound = genuine_design("gb-100-1983")
    new_pound = genuine_design("gb-100-2017")
    ring = new_pound.outer
    return {
        "cast-round-pound": Family(
            "cast round pound: leaded alloy, slightly shrunk, shallow blurred milling",
            (
                (
                    1.0,
                    counterfeit_of(
                        round_pound,
                        "cast-round-pound",
                        outer=Region(m.CAST_LEADED_BRASS),
                        diameter_mm=22.35,
                        thickness_mm=3.08,
                        edge=Edge(
                            "all",
                            grooves=140,
                            depth_mm=0.035,
                            sharpness=0.2,
                            lettering_depth_mm=0.012,
                        ),
                    ),
                ),
            ),
        ),
        "struck-brass-round-pound": Family(
            "struck round pound in plain brass (Cu63 Zn37), properly milled, no inscription",
            (
                (
                    1.0,
                    counterfeit_of(
                        round_pound,
                        "struck-brass-round-pound",
                        outer=Region(m.BRASS_CUZN37),
                        diameter_mm=22.45,
                        thickness_mm=3.12,
                        edge=Edge("all", grooves=140, depth_mm=0.065, sharpness=0.9),
                    ),
                ),
            ),
        ),
        "mono-12-sided": Family(
            "12-sided new-pound shape in ring alloy throughout: no core",
            ((1.0, counterfeit_of(new_pound, "mono-12-sided", core=None, core_diameter_mm=0.0)),),
        ),
        "bimetal-unplated-core": Family(
            "new-pound shape and ring, but the core is not nickel plated",
            (
                (
                    1.0,
                    counterfeit_of(
                        new_pound,
                        "bimetal-unplated-core",
                        core=Region(m.CORE_ALLOY_2017),
                    ),
                ),
            ),
        ),
        "milled-all-sides": Family(
            "bimetal 12-sided pound milled on all twelve sides (genuine: six)",
            (
                (
                    1.0,
                    counterfeit_of(
                        new_pound,
                        "milled-all-sides",
                        edge=dataclasses.replace(new_pound.edge, milling="all"),
                    ),
                ),
            ),
        ),
        "plain-edge-12-sided": Family(
            "bimetal 12-sided pound with a plain, unmilled edge",
            ((1.0, counterfeit_of(new_pound, "plain-edge-12-sided", edge=Edge())),),
        ),
        "ring-alloy-off": Family(
            "bimetal 12-sided pound whose ring alloy conducts about 20 % less or more",
            (
                (
                    1.0,
                    counterfeit_of(
                        new_pound, "ring-alloy-off-low", outer=with_material(ring, 0.8, "-20 %")
                    ),
                ),
                (
                    1.0,
                    counterfeit_of(
                        new_pound, "ring-alloy-off-high", outer=with_material(ring, 1.2, "+20 %")
                    ),
                ),
            ),
        ),
        "undersized-12-sided": Family(
            "bimetal 12-sided pound about 4.5 % too small",
            (
                (
                    1.0,
                    counterfeit_of(
                        new_pound,
                        "undersized-12-sided",
                        diameter_mm=new_pound.diameter_mm * 0.955,
                        core_diameter_mm=new_pound.core_diameter_mm * 0.955,
                        corner_radius_mm=new_pound.corner_radius_mm * 0.955,
                        thickness_mm=new_pound.thickness_mm * 0.98,
                    ),
                ),
            ),
        ),
        "cast-zinc-12-sided": Family(
            "cast zinc-alloy 12-sided pound: monometallic, blurred corners and milling",
            (
                (
                    1.0,
                    counterfeit_of(
                        new_pound,
                        "cast-zinc-12-sided",
                        outer=Region(m.ZINC_ALLOY),
                        core=None,
                        core_diameter_mm=0.0,
                        diameter_mm=23.35,
                        thickness_mm=2.86,
                        corner_radius_mm=6.4,
                        edge=Edge("alternate", grooves=146, depth_mm=0.03, sharpness=0.1),
                    ),
                ),
            ),
        ),
    }


FAMILIES: dict[str, Family] = _families()
