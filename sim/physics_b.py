"""The second physics: layered reflection coefficient, annular coil footprint, 1/f noise.

A sensor head named ``"phys2:<head>"`` (``SensorHead.physics == "b"``) measures
its eddy channels with this module instead of :mod:`sim.response` and
:mod:`sim.eddy`.  It is written from the physics, independently of the first
model, so that a classifier tuned on one can be checked on the other: it must
never be used to choose a constant of the engine.  The three parts differ in
structure, not only in parameters:

Response law: the reflection coefficient of a layered conductor
----------------------------------------------------------------
The coil's field is resolved into spatial wavenumbers ``kappa`` (Dodd and
Deeds); a small coil at height ``H0`` over a plane couples mostly at
``kappa = 1 / H0``, and this model keeps that one wavenumber.  In layer ``i``
(conductivity ``sigma_i``, complex permeability ``mu_i = mu_r (1 - j tan_h)``,
thickness ``t_i``) the vector potential varies as ``exp(+-alpha_i z)`` with::

    alpha_i = sqrt(kappa**2 + j omega mu_0 mu_i sigma_i)

Continuity of the potential and of ``(1 / mu) dA/dz`` at each interface gives
the input admittance looking down from the top of layer ``i``, from the air
behind the coin (``Y = kappa``) upwards::

    Y_i = alpha_i / mu_i
    Y_in,i = Y_i (Y_in,i+1 + Y_i tanh(alpha_i t_i)) / (Y_i + Y_in,i+1 tanh(alpha_i t_i))
    Gamma = (kappa - Y_in,1) / (kappa + Y_in,1)

The coil's impedance changes by ``j omega L0 Gamma`` times its coupling, so the
reactive component (inductance removed) is ``-Re Gamma`` and the loss component
(resistance added) is ``-Im Gamma >= 0``, both in units of a perfect conductor
filling the coil's field (``Gamma = -1``).  Limits:

* thin sheet (``t << delta``): ``-Gamma = j x / (1 + j x)``, ``x = omega mu_0 sigma t
  / (2 kappa)``: the transformer-coupled circuit, loss ``x / (1 + x**2)`` peaks
  where reactive ``x**2 / (1 + x**2)`` is half way;
* thick good conductor: reactive ``-> 1 - kappa delta``, loss ``-> kappa delta``:
  their ratio is ``kappa delta``, set by conductivity (and the coil's size);
* a plating is a layer of its own: at high frequency its skin hides the
  substrate, at low frequency both count, with their own phases;
* ferromagnetic, non-conducting: ``Gamma = (mu - 1) / (mu + 1)``, reactive
  below zero (the inductance grows); steel at high frequency reads positive
  again as its skin depth shrinks (the eddy currents win), and ``mu''`` adds
  hysteresis loss.

Lift-off: a power law, not an exponential
-----------------------------------------
Coupling falls with the gap ``g`` as ``(1 + g / H0) ** -p``, the head's
measured lift-off rate at contact fixing ``p = k H0`` (``k`` is
``SensorHead.liftoff_per_mm``).  Both components share it, and ``kappa`` is
the coil's own (``1 / H0``, independent of the gap to first order in ``g /
H0``), so the loss/reactive ratio is free of lift-off here too.

Footprint: an annulus, not a Gaussian
-------------------------------------
A good conductor under a coil carries the surface current that cancels the
coil's tangential field; for a dipole at height ``H`` that field is
``H_rho ~ 3 H rho / (H**2 + rho**2) ** (5/2)``, and the coupling density is its
square, normalised to 1 over the plane::

    w(rho) = 12 H**6 / pi * rho**2 / (H**2 + rho**2) ** 5

zero right under the coil, largest on a ring of radius ``0.65 H``; ``H = H0 +
g`` widens with the gap.  It is a two-dimensional kernel: the trace is the
coin's response map (ring, core, hole as concentric discs of the piece's mean
radius) integrated against it, not a convolution along one chord.  The disc
integral depends only on ``R / H`` and ``s / H`` (``s`` the distance from the
coil's axis to the coin's centre), so it is tabulated once per process (about
a second).

Noise: 1/f, white, spikes, quantisation
---------------------------------------
Per channel: a per-coin offset and 1/f (flicker) noise across the window (the
oscillator's drift; it replaces the first model's offset-and-slope wander),
white noise, occasional interference spikes with the exponential tail of the
demodulator's output filter (one spike hits the reactive and loss channel of
its frequency at a random phase), and the ADC's quantisation to a step of the
order of the noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from sim.eddy import region_stack
from sim.heads import SensorHead
from sim.passage import EddyTraces, Insertion, Scan
from sim.pieces import Pieces
from sim.response import MU_0, LayerState
from sim.shapes import mean_radius

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]

HEIGHT_PER_FOOTPRINT = 1.0 / 3.0
"""The coil's effective height ``H0`` over the coin, as a share of the head's
footprint width: ``w`` holds 95 % of its weight within ``1.75 H`` of the axis
(99.6 % within ``3 H``), so at contact the footprint is as wide as the head
says, and it widens with the gap."""
MIN_HEIGHT_MM = 1.0

# The disc-integral table: R / H up to U_MAX, s / H up to U_MAX + TAIL (beyond
# which the kernel holds under 1e-6 of its weight), steps of STEP (bilinear
# interpolation between them is good to 1e-3 of a level).
U_MAX = 16.0
TAIL = 10.0
STEP = 0.04
QUADRATURE_NODES = 96

WHITE_SHARE = 0.5
"""White noise, in units of the head's ``noise``."""
FLICKER_SHARE = 1.2
"""Root-mean-square 1/f noise across the window, in units of the head's ``noise``."""
OFFSET_SHARE = 1.5
"""Per-coin offset left by AC coupling, in units of the head's ``noise``."""
LSB_SHARE = 1.0
"""The ADC's step, in units of the head's ``noise``."""
SPIKE_TAU_SAMPLES = (0.5, 2.0)
"""Range of the decay time of a spike through the demodulator's output filter."""
SPIKE_LENGTH = 6


