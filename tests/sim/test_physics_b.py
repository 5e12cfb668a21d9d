"""The second physics (``phys2:`` heads) behaves like the physics it stands for, and
makes valid signatures of every kind."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from coinval.signature import parse_signature
from sim import materials as m
from sim import physics_b as pb
from sim.heads import HEADS, get_head
from sim.population import generate, kinds, to_json_dicts
from sim.response import MU_0, LayerState, skin_depth_m
from tests.sim.helpers import normalised, peak_level

LO, HI = 15e3, 400e3
KAPPA = 500.0  # 1/m: a coil 2 mm above the coin


def _plate(material: m.Material, thickness_mm: float, tangent: bool = True) -> LayerState:
    sigma = material.conductivity(np.array([20.0]))
    return LayerState(
        sigma,
        material.mu_r,
        np.array([thickness_mm * 1e-3]),
        material.hysteresis_tangent if tangent else 0.0,
    )


def _parts(layers: list[LayerState], freq: float, kappa: float = KAPPA) -> tuple[float, float]:
    reactive, loss = pb.reflection_components(layers, freq, kappa)
    return float(reactive[0]), float(loss[0])


# --- response law ------------------------------------------------------------------------------


def test_a_thin_sheet_is_the_transformer_coupled_circuit() -> None:
    sheet = _plate(m.CUPRONICKEL_25, 0.002)
    for freq in (LO, HI):
        x = 2 * np.pi * freq * MU_0 * float(sheet.sigma[0]) * 2e-6 / (2 * KAPPA)
        reactive, loss = _parts([sheet], freq)
        assert abs(reactive / (x**2 / (1 + x**2)) - 1) < 0.01
        assert abs(loss / (x / (1 + x**2)) - 1) < 0.01


def test_a_thick_good_conductor_reads_kappa_delta_in_its_loss() -> None:
    kappa = 100.0
    copper = _plate(m.COPPER, 3.0)
    delta = float(skin_depth_m(copper.sigma, 1.0, HI)[0])
    reactive, loss = _parts([copper], HI, kappa)
    assert abs(loss / (kappa * delta) - 1) < 0.05
    assert abs((1 - reactive) / (kappa * delta) - 1) < 0.05


def test_loss_keeps_falling_with_frequency_while_the_reactive_part_saturates() -> None:
    plate = [_plate(m.NICKEL_BRASS_RING, 2.8)]
    parts = [_parts(plate, f) for f in (30e3, 120e3, 480e3, 1.92e6)]
    reactive = [r for r, _ in parts]
    loss = [lo for _, lo in parts]
    assert reactive == sorted(reactive) and reactive[-1] < 1.0
    assert loss == sorted(loss, reverse=True)


def test_a_magnetic_insulator_pulls_the_reactive_part_to_minus_mu_ratio() -> None:
    ferrite = LayerState(np.array([1e-6]), 120.0, np.array([1.0]))  # a metre thick
    reactive, loss = _parts([ferrite], LO)
    assert abs(reactive + 119.0 / 121.0) < 1e-3
    assert abs(loss) < 1e-6


def test_hysteresis_adds_loss() -> None:
    for freq in (LO, HI):
        _, lossy = _parts([_plate(m.LOW_CARBON_STEEL, 1.85)], freq)
        _, ideal = _parts([_plate(m.LOW_CARBON_STEEL, 1.85, tangent=False)], freq)
        assert lossy > ideal


def test_plated_steel_reads_negative_low_and_positive_high() -> None:
    nickel = _plate(m.NICKEL_PLATING, 0.022)
    two_pence = [nickel, _plate(m.LOW_CARBON_STEEL, 1.80), nickel]
    assert _parts(two_pence, LO)[0] < -0.3
    assert _parts(two_pence, HI)[0] > 0.0  # eddy currents win in the thin skin


def test_a_plating_hides_its_substrate_at_high_frequency() -> None:
    def contrast(freq: float) -> float:
        nickel = _plate(m.NICKEL_PLATING, 0.015)
        brass = _parts([nickel, _plate(m.CORE_ALLOY_2017, 2.77), nickel], freq)[0]
        cupronickel = _parts([nickel, _plate(m.CUPRONICKEL_25, 2.77), nickel], freq)[0]
        return abs(brass - cupronickel) / abs(brass)

    assert contrast(HI) < 0.5 * contrast(LO)


def test_every_metal_is_passive() -> None:
    for mat in m.MATERIALS.values():
        for t in (0.005, 0.1, 2.0, 50.0):
            for freq in (5e3, LO, HI, 2e6):
                for kappa in (200.0, 1000.0):
                    reactive, loss = _parts([_plate(mat, t)], freq, kappa)
                    assert -1.0 < reactive < 1.0 and loss >= 0.0


# --- footprint ---------------------------------------------------------------------------------


def test_the_footprint_holds_unit_weight_on_a_ring() -> None:
    rho = np.linspace(0.0, 200.0, 400_001)
    w = 12 / np.pi * rho**2 / (1 + rho**2) ** 5
    share = np.cumsum(2 * np.pi * rho * w) * (rho[1] - rho[0])
    np.testing.assert_allclose(pb.radial_share(rho**2)[::20_000], share[::20_000], atol=2e-4)
    assert w[0] == 0.0  # nothing right under the coil: an annulus


def test_disc_coupling_is_one_inside_half_on_the_edge_nothing_far_away() -> None:
    u, v, table = pb.footprint_table()
    big = np.searchsorted(u, 15.0)
    assert abs(table[big, 0] - 1.0) < 1e-3
    assert abs(table[big, np.searchsorted(v, 15.0)] - 0.5) < 0.02
    assert np.abs(table[:, -1]).max() < 1e-4
    assert (np.diff(table[big], axis=0) <= 1e-9).all()  # falls as the coil moves out


def test_disc_coupling_matches_a_brute_force_integral() -> None:
    grid = np.linspace(-12.0, 12.0, 2401)
    x, y = np.meshgrid(grid, grid)
    step = grid[1] - grid[0]
    for radius, distance in ((3.0, 2.0), (6.0, 6.5), (1.5, 0.0)):
        rho2 = (x - distance) ** 2 + y**2
        w = 12 / np.pi * rho2 / (1 + rho2) ** 5
        brute = float((w * (x**2 + y**2 <= radius**2)).sum() * step**2)
        ours = pb.disc_coupling(np.array([radius]), np.array([[distance]]), np.array([1.0]))
        assert abs(float(ours[0, 0]) - brute) < 5e-3, (radius, distance)


def test_disc_coupling_scales_with_the_height() -> None:
    one = pb.disc_coupling(np.array([5.0]), np.array([[4.0, 5.0, 7.0]]), np.array([1.0]))
    two = pb.disc_coupling(np.array([10.0]), np.array([[8.0, 10.0, 14.0]]), np.array([2.0]))
    np.testing.assert_allclose(one, two, atol=1e-12)


# --- noise -------------------------------------------------------------------------------------


def test_flicker_noise_has_unit_rms_and_falls_as_one_over_f() -> None:
    noise = pb._flicker((400, 512), np.random.default_rng(1))
    assert abs(noise.std() - 1.0) < 0.05
    power = (np.abs(np.fft.rfft(noise, axis=1)) ** 2).mean(axis=0)
    # Ten times the frequency, a tenth of the power.
    assert 5 < power[4:8].mean() / power[40:80].mean() < 20


def test_a_channel_is_quantised_to_the_adc_step() -> None:
    head = dataclasses.replace(get_head("phys2:A"), offset=(0.0, 0.0))
    batch = generate("gb-050-1997", 5, head=head, seed=1)
    for c, trace in enumerate((batch.eddy_lo, batch.eddy_hi)):
        steps = trace / (pb.LSB_SHARE * head.noise[c])
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)


def test_spikes_decay_over_a_few_samples_on_both_components() -> None:
    clean = dataclasses.replace(get_head("phys2:A"), reports_loss=True, spike_prob=0.0)
    always = dataclasses.replace(clean, spike_prob=1.0)
    i, q = pb._spike_train(300, 256, 3.0, np.random.default_rng(2))
    assert (np.abs(i) + np.abs(q) > 0).sum(axis=1).mean() > 6  # spikes with tails
    a = generate("gb-100-1983", 50, head=clean, seed=3)
    b = generate("gb-100-1983", 50, head=always, seed=3)
    assert a.eddy_lo_loss is not None and b.eddy_lo_loss is not None
    assert np.abs(b.eddy_lo - a.eddy_lo).max() > 50 * clean.noise[0]
    assert np.abs(b.eddy_lo_loss - a.eddy_lo_loss).max() > 50 * clean.noise[0]


# --- heads and signatures ----------------------------------------------------------------------


def test_phys2_heads_are_the_same_boards_under_the_other_physics() -> None:
    for base in (*HEADS, "seed:3", "seed:9"):
        plain = get_head(base)
        other = get_head(f"phys2:{base.lower()}")
        assert other.physics == "b" and plain.physics == "a"
        assert other.name == f"phys2:{plain.name}"
        assert dataclasses.replace(other, name=plain.name, physics="a") == plain


@pytest.mark.parametrize("bad", ["phys2:", "phys2:Q", "phys2:phys2:A", "phys2:seed:x", "phys3:A"])
def test_phys2_needs_a_known_head(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown sensor head"):
        get_head(bad)


@pytest.mark.parametrize("head", ["phys2:A", "phys2:B", "phys2:D", "phys2:seed:9"])
def test_every_kind_makes_valid_signatures_under_physics_b(head: str) -> None:
    sensor = get_head(head)
    for kind in kinds():
        batch = generate(kind, 4, head=head, seed=11, temperature_c=(-10, 45), wear=1, dirt=1)
        assert batch.eddy_lo.shape == (4, sensor.eddy_samples)
        assert batch.has_loss == sensor.reports_loss
        for obj in to_json_dicts(batch, sensor.name):
            sig = parse_signature(obj)
            assert sig.head == sensor.name and sig.has_loss == sensor.reports_loss
            assert sig.id is not None and sig.id.startswith(f"{kind}-{sensor.name}-b0-s11-")


def test_physics_b_is_deterministic_per_seed() -> None:
    a = generate("ring-alloy-off", 20, head="phys2:B", seed=5, wear=0.5, dirt=0.5)
    b = generate("ring-alloy-off", 20, head="phys2:B", seed=5, wear=0.5, dirt=0.5)
    c = generate("ring-alloy-off", 20, head="phys2:B", seed=6, wear=0.5, dirt=0.5)
    for name in ("eddy_lo", "eddy_hi", "rim", "thickness_mm", "speed_mm_s", "temperature_c"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.eddy_lo, c.eddy_lo)


def test_physics_b_measures_the_same_coins_differently() -> None:
    """Same pieces and insertions as head A; a different law: the new pound's nickel
    plating over its core weighs far more at the low frequency."""
    a = generate("gb-100-2017", 20, head="A", seed=1)
    b = generate("gb-100-2017", 20, head="phys2:A", seed=1)
    assert np.abs(a.thickness_mm - b.thickness_mm).max() < 0.05

    def core_over_ring(lo: np.ndarray) -> float:
        out = []
        for trace in lo:
            smooth = np.convolve(trace, np.ones(5) / 5, mode="same")
            inside = np.flatnonzero(smooth > 0.5 * smooth.max())
            out.append(smooth[(inside[0] + inside[-1]) // 2] / smooth.max())
        return float(np.median(out))

    lo_a, _ = normalised(a, get_head("A"))
    lo_b, _ = normalised(b, get_head("phys2:A"))
    assert core_over_ring(lo_b) < core_over_ring(lo_a) - 0.2


@pytest.mark.parametrize("kind", ["gb-010-2012", "gb-005-2012", "steel-washer"])
def test_steel_pulls_the_low_frequency_negative_under_physics_b(kind: str) -> None:
    sensor = get_head("phys2:C")
    lo, hi = normalised(generate(kind, 30, head="phys2:C", seed=2), sensor)
    assert np.median(peak_level(lo)) < -0.1
    assert np.median(peak_level(hi)) > 0.0
