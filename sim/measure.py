"""A sensor head measuring physical pieces: insertion conditions, scaling, noise, glitches.

Insertion conditions (temperature, speed, lift-off, position in the window,
rim start angle and direction, off-centre mounting) are drawn as unit
variates independent of the head, then mapped onto the head's ranges: the same
seed inserts the same coins "the same way" on any head.

Per channel ``c`` the eddy trace in hardware units is::

    offset_c + baseline wander
      + scale_c * (1 + drift_c (T_board - 20)) * exp(-k_c gap) * profile_c(x)
      + white noise (+ a rare glitch of 1-3 samples)

where ``x = speed * (t - t_centre)`` and ``profile`` is the coin's response
map seen through the coil (:mod:`sim.eddy`), with conductivities at the
*coin's* temperature (a degree or so off the board thermistor's).  The
baseline wander (a per-coin offset of about twice the noise and a slope of
about the noise across the window, as an AC-coupled oscillator drifts) is why
a feature extractor should take the baseline from the coin-free samples at
both ends of the window: the passage always leaves ``WINDOW_MARGIN`` of the
window free on each side when it fits.

A head that reports loss (``head.reports_loss``) measures the loss component
of the same response map through the same window, gain, drift and lift-off::

    loss_offset_c + baseline wander
      + loss_gain_c * scale_c * (1 + drift_c (T_board - 20)) * exp(-k_c gap)
          * (loss_c(x) cos(phi) + profile_c(x) sin(phi))
      + white noise of loss_gain_c * noise_c (+ the same glitches, own sizes)

Its noise comes from a stream of its own (``loss_rng``), so the reactive
traces of a head are the same whether or not it reports loss.

A head with ``physics="b"`` measures the eddy channels with
:mod:`sim.physics_b` instead (its own response law, footprint and noise);
insertion, placement in the window, rim and gauges are shared.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from sim.eddy import eddy_profiles, region_components
from sim.heads import SensorHead
from sim.passage import EddyTraces, Insertion, Scan
from sim.pieces import Pieces
from sim.rim import rim_profiles
from sim.shapes import mean_radius

FloatArray = npt.NDArray[np.float64]

CHUNK = 2048  # rows synthesised at once: bounds memory on heads with long traces
WINDOW_MARGIN = 0.05  # fraction of the window kept free before and after a passage
THERMISTOR_SD_K = 0.3
SPEED_GATE_SD = 0.005
COIL_HEIGHT_JITTER_MM = 0.25


@dataclass(frozen=True, slots=True)
class Measurement:
    """What the head reports for n coins (the arrays of a SignatureBatch).

    Attributes
    ----------
    eddy_lo, eddy_hi : ndarray of shape (n, head.eddy_samples)
    rim : ndarray of shape (n, head.rim_samples)
    thickness_mm, speed_mm_s, temperature_c : ndarray of shape (n,)
    eddy_lo_loss, eddy_hi_loss : ndarray of shape (n, head.eddy_samples) or None
        Loss traces, for a head that reports them.
    """

    eddy_lo: FloatArray
    eddy_hi: FloatArray
    rim: FloatArray
    thickness_mm: FloatArray
    speed_mm_s: FloatArray
    temperature_c: FloatArray
    eddy_lo_loss: FloatArray | None = None
    eddy_hi_loss: FloatArray | None = None


def _between(u: FloatArray, lo_hi: tuple[float, float]) -> FloatArray:
    return np.asarray(lo_hi[0] + u * (lo_hi[1] - lo_hi[0]))


def scan_geometry(pieces: Pieces, ins: Insertion, speed: FloatArray, head: SensorHead) -> Scan:
    """Where the coil is over each coin, and the board's gain, for n coins.

    Parameters
    ----------
    pieces : Pieces
        n pieces.
    ins : Insertion
        n insertions.
    speed : ndarray of shape (n,)
        Rolling speed, mm/s.
    head : SensorHead

    Returns
    -------
    Scan
    """
    m = head.eddy_samples
    design = pieces.design
    gap = _between(ins.gap_u, head.gap_mm) + pieces.extra_gap_mm
    drift = [1.0 + head.gain_drift_per_k[c] * (ins.temperature_c - 20.0) for c in (0, 1)]
    gain = np.stack([head.scale[c] * drift[c] for c in (0, 1)], axis=1)
    # Place the passage at a random time, inside the window with a margin when it fits.
    window = head.window_s
    passage = (pieces.diameter_mm + head.footprint_mm) / speed
    margin = WINDOW_MARGIN * window
    free = window - passage - 2.0 * margin
    centre = np.where(
        free > 0, margin + passage / 2.0 + ins.position_u * np.maximum(free, 0.0), window / 2.0
    )
    t = np.arange(m) / head.eddy_rate_hz
    x = speed[:, None] * (t[None, :] - centre[:, None])
    radius = mean_radius(design.shape, design.sides, pieces.diameter_mm, pieces.corner_radius_mm)
    chord = np.abs(radius - (head.coil_height_mm + COIL_HEIGHT_JITTER_MM * ins.height_z))
    return Scan(x_mm=x, chord_mm=chord, gap_mm=gap, gain=gain)


def _eddy(
    pieces: Pieces,
    ins: Insertion,
    speed: FloatArray,
    head: SensorHead,
    rng: np.random.Generator,
    loss_rng: np.random.Generator | None,
) -> EddyTraces:
    n = len(pieces)
    m = head.eddy_samples
    levels = region_components(pieces, ins.coin_temperature_c, head.freq_hz)
    scan = scan_geometry(pieces, ins, speed, head)
    # Coupling and board gain per channel: lift-off scales the whole response map down.
    factor = np.stack(
        [scan.gain[:, c] * np.exp(-head.liftoff_per_mm[c] * scan.gap_mm) for c in (0, 1)],
        axis=1,
    )
    outer = levels.outer * factor
    core = None if levels.core is None else levels.core * factor
    lo, hi = eddy_profiles(pieces, outer, core, scan.x_mm, scan.chord_mm, head.footprint_mm)

    ramp = np.linspace(-0.5, 0.5, m)[None, :]
    traces = []
    for c, trace in enumerate((lo, hi)):
        noise = head.noise[c]
        # Baseline wander: a per-coin offset and slope of the order of the noise (AC coupling).
        wander = rng.normal(0.0, 2.0 * noise, (n, 1)) + rng.normal(0.0, noise, (n, 1)) * ramp
        traces.append(head.offset[c] + wander + trace + rng.normal(0.0, noise, (n, m)))
    if not head.reports_loss:
        return EddyTraces(traces[0], traces[1])
    if loss_rng is None:
        raise ValueError(f"sensor head {head.name!r} reports loss: it needs a loss noise stream")

    # The same window, gain and lift-off: only the levels differ.
    outer_loss = levels.outer_loss * factor
    core_loss = None if levels.core_loss is None else levels.core_loss * factor
    lo_loss, hi_loss = eddy_profiles(
        pieces, outer_loss, core_loss, scan.x_mm, scan.chord_mm, head.footprint_mm
    )
    cos_phi, sin_phi = np.cos(head.demod_phase_rad), np.sin(head.demod_phase_rad)
    losses = []
    for c, (loss, reactive) in enumerate(((lo_loss, lo), (hi_loss, hi))):
        g = head.loss_gain[c]
        noise = head.noise[c] * g
        wander = (
            loss_rng.normal(0.0, 2.0 * noise, (n, 1)) + loss_rng.normal(0.0, noise, (n, 1)) * ramp
        )
        read = g * (loss * cos_phi + reactive * sin_phi)
        losses.append(head.loss_offset[c] + wander + read + loss_rng.normal(0.0, noise, (n, m)))
    return EddyTraces(traces[0], traces[1], losses[0], losses[1])


GLITCH_RUNS = (1, 2, 3)
"""How many consecutive eddy samples one glitch hits ..."""
GLITCH_RUN_SHARES = (0.6, 0.25, 0.15)
"""... and how often each: a burst of interference on the eddy traces lasts a
sample or a few."""


def _spikes(
    eddy: EddyTraces,
    head: SensorHead,
    rng: np.random.Generator,
    run_rng: np.random.Generator,
    loss_rng: np.random.Generator | None,
) -> None:
    """Add rare glitches to the eddy traces in place: one to three samples hit by
    interference.  A loss channel is hit where its reactive channel is (one ADC
    sample feeds both), by a size of its own."""
    eddy_lo, eddy_hi = eddy.lo, eddy.hi
    n, n_eddy = eddy_lo.shape
    hit = np.flatnonzero(rng.uniform(size=n) < head.spike_prob)
    which = rng.integers(0, 3, hit.shape[0])  # lo, hi or both
    at = rng.integers(0, n_eddy, hit.shape[0])
    size = rng.choice([-1.0, 1.0], hit.shape[0]) * rng.uniform(0.2, 1.0, hit.shape[0])
    # From a stream of its own: every other draw is as it was when glitches were
    # one sample long, so a seed still makes the same coins (thickness, speed...).
    run = run_rng.choice(GLITCH_RUNS, hit.shape[0], p=GLITCH_RUN_SHARES)
    loss_size = None
    if eddy.lo_loss is not None and loss_rng is not None:
        loss_size = loss_rng.choice([-1.0, 1.0], hit.shape[0]) * loss_rng.uniform(
            0.2, 1.0, hit.shape[0]
        )
    for channel, trace in enumerate((eddy_lo, eddy_hi)):
        loss_trace = (eddy.lo_loss, eddy.hi_loss)[channel]
        sel = (which == channel) | (which == 2)
        for k in range(max(GLITCH_RUNS)):
            on = sel & (run > k) & (at + k < n_eddy)
            trace[hit[on], at[on] + k] += size[on] * head.scale[channel]
            if loss_trace is not None and loss_size is not None:
                g = head.loss_gain[channel] * head.scale[channel]
                loss_trace[hit[on], at[on] + k] += loss_size[on] * g


def rim_glitches(rim: FloatArray, head: SensorHead, rng: np.random.Generator) -> None:
    """Add the rim gauge's rare glitch in place: one sample, a speck passing its tip."""
    n = rim.shape[0]
    rim_hit = np.flatnonzero(rng.uniform(size=n) < head.spike_prob / 2.0)
    rim_at = rng.integers(0, rim.shape[1], rim_hit.shape[0])
    rim[rim_hit, rim_at] += rng.uniform(0.2, 1.0, rim_hit.shape[0])


