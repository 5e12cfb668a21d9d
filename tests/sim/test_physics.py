"""The layered eddy-current model behaves like the physics it stands for."""

from __future__ import annotations

import numpy as np

from sim import materials as m
from sim.response import C_MAG, LayerState, skin_depth_m, stack_response

LO, HI = 15e3, 400e3


def _plate(material: m.Material, thickness_mm: float, temperature_c: float = 20.0) -> LayerState:
    sigma = material.conductivity(np.array([temperature_c]))
    return LayerState(sigma, material.mu_r, np.array([thickness_mm * 1e-3]))


def _response(layers: list[LayerState], freq: float) -> float:
    return float(stack_response(layers, freq)[0])


def test_skin_depth_of_copper_at_50_hz_is_about_9_mm() -> None:
    assert abs(float(skin_depth_m(58e6, 1.0, 50.0)[()]) - 9.3e-3) < 0.3e-3


def test_low_frequency_grows_with_thickness_and_saturates() -> None:
    thin, mid, thick, thicker = (
        _response([_plate(m.CUPRONICKEL_25, t)], LO) for t in (0.5, 1.5, 4.0, 8.0)
    )
    assert thin < mid < thick <= thicker < 1.0
    assert thicker - thick < 0.2 * (mid - thin)


def test_high_frequency_sees_only_the_skin() -> None:
    r2, r3 = (_response([_plate(m.NICKEL_BRASS_RING, t)], HI) for t in (2.0, 3.0))
    assert abs(r2 - r3) < 1e-3


def test_response_grows_with_conductivity() -> None:
    levels = [
        _response([_plate(mat, 2.5)], LO)
        for mat in (m.CUPRONICKEL_25, m.NICKEL_BRASS_RING, m.COPPER)
    ]
    assert levels == sorted(levels)


def test_steel_pulls_the_low_frequency_below_zero() -> None:
    steel = _response([_plate(m.LOW_CARBON_STEEL, 1.85)], LO)
    assert -C_MAG < steel < 0.0
    # Magnetic pull is weaker at high frequency: the field penetrates less of the steel.
    assert _response([_plate(m.LOW_CARBON_STEEL, 1.85)], HI) > steel


def _plated(substrate: m.Material) -> list[LayerState]:
    nickel = _plate(m.NICKEL_PLATING, 0.015)
    return [nickel, _plate(substrate, 2.77), nickel]


def test_plating_hides_the_substrate_at_high_frequency() -> None:
    def contrast(freq: float) -> float:
        brass = _response(_plated(m.CORE_ALLOY_2017), freq)
        cupronickel = _response(_plated(m.CUPRONICKEL_25), freq)
        return abs(brass - cupronickel) / abs(brass)

    # Swapping the metal under the plating shows much less at high frequency.
    assert contrast(HI) < 0.5 * contrast(LO)


def test_nickel_plating_pulls_both_channels_down() -> None:
    bare = [_plate(m.CORE_ALLOY_2017, 2.8)]
    for freq in (LO, HI):
        assert _response(_plated(m.CORE_ALLOY_2017), freq) < _response(bare, freq) - 0.1


def test_conductivity_falls_with_temperature_by_alloy() -> None:
    for mat in (m.CUPRONICKEL_25, m.NICKEL_BRASS_RING, m.COPPER):
        cold, hot = mat.conductivity(np.array([-10.0, 45.0]))
        assert hot < cold
        assert 0.0002 <= mat.alpha_per_k <= 0.004
    cn = m.CUPRONICKEL_25.conductivity(np.array([-10.0, 45.0]))
    cu = m.COPPER.conductivity(np.array([-10.0, 45.0]))
    assert cn[0] / cn[1] < cu[0] / cu[1]
