"""Virtual sensor heads: everything that differs between one sensor board and the next.

A :class:`SensorHead` turns a coin's physical response into hardware units and
samples: inductive scale, offset, gain drift and noise per channel (low and
high frequency), excitation frequencies, the coil's footprint and lift-off
sensitivity, sample counts and rates, rim and thickness gauge noise, the speed
range of its rail and how often it glitches.

Four named heads (``"A"`` to ``"D"``) differ markedly; :func:`head_from_seed`
draws further plausible heads for held-out evaluation.  All heads share one
sign convention (a conductive coin raises both channels) but not their offsets.

Loss traces (signature contract v1.1): a head whose board has a demodulator
(``reports_loss``) also reports the loss component of each channel.  Head
``"D"`` does, and about half of the ``"seed:N"`` heads (drawn from a stream of
their own, so the rest of a seed's head is what it was before); ``"A"`` to
``"C"`` are v1 boards.  The loss channel shares the reactive channel's coil,
gain, drift and lift-off; it has a gain and offset of its own (the
demodulator's quadrature path) and a small phase error of its reference.

Physics: every head measures with the layered model of :mod:`sim.response`
and :mod:`sim.eddy` (``physics="a"``) unless it is named ``"phys2:<head>"``:
the same board with the structurally different model of :mod:`sim.physics_b`
(``physics="b"``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from coinval.signature import EDDY_MAX_SAMPLES, EDDY_MIN_SAMPLES, RIM_MAX_SAMPLES, RIM_MIN_SAMPLES

Pair = tuple[float, float]
Physics = Literal["a", "b"]
PHYS2_PREFIX = "phys2:"
#: The head the demo, ``coinval run`` and the benches use unless told otherwise.
DEFAULT_HEAD = "A"

# The largest piece any head must fit in its eddy window (the two-pound coin).
LARGEST_COIN_MM = 28.4
EDDY_SAMPLES_RANGE = (max(64, EDDY_MIN_SAMPLES), min(1024, EDDY_MAX_SAMPLES))
RIM_SAMPLES_RANGE = (max(128, RIM_MIN_SAMPLES), min(4096, RIM_MAX_SAMPLES))


@dataclass(frozen=True, slots=True)
class SensorHead:
    """A virtual sensor head. Pairs are (low-frequency, high-frequency) channel.

    Attributes
    ----------
    name : str
        Serial written into signatures' ``head`` field.
    freq_hz : (float, float)
        Excitation frequencies, 5-100 kHz and 100 kHz-2 MHz.
    scale : (float, float)
        Hardware units per unit of normalised response (> 0).
    offset : (float, float)
        Hardware units with no coin in front of the coil.
    gain_drift_per_k : (float, float)
        Fractional gain change per kelvin away from 20 C.
    noise : (float, float)
        White noise standard deviation, hardware units.
    footprint_mm : float
        Width of the coil's sensitivity window (about four standard deviations
        of its Gaussian profile): the eddy trace is the coin's response map
        convolved with it.
    liftoff_per_mm : (float, float)
        Coupling loss rate: the response is scaled by ``exp(-k * gap_mm)``.
    gap_mm : (float, float)
        Range of the coin-to-coil gap drawn per coin.
    coil_height_mm : float
        Height of the coil's centre above the rail; the coil scans the chord of
        the coin at that height.
    eddy_samples : int
        Samples per eddy trace (64-1024).
    eddy_rate_hz : float
    rim_samples : int
        Samples per revolution of the rim gauge (128-4096).
    rim_noise_mm, thickness_noise_mm : float
        Gauge noise standard deviations.
    rim_offcentre_mm : float
        Largest off-centre mounting of a coin in the rim gauge.
    speed_mm_s : (float, float)
        Range of rolling speeds on this head's rail.
    spike_prob : float
        Probability that a coin's signature carries a glitch (physics b: the
        mean number of interference spikes per coin and frequency).
    rim_warp_rad : float
        Once-a-turn angular non-uniformity of the rim gauge: its samples lead and
        lag even angles by up to this much (phase random per coin), which
        phase-modulates every edge feature.  The foreign head of
        ``../shared/samples`` shows 0.03 rad on every coin.
    reports_loss : bool
        The board has a demodulator and reports ``eddy_lo_loss`` and
        ``eddy_hi_loss`` (contract v1.1).
    loss_gain : (float, float)
        Gain of each loss channel relative to its reactive channel (> 0): the
        loss trace is ``loss_gain * scale`` hardware units per unit of
        normalised loss, and its white noise ``loss_gain * noise``.
    loss_offset : (float, float)
        Loss channels' hardware units with no coin.
    demod_phase_rad : float
        Phase error of the loss channels' reference: they read
        ``loss cos(phi) + reactive sin(phi)``.  Both components still scale
        together, so gain and lift-off cancel in their ratio; the error only
        shifts it by a constant of the head.
    physics : {"a", "b"}
        Which response law, footprint and noise model measures the eddy
        channels: ``"a"`` is :mod:`sim.eddy`, ``"b"`` :mod:`sim.physics_b`.
    """

    name: str
    freq_hz: Pair
    scale: Pair
    offset: Pair
    gain_drift_per_k: Pair
    noise: Pair
    footprint_mm: float
    liftoff_per_mm: Pair
    gap_mm: Pair
    coil_height_mm: float
    eddy_samples: int
    eddy_rate_hz: float
    rim_samples: int
    rim_noise_mm: float
    thickness_noise_mm: float
    rim_offcentre_mm: float
    speed_mm_s: Pair
    spike_prob: float
    rim_warp_rad: float = 0.0
    reports_loss: bool = False
    loss_gain: Pair = (1.0, 1.0)
    loss_offset: Pair = (0.0, 0.0)
    demod_phase_rad: float = 0.0
    physics: Physics = "a"

    def __post_init__(self) -> None:
        checks = [
            (5e3 <= self.freq_hz[0] <= 1e5, "low frequency must be 5-100 kHz"),
            (1e5 <= self.freq_hz[1] <= 2e6, "high frequency must be 100 kHz-2 MHz"),
            (min(self.scale) > 0, "scales must be > 0 (one sign convention for all heads)"),
            (min(self.noise) >= 0, "noise must be >= 0"),
            (self.footprint_mm > 0, "footprint must be > 0"),
            (0 <= self.gap_mm[0] <= self.gap_mm[1], "gap range must be ordered and >= 0"),
            (min(self.liftoff_per_mm) >= 0, "lift-off sensitivity must be >= 0"),
            (
                EDDY_SAMPLES_RANGE[0] <= self.eddy_samples <= EDDY_SAMPLES_RANGE[1],
                f"eddy samples must be {EDDY_SAMPLES_RANGE[0]}-{EDDY_SAMPLES_RANGE[1]}",
            ),
            (self.eddy_rate_hz > 0, "eddy rate must be > 0"),
            (
                RIM_SAMPLES_RANGE[0] <= self.rim_samples <= RIM_SAMPLES_RANGE[1],
                f"rim samples must be {RIM_SAMPLES_RANGE[0]}-{RIM_SAMPLES_RANGE[1]}",
            ),
            (min(self.rim_noise_mm, self.thickness_noise_mm) >= 0, "gauge noise must be >= 0"),
            (self.rim_offcentre_mm >= 0, "off-centre must be >= 0"),
            (
                0 < self.speed_mm_s[0] <= self.speed_mm_s[1] < 5000,
                "speed range must be in (0, 5000)",
            ),
            (0 <= self.spike_prob <= 1, "spike probability must be in [0, 1]"),
            (0 <= self.rim_warp_rad <= 0.2, "rim warp must be in [0, 0.2] rad"),
            (min(self.loss_gain) > 0, "loss gains must be > 0"),
            (abs(self.demod_phase_rad) <= 0.1, "demodulator phase error must be within 0.1 rad"),
            (self.physics in ("a", "b"), "physics must be 'a' or 'b'"),
        ]
        for ok, rule in checks:
            if not ok:
                raise ValueError(f"sensor head {self.name!r}: {rule}")

    @property
    def window_s(self) -> float:
        """Duration of the eddy window, seconds."""
        return self.eddy_samples / self.eddy_rate_hz

    def passage_samples(self, diameter_mm: float, speed_mm_s: float) -> float:
        """Samples a coin's passage takes: ``(diameter + footprint) / speed * rate``."""
        return (diameter_mm + self.footprint_mm) / speed_mm_s * self.eddy_rate_hz