def coil_height_mm(head: SensorHead) -> float:
    """The coil's effective height ``H0`` over a coin in contact, mm."""
    return max(MIN_HEIGHT_MM, HEIGHT_PER_FOOTPRINT * head.footprint_mm)


def _tanh(z: ComplexArray) -> ComplexArray:
    """tanh of a complex array with ``Re z >= 0``, without overflow for thick layers."""
    e = np.exp(-2.0 * z)
    return np.asarray((1.0 - e) / (1.0 + e))


def reflection_components(
    layers: Sequence[LayerState], freq_hz: float, kappa_per_m: float
) -> tuple[FloatArray, FloatArray]:
    """Reactive and loss components ``-Gamma`` of n layered stacks at one frequency.

    Parameters
    ----------
    layers : sequence of LayerState
        From the face next to the coil to the far face, arrays of shape (n,).
    freq_hz : float
    kappa_per_m : float
        The coil's dominant spatial wavenumber, 1/m.

    Returns
    -------
    reactive : ndarray of shape (n,)
        ``-Re Gamma``, in (-1, 1): 1 for a perfect conductor, below 0 where
        magnetisation wins.
    loss : ndarray of shape (n,)
        ``-Im Gamma`` >= 0.
    """
    if not layers:
        raise ValueError("a stack needs at least one layer")
    omega = 2.0 * np.pi * freq_hz
    n = layers[0].sigma.shape[0]
    # Behind the coin: air, admittance kappa. Work up to the face next to the coil.
    y_in = np.full(n, kappa_per_m, dtype=np.complex128)
    for layer in reversed(layers):
        mu = layer.mu_r * (1.0 - 1j * layer.mu_loss_tangent)
        alpha = np.sqrt(kappa_per_m**2 + 1j * omega * MU_0 * mu * layer.sigma)
        y = alpha / mu
        th = _tanh(alpha * np.maximum(layer.thickness_m, 0.0))
        y_in = y * (y_in + y * th) / (y + y_in * th)
    gamma = (kappa_per_m - y_in) / (kappa_per_m + y_in)
    return np.asarray(-gamma.real), np.asarray(-gamma.imag)


def radial_share(rho2: FloatArray) -> FloatArray:
    """Share of the footprint's weight within ``rho`` of the coil's axis, at ``H = 1``.

    ``F(rho) = int_0^rho 2 pi r w(r) dr = 1 - 4 / (1 + rho**2)**3 + 3 / (1 + rho**2)**4``.

    Parameters
    ----------
    rho2 : ndarray
        ``rho**2``, any shape.
    """
    q = 1.0 / (1.0 + rho2)
    return np.asarray(1.0 - 4.0 * q**3 + 3.0 * q**4)


