"""The layered eddy-current model behaves like the physics it stands for."""

from __future__ import annotations

import numpy as np

from sim import materials as m
from sim.response import (
    C_MAG,
    L_COIL_M,
    LayerState,
    skin_depth_m,
    stack_components,
    stack_response,
)

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


# --- the loss component ---------------------------------------------------------------------


def _components(layers: list[LayerState], freq: float) -> tuple[float, float]:
    reactive, loss = stack_components(layers, freq)
    return float(reactive[0]), float(loss[0])


def test_the_reactive_part_is_the_response_unchanged() -> None:
    layers = _plated(m.CORE_ALLOY_2017)
    for freq in (LO, HI):
        np.testing.assert_array_equal(
            stack_components(layers, freq)[0], stack_response(layers, freq)
        )


def test_a_thick_good_conductor_saturates_while_its_loss_keeps_falling() -> None:
    plate = [_plate(m.NICKEL_BRASS_RING, 2.8)]
    parts = [_components(plate, f) for f in (15e3, 60e3, 240e3, 960e3)]
    reactive = [r for r, _ in parts]
    loss = [lo for _, lo in parts]
    assert reactive == sorted(reactive) and reactive[-1] < 1.0
    assert loss == sorted(loss, reverse=True)
    # Far into the skin-effect regime the loss tends to the reactive deficit, delta / L_COIL
    # (at 1 MHz, L_COIL / delta = 10: within (1 + delta / L_COIL)**2).
    sigma = m.NICKEL_BRASS_RING.conductivity(np.array([20.0]))
    delta = float(skin_depth_m(sigma, 1.0, 960e3)[0])
    assert abs(loss[-1] / (delta / L_COIL_M) - 1.0) < 0.2
    assert abs(loss[-1] / (1.0 - reactive[-1]) - 1.0) < 0.1


def test_a_thin_layer_loses_in_proportion_to_its_sheet_conductance() -> None:
    thin, twice = (_components([_plate(m.CUPRONICKEL_25, t)], LO)[1] for t in (0.01, 0.02))
    assert abs(twice / thin - 2.0) < 0.05


def test_loss_over_reactive_depends_on_the_metal_not_on_a_common_factor() -> None:
    # Gain and lift-off multiply both components; the ratio is 1 / (1 + x) of the metal.
    plate = [_plate(m.NICKEL_BRASS_RING, 2.8)]
    for freq in (LO, HI):
        reactive, loss = _components(plate, freq)
        assert abs(loss / reactive - (1.0 - reactive)) < 1e-12


def test_twenty_percent_less_conductivity_raises_the_high_frequency_ratio_by_a_tenth() -> None:
    def ratio(factor: float) -> float:
        sigma = m.NICKEL_BRASS_RING.conductivity(np.array([20.0]), factor)
        reactive, loss = _components([LayerState(sigma, 1.0, np.array([2.8e-3]))], HI)
        return loss / reactive

    # Skin-effect regime: ratio ~ delta ~ sigma ** -1/2, so 0.8 sigma gives about +12 %.
    assert 0.08 < ratio(0.8) / ratio(1.0) - 1.0 < 0.14
    assert 0.06 < 1.0 - ratio(1.2) / ratio(1.0) < 0.11


def test_hysteresis_adds_loss_and_leaves_the_reactive_part_alone() -> None:
    steel = m.LOW_CARBON_STEEL
    sigma = steel.conductivity(np.array([20.0]))
    lossy = [LayerState(sigma, steel.mu_r, np.array([1.85e-3]), steel.hysteresis_tangent)]
    ideal = [LayerState(sigma, steel.mu_r, np.array([1.85e-3]))]
    for freq in (LO, HI):
        (r_lossy, l_lossy), (r_ideal, l_ideal) = _components(lossy, freq), _components(ideal, freq)
        assert r_lossy == r_ideal
        assert l_lossy > 1.2 * l_ideal
    assert steel.hysteresis_tangent > 0 and m.NICKEL_BRASS_RING.hysteresis_tangent == 0


def test_loss_is_never_negative() -> None:
    for mat in m.MATERIALS.values():
        for t in (0.005, 0.1, 2.0):
            layer = LayerState(
                mat.conductivity(np.array([-20.0, 20.0, 60.0])),
                mat.mu_r,
                np.full(3, t * 1e-3),
                mat.hysteresis_tangent,
            )
            for freq in (5e3, LO, HI, 2e6):
                assert (stack_components([layer], freq)[1] >= 0).all()