def _rate_for(eddy_samples: int, footprint_mm: float, slowest_mm_s: float, room: float) -> float:
    """An eddy rate whose window holds the largest coin at the slowest speed ``room`` times over."""
    passage_s = (LARGEST_COIN_MM + footprint_mm) / slowest_mm_s
    return float(eddy_samples / (room * passage_s))


HEADS: dict[str, SensorHead] = {
    # Our bench reference: mid-range everything.
    "A": SensorHead(
        name="A",
        freq_hz=(15e3, 400e3),
        scale=(1000.0, 1000.0),
        offset=(0.0, 0.0),
        gain_drift_per_k=(0.0008, -0.0005),
        noise=(4.0, 5.0),
        footprint_mm=6.0,
        liftoff_per_mm=(0.18, 0.20),
        gap_mm=(0.3, 0.8),
        coil_height_mm=10.0,
        eddy_samples=256,
        eddy_rate_hz=1950.0,
        rim_samples=1024,
        rim_noise_mm=0.008,
        thickness_noise_mm=0.008,
        rim_offcentre_mm=0.05,
        speed_mm_s=(350.0, 650.0),
        spike_prob=0.005,
    ),
    # A 12-bit ADC board: raw codes around mid-scale, few samples, wide coil, slow rail.
    "B": SensorHead(
        name="B",
        freq_hz=(25e3, 250e3),
        scale=(120.0, 90.0),
        offset=(2048.0, 2048.0),
        gain_drift_per_k=(-0.0015, 0.0010),
        noise=(0.6, 0.5),
        footprint_mm=8.0,
        liftoff_per_mm=(0.25, 0.27),
        gap_mm=(0.2, 0.9),
        coil_height_mm=9.0,
        eddy_samples=128,
        eddy_rate_hz=650.0,
        rim_samples=512,
        rim_noise_mm=0.015,
        thickness_noise_mm=0.015,
        rim_offcentre_mm=0.10,
        speed_mm_s=(250.0, 500.0),
        spike_prob=0.01,
    ),
    # A fast, fine head: small coil, high rates, big numbers with a negative offset.
    "C": SensorHead(
        name="C",
        freq_hz=(12e3, 800e3),
        scale=(4000.0, 2500.0),
        offset=(-500.0, 300.0),
        gain_drift_per_k=(0.0004, 0.0012),
        noise=(10.0, 9.0),
        footprint_mm=4.5,
        liftoff_per_mm=(0.12, 0.13),
        gap_mm=(0.25, 0.6),
        coil_height_mm=11.0,
        eddy_samples=512,
        eddy_rate_hz=4800.0,
        rim_samples=2048,
        rim_noise_mm=0.005,
        thickness_noise_mm=0.005,
        rim_offcentre_mm=0.03,
        speed_mm_s=(400.0, 800.0),
        spike_prob=0.002,
    ),
    # A high-frequency low-level board in volts: strong drift, strong lift-off, noisy;
    # its demodulator also gives the loss component (contract v1.1).
    "D": SensorHead(
        name="D",
        freq_hz=(40e3, 600e3),
        scale=(12.0, 9.0),
        offset=(1.5, -0.8),
        gain_drift_per_k=(0.0020, -0.0010),
        noise=(0.09, 0.08),
        footprint_mm=7.0,
        liftoff_per_mm=(0.30, 0.33),
        gap_mm=(0.3, 1.0),
        coil_height_mm=10.5,
        eddy_samples=1000,
        eddy_rate_hz=6500.0,
        rim_samples=768,
        rim_noise_mm=0.012,
        thickness_noise_mm=0.012,
        rim_offcentre_mm=0.08,
        speed_mm_s=(300.0, 700.0),
        spike_prob=0.015,
        reports_loss=True,
        loss_gain=(0.85, 1.2),
        loss_offset=(0.4, -0.25),
        demod_phase_rad=0.012,
    ),
}


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def head_from_seed(seed: int) -> SensorHead:
    """A random plausible sensor head, the same for the same seed.

    Parameters
    ----------
    seed : int
        Any non-negative integer; the head is named ``"seed:<seed>"``.

    Returns
    -------
    SensorHead
    """
    if seed < 0:
        raise ValueError("head seed must be >= 0")
    rng = np.random.default_rng([seed, 0x4EAD])
    scale_lo = _log_uniform(rng, 1.0, 10_000.0)
    scale = (scale_lo, scale_lo * _log_uniform(rng, 0.5, 2.0))
    noise_frac = (_log_uniform(rng, 0.002, 0.008), _log_uniform(rng, 0.002, 0.008))
    footprint = float(rng.uniform(4.0, 9.0))
    speed_lo = float(rng.uniform(250.0, 450.0))
    eddy_samples = round(_log_uniform(rng, 64, 1024))
    rim_samples = round(_log_uniform(rng, 480, 3072))
    liftoff = float(rng.uniform(0.1, 0.35))
    gap_lo = float(rng.uniform(0.15, 0.45))
    head = SensorHead(
        name=f"seed:{seed}",
        freq_hz=(_log_uniform(rng, 10e3, 60e3), _log_uniform(rng, 200e3, 1e6)),
        scale=scale,
        # Offsets anywhere from none to a few full scales (ADC mid-codes, bias).
        offset=(float(rng.uniform(-2, 2) * scale[0]), float(rng.uniform(-2, 2) * scale[1])),
        gain_drift_per_k=(float(rng.uniform(-0.002, 0.002)), float(rng.uniform(-0.002, 0.002))),
        noise=(noise_frac[0] * scale[0], noise_frac[1] * scale[1]),
        footprint_mm=footprint,
        liftoff_per_mm=(liftoff, liftoff * float(rng.uniform(1.0, 1.15))),
        gap_mm=(gap_lo, gap_lo + float(rng.uniform(0.3, 0.7))),
        coil_height_mm=float(rng.uniform(8.5, 11.5)),
        eddy_samples=eddy_samples,
        eddy_rate_hz=_rate_for(eddy_samples, footprint, speed_lo, float(rng.uniform(1.25, 1.6))),
        rim_samples=rim_samples,
        rim_noise_mm=float(rng.uniform(0.003, 0.02)),
        thickness_noise_mm=float(rng.uniform(0.004, 0.02)),
        rim_offcentre_mm=float(rng.uniform(0.0, 0.12)),
        speed_mm_s=(speed_lo, speed_lo * float(rng.uniform(1.5, 2.2))),
        spike_prob=float(rng.uniform(0.0, 0.02)),
        # Its own stream, so that adding it left every other draw of a seed as it was.
        rim_warp_rad=float(np.random.default_rng([seed, 0x3A4F]).uniform(0.0, 0.04)),
    )
    return _with_demodulator(head, seed)