@lru_cache(maxsize=1)
def footprint_table() -> tuple[FloatArray, FloatArray, FloatArray]:
    """The coupling of a coil at ``H = 1`` with a uniform disc, tabulated once.

    By Green's theorem the integral of a radial kernel over a region is a loop
    integral of its radial share ``F`` round the boundary, seen from the coil:
    ``D = (1 / 2 pi) oint F(rho) d(beta)``.  For a disc of radius ``u`` and the
    coil at distance ``v`` from its centre, with the boundary point at angle
    ``psi``::

        D(u, v) = (1 / pi) int_0^pi F(rho) (rho**2 + u**2 - v**2) / (2 rho**2) d(psi),
        rho**2 = u**2 + v**2 - 2 u v cos(psi)

    a smooth periodic integrand, for which the midpoint rule converges fast
    (1e-4 with ``QUADRATURE_NODES``).

    Returns
    -------
    u : ndarray of shape (nu,)
        Disc radius over ``H``, 0 to ``U_MAX``.
    v : ndarray of shape (nv,)
        Distance of the coil's axis from the disc's centre over ``H``.
    table : ndarray of shape (nu, nv)
        ``D(u, v)``: 1 deep inside a large disc, 0 far outside.
    """
    u = np.arange(0.0, U_MAX + STEP / 2, STEP)
    v = np.arange(0.0, U_MAX + TAIL + STEP / 2, STEP)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    diff = uu**2 - vv**2
    total = np.zeros_like(uu)
    for k in range(QUADRATURE_NODES):
        cos_psi = np.cos((k + 0.5) * np.pi / QUADRATURE_NODES)
        rho2 = uu**2 + vv**2 - 2.0 * uu * vv * cos_psi
        with np.errstate(invalid="ignore", divide="ignore"):
            # rho = 0 only with the coil on the boundary, where F vanishes as rho**4.
            term = np.where(rho2 > 0, radial_share(rho2) * (rho2 + diff) / (2.0 * rho2), 0.0)
        total += term
    return u, v, total / QUADRATURE_NODES


def disc_coupling(
    radius_mm: FloatArray, distance_mm: FloatArray, height_mm: FloatArray
) -> FloatArray:
    """Coupling of the coil with uniform discs: the footprint integrated over each.

    Parameters
    ----------
    radius_mm : ndarray of shape (n,)
        Disc radius.
    distance_mm : ndarray of shape (n, m)
        Distance of the coil's axis from the disc's centre at every sample.
    height_mm : ndarray of shape (n,)
        Footprint height ``H``.

    Returns
    -------
    ndarray of shape (n, m)
        Between 0 and 1.
    """
    u_grid, v_grid, table = footprint_table()
    u = radius_mm / height_mm
    if np.any(u > U_MAX):
        raise ValueError("physics b: the coil's footprint is too narrow for its table")
    v = distance_mm / height_mm[:, None]
    fu = u / STEP
    iu = np.minimum(fu.astype(np.int64), u_grid.size - 2)[:, None]
    wu = fu[:, None] - iu
    fv = np.minimum(v / STEP, v_grid.size - 1.0)
    iv = np.minimum(fv.astype(np.int64), v_grid.size - 2)
    wv = fv - iv
    # Bilinear in (R / H, s / H): the table's steps are fine enough for 1e-3 of a level.
    a = table[iu, iv] * (1.0 - wv) + table[iu, iv + 1] * wv
    b = table[iu + 1, iv] * (1.0 - wv) + table[iu + 1, iv + 1] * wv
    return np.asarray(a * (1.0 - wu) + b * wu)