def _measure_chunk(
    pieces: Pieces,
    ins: Insertion,
    head: SensorHead,
    rng: np.random.Generator,
    run_rng: np.random.Generator,
    loss_rng: np.random.Generator | None,
) -> Measurement:
    n = len(pieces)
    speed = _between(ins.speed_u, head.speed_mm_s)
    if head.physics == "b":
        from sim.physics_b import eddy_traces_b  # the second physics, only where asked for

        eddy = eddy_traces_b(pieces, ins, scan_geometry(pieces, ins, speed, head), head, rng)
    else:
        eddy = _eddy(pieces, ins, speed, head, rng, loss_rng)
    rim = rim_profiles(
        pieces,
        head.rim_samples,
        ins.rim_start,
        ins.rim_direction,
        ins.offcentre_u * head.rim_offcentre_mm,
        ins.offcentre_phase,
        warp_rad=head.rim_warp_rad,
        warp_phase=ins.warp_phase,
    )
    rim += rng.normal(0.0, head.rim_noise_mm, rim.shape)
    if head.physics != "b":
        # Physics b's noise model has spikes of its own.
        _spikes(eddy, head, rng, run_rng, loss_rng)
    rim_glitches(rim, head, rng)
    thickness = pieces.thickness_mm + rng.normal(0.0, head.thickness_noise_mm, n)
    return Measurement(
        eddy_lo=eddy.lo,
        eddy_hi=eddy.hi,
        rim=rim,
        # Keep every reported number inside the ranges of the signature contract.
        thickness_mm=np.clip(thickness, 0.05, 9.95),
        speed_mm_s=np.clip(speed * (1.0 + rng.normal(0.0, SPEED_GATE_SD, n)), 1.0, 4999.0),
        temperature_c=np.clip(ins.temperature_c + rng.normal(0.0, THERMISTOR_SD_K, n), -40, 85),
        eddy_lo_loss=eddy.lo_loss,
        eddy_hi_loss=eddy.hi_loss,
    )