LOSS_SHARE = 0.5
"""Share of random heads whose board has a demodulator: both kinds stay in the field."""


def _with_demodulator(head: SensorHead, seed: int) -> SensorHead:
    """Head ``seed:N`` with the loss channels its board may have, from a stream of its own.

    A head without a demodulator is returned as it is: it equals the head the
    seed gave before loss traces existed.
    """
    rng = np.random.default_rng([seed, 0x1055])
    if rng.uniform() >= LOSS_SHARE:
        return head
    gain = (_log_uniform(rng, 0.5, 2.0), _log_uniform(rng, 0.5, 2.0))
    return dataclasses.replace(
        head,
        reports_loss=True,
        loss_gain=gain,
        loss_offset=(
            float(rng.uniform(-1, 1) * head.scale[0] * gain[0]),
            float(rng.uniform(-1, 1) * head.scale[1] * gain[1]),
        ),
        demod_phase_rad=float(rng.uniform(-0.03, 0.03)),
    )


def get_head(name_or_seed: str) -> SensorHead:
    """A named head (``"A"`` to ``"D"``), a random one (``"seed:N"``), or either
    measured with the second physics (``"phys2:A"``, ``"phys2:seed:N"``).

    Raises
    ------
    ValueError
        With the accepted forms, for anything else.
    """
    key = name_or_seed.strip()
    if key.lower().startswith(PHYS2_PREFIX):
        base = _plain_head(key[len(PHYS2_PREFIX) :], name_or_seed)
        return dataclasses.replace(base, name=PHYS2_PREFIX + base.name, physics="b")
    return _plain_head(key, name_or_seed)


def _plain_head(key: str, asked: str) -> SensorHead:
    if key.upper() in HEADS:
        return HEADS[key.upper()]
    if key.lower().startswith("seed:"):
        digits = key[5:]
        if digits.isdigit():
            return head_from_seed(int(digits))
    raise ValueError(
        f"unknown sensor head {asked!r}: use one of {', '.join(HEADS)} or seed:N (N >= 0), "
        f"or {PHYS2_PREFIX}<head> for the second physics"
    )