def _flicker(shape: tuple[int, int], rng: np.random.Generator) -> FloatArray:
    """1/f noise of unit root-mean-square along the last axis, shape (n, m)."""
    n, m = shape
    k = np.arange(1, m // 2 + 1)
    amp = 1.0 / np.sqrt(k)
    spectrum = np.zeros((n, m // 2 + 1), dtype=np.complex128)
    spectrum[:, 1:] = amp * (rng.normal(size=(n, k.size)) + 1j * rng.normal(size=(n, k.size)))
    # Variance of irfft: 4 |a_k|^2 / m^2 per bin, the Nyquist bin (real part only) 1 / m^2.
    var = 4.0 * np.sum(amp**2) / m**2
    if m % 2 == 0:
        var -= 3.0 * amp[-1] ** 2 / m**2
    return np.asarray(np.fft.irfft(spectrum, n=m, axis=1) / np.sqrt(var))


def _spike_train(
    n: int, m: int, rate: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Interference spikes of one frequency's demodulator, (n, m) each: in-phase and
    quadrature parts, in units of the channel's scale."""
    count = rng.poisson(rate, n)
    rows = np.repeat(np.arange(n), count)
    total = rows.size
    at = rng.integers(0, m, total)
    size = rng.choice([-1.0, 1.0], total) * rng.uniform(0.2, 1.0, total)
    phase = rng.uniform(0.0, 2.0 * np.pi, total)
    tau = rng.uniform(*SPIKE_TAU_SAMPLES, total)
    in_phase = np.zeros((n, m))
    quadrature = np.zeros((n, m))
    for k in range(SPIKE_LENGTH):
        on = at + k < m
        tail = size[on] * np.exp(-k / tau[on])
        np.add.at(in_phase, (rows[on], at[on] + k), tail * np.cos(phase[on]))
        np.add.at(quadrature, (rows[on], at[on] + k), tail * np.sin(phase[on]))
    return in_phase, quadrature


def _read(
    clean: FloatArray, offset: float, noise: float, spikes: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """One channel as the board reports it: offset, 1/f and white noise, spikes, ADC steps."""
    n, m = clean.shape
    value = (
        offset
        + rng.normal(0.0, OFFSET_SHARE * noise, (n, 1))
        + FLICKER_SHARE * noise * _flicker((n, m), rng)
        + clean
        + rng.normal(0.0, WHITE_SHARE * noise, (n, m))
        + spikes
    )
    lsb = LSB_SHARE * noise
    if lsb <= 0:
        return value
    return np.asarray(np.round(value / lsb) * lsb)


def eddy_traces_b(
    pieces: Pieces, ins: Insertion, scan: Scan, head: SensorHead, rng: np.random.Generator
) -> EddyTraces:
    """The eddy channels of n coins under the second physics, hardware units.

    Parameters
    ----------
    pieces : Pieces
        n pieces.
    ins : Insertion
        n insertions (the coin's temperature sets its conductivities).
    scan : Scan
        Coil positions, gap and board gain, shared with the first physics.
    head : SensorHead
        Its ``footprint_mm``, ``liftoff_per_mm``, frequencies, scales, offsets,
        noise and loss channels are used; ``physics`` is not checked.
    rng : numpy.random.Generator
        Stream for every noise draw.

    Returns
    -------
    EddyTraces
        (n, head.eddy_samples) each; loss traces exactly when the head reports them.
    """
    n, m = scan.x_mm.shape
    design = pieces.design
    h0 = coil_height_mm(head)
    kappa = 1e3 / h0  # 1/m
    temperature = ins.coin_temperature_c
    stacks = [region_stack(design.outer, pieces, temperature, core=False)]
    if design.core is not None:
        stacks.append(region_stack(design.core, pieces, temperature, core=True))
    # levels[region][channel] = (reactive, loss), arrays of shape (n,)
    levels = [[reflection_components(s, f, kappa) for f in head.freq_hz] for s in stacks]

    height = h0 + scan.gap_mm
    distance = np.hypot(scan.x_mm, scan.chord_mm[:, None])
    r_outer = mean_radius(design.shape, design.sides, pieces.diameter_mm, pieces.corner_radius_mm)
    discs = [disc_coupling(r_outer, distance, height)]
    if design.core is not None:
        discs.append(disc_coupling(pieces.core_diameter_mm / 2.0, distance, height))
    hole = (
        disc_coupling(pieces.hole_diameter_mm / 2.0, distance, height)
        if (design.hole_diameter_mm > 0)
        else None
    )

    cos_phi, sin_phi = np.cos(head.demod_phase_rad), np.sin(head.demod_phase_rad)
    out: list[FloatArray] = []
    loss_out: list[FloatArray] = []
    for c in range(2):
        coupling = scan.gain[:, c] * (1.0 + scan.gap_mm / h0) ** (-head.liftoff_per_mm[c] * h0)
        maps = []
        for part in (0, 1):  # reactive, loss
            # Nested discs: ring over the whole coin, the core's difference over the core.
            trace = levels[0][c][part][:, None] * discs[0]
            inner = levels[0][c][part]
            if len(discs) > 1:
                trace = trace + (levels[1][c][part] - levels[0][c][part])[:, None] * discs[1]
                inner = levels[1][c][part]
            if hole is not None:
                trace = trace - inner[:, None] * hole
            maps.append(coupling[:, None] * trace)
        reactive, loss = maps
        spike_i, spike_q = _spike_train(n, m, head.spike_prob, rng)
        scale = head.scale[c]
        out.append(_read(reactive, head.offset[c], head.noise[c], scale * spike_i, rng))
        if head.reports_loss:
            g = head.loss_gain[c]
            read = g * (loss * cos_phi + reactive * sin_phi)
            loss_out.append(
                _read(read, head.loss_offset[c], g * head.noise[c], g * scale * spike_q, rng)
            )
    if head.reports_loss:
        return EddyTraces(out[0], out[1], loss_out[0], loss_out[1])
    return EddyTraces(out[0], out[1])