_Rows = TypeVar("_Rows", Pieces, Insertion)


def _rows(obj: _Rows, sel: slice) -> _Rows:
    """The same per-coin record restricted to rows ``sel`` (non-array fields kept)."""
    changes = {
        f.name: getattr(obj, f.name)[sel]
        for f in dataclasses.fields(obj)
        if isinstance(getattr(obj, f.name), np.ndarray)
    }
    return dataclasses.replace(obj, **changes)


def measure(
    pieces: Pieces,
    ins: Insertion,
    head: SensorHead,
    rng: np.random.Generator,
    glitch_rng: np.random.Generator,
    loss_rng: np.random.Generator | None = None,
) -> Measurement:
    """Measure n pieces inserted into a head.

    Parameters
    ----------
    pieces : Pieces
        n pieces.
    ins : Insertion
        n insertions.
    head : SensorHead
    rng : numpy.random.Generator
        Stream for the head's noise and glitches.
    glitch_rng : numpy.random.Generator
        Stream for how many samples each eddy glitch hits: its own, so that
        ``rng`` draws what it drew when glitches were one sample long.
    loss_rng : numpy.random.Generator, optional
        Stream for the loss channels' noise and glitch sizes; needed when the
        head reports loss (physics a).  Its own, so that ``rng`` draws what it
        drew before loss traces existed.

    Returns
    -------
    Measurement
        With loss traces exactly when ``head.reports_loss``.
    """
    n = len(pieces)
    parts = []
    for start in range(0, n, CHUNK):
        sel = slice(start, min(n, start + CHUNK))
        parts.append(
            _measure_chunk(_rows(pieces, sel), _rows(ins, sel), head, rng, glitch_rng, loss_rng)
        )
    if len(parts) == 1:
        return parts[0]

    def joined(name: str) -> FloatArray:
        return np.concatenate([getattr(p, name) for p in parts])

    with_loss = parts[0].eddy_lo_loss is not None
    return Measurement(
        eddy_lo=joined("eddy_lo"),
        eddy_hi=joined("eddy_hi"),
        rim=joined("rim"),
        thickness_mm=joined("thickness_mm"),
        speed_mm_s=joined("speed_mm_s"),
        temperature_c=joined("temperature_c"),
        eddy_lo_loss=joined("eddy_lo_loss") if with_loss else None,
        eddy_hi_loss=joined("eddy_hi_loss") if with_loss else None,
    )
