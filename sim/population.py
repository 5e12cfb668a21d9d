"""Coin populations: n simulated signatures of one kind on one sensor head.

This is the simulator's public face::

    from sim.population import generate, kinds, to_json_dicts

    batch = generate("gb-100-2017", 50, head="B", seed=1, batch=3, wear=0.3)

Three independent random streams keep experiments controllable:

* pieces (alloy scatter, size, wear, dirt): keyed by (seed, kind, batch);
* insertion (temperature, speed, lift-off, position, rim phase): the same key,
  drawn as unit variates and mapped onto each head's ranges;
* the head's noise and glitches: keyed by the above and the head's name
  (the loss channels' noise has a stream of its own, so a head's reactive
  traces do not depend on whether it reports loss).

So the same seed gives the same physical coins, inserted the same way, on
every head; only the head's own properties differ.  Batches of a head that
reports loss (``SensorHead.reports_loss``) carry ``eddy_lo_loss`` and
``eddy_hi_loss`` (signature contract v1.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from coinval.batch import SignatureBatch
from coinval.signature import ID_MAX_CHARS
from sim.coins import Family
from sim.conditions import TEACH_TEMPERATURE_C
from sim.heads import SensorHead, get_head
from sim.kinds import UnknownKindError, kind_table, resolve
from sim.measure import Measurement, measure
from sim.passage import draw_insertion
from sim.pieces import batch_shift, draw_pieces, stable_hash

__all__ = ["UnknownKindError", "generate", "kinds", "to_json_dicts"]


EVALUATION_TEMPERATURE_C = (-10.0, 45.0)
_CONTRACT_TEMPERATURE_C = (-40.0, 85.0)

_PIECES, _INSERTION, _NOISE, _GLITCH, _LOSS = 1, 2, 3, 4, 5


def kinds() -> dict[str, str]:
    """Every kind :func:`generate` accepts, with a one-line description.

    Returns
    -------
    dict
        Genuine coin ids first, then counterfeit families, then look-alikes;
        descriptions are prefixed with the category.
    """
    return {name: f"{cat}: {desc}" for name, (cat, desc) in kind_table().items()}


def _check_arguments(
    n: int, batch: int, seed: int, temperature_c: tuple[float, float], wear: float, dirt: float
) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if seed < 0 or batch < 0:
        raise ValueError("seed and batch must be >= 0")
    lo, hi = (float(t) for t in temperature_c)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"temperature range must be LO <= HI, got {temperature_c!r}")
    if lo < _CONTRACT_TEMPERATURE_C[0] or hi > _CONTRACT_TEMPERATURE_C[1]:
        raise ValueError("temperatures must lie within -40..85 C (the signature contract)")
    for name, value in (("wear", wear), ("dirt", dirt)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within 0..1, got {value!r}")


def _ids(kind: str, head: str, batch: int, seed: int, n: int) -> list[str | None]:
    prefix = f"{kind}-{head}-b{batch}-s{seed}"
    if len(prefix) + 6 > ID_MAX_CHARS:
        # Keep ids within the contract: shorten the prefix to a stable digest.
        prefix = f"{kind[:30]}-{stable_hash(prefix):08x}"
    return [f"{prefix}-{i:05d}" for i in range(n)]


def generate(
    kind: str | Family,
    n: int,
    *,
    head: str | SensorHead = "A",
    seed: int = 0,
    batch: int = 0,
    temperature_c: tuple[float, float] = TEACH_TEMPERATURE_C,
    wear: float = 0.0,
    dirt: float = 0.0,
) -> SignatureBatch:
    """Simulate n signatures of one kind of piece on one sensor head.

    Parameters
    ----------
    kind : str or Family
        A genuine coin id (``"gb-100-2017"``), a counterfeit family
        (``"cast-round-pound"``) or a look-alike (``"euro-1"``); see :func:`kinds`.
        Or a family of one's own (a design the simulator does not list: probes of
        the classifier with counterfeits it was never developed against), keyed
        and named by its first design's name.
    n : int
        Number of coins (> 0).
    head : str or SensorHead
        ``"A"`` to ``"D"``, ``"seed:N"``, either as ``"phys2:<head>"`` (the
        second physics, :mod:`sim.physics_b`) or a head object.
    seed : int
        Random seed (>= 0); the result is a deterministic function of all arguments.
    batch : int
        Mint batch (>= 0): pieces of one batch share a few-percent shift of
        alloy, plating and core size.
    temperature_c : (float, float)
        Board temperature range, drawn uniformly per coin (teach default 5-35 C;
        field evaluation -10..45 C).
    wear, dirt : float
        Maximum severity 0..1; each coin draws uniformly up to it.

    Returns
    -------
    SignatureBatch
        Arrays of shape (n, head.eddy_samples) and (n, head.rim_samples);
        ids like ``"gb-100-2017-A-b0-s0-00042"``; loss traces of shape
        (n, head.eddy_samples) exactly when the head reports loss.

    Raises
    ------
    UnknownKindError
        For an unknown kind.
    ValueError
        For bad counts or ranges, or an unknown head.
    """
    _check_arguments(n, batch, seed, temperature_c, wear, dirt)
    sensor = head if isinstance(head, SensorHead) else get_head(head)
    if isinstance(kind, Family):
        family, kind = kind, kind.variants[0][1].name
    else:
        _, family = resolve(kind)
    n = int(n)
    key = [seed, stable_hash(kind), batch]
    weights = np.array([w for w, _ in family.variants])
    choice = np.random.default_rng([*key, 0]).choice(
        len(weights), size=n, p=weights / weights.sum()
    )
    out = {
        "eddy_lo": np.empty((n, sensor.eddy_samples)),
        "eddy_hi": np.empty((n, sensor.eddy_samples)),
        "rim": np.empty((n, sensor.rim_samples)),
        "thickness_mm": np.empty(n),
        "speed_mm_s": np.empty(n),
        "temperature_c": np.empty(n),
    }
    if sensor.reports_loss:
        out["eddy_lo_loss"] = np.empty((n, sensor.eddy_samples))
        out["eddy_hi_loss"] = np.empty((n, sensor.eddy_samples))
    for v, (_, design) in enumerate(family.variants):
        rows = np.flatnonzero(choice == v)
        if rows.size == 0:
            continue
        shift = batch_shift(design, f"{kind}/{design.name}", batch)
        pieces = draw_pieces(
            design, rows.size, np.random.default_rng([*key, v, _PIECES]), shift, wear, dirt
        )
        insertion = draw_insertion(
            rows.size, np.random.default_rng([*key, v, _INSERTION]), temperature_c
        )
        noise_rng = np.random.default_rng([*key, v, _NOISE, stable_hash(sensor.name)])
        glitch_rng = np.random.default_rng([*key, v, _GLITCH, stable_hash(sensor.name)])
        loss_rng = np.random.default_rng([*key, v, _LOSS, stable_hash(sensor.name)])
        result: Measurement = measure(pieces, insertion, sensor, noise_rng, glitch_rng, loss_rng)
        for name, arr in out.items():
            arr[rows] = getattr(result, name)
    return SignatureBatch(
        eddy_lo=out["eddy_lo"],
        eddy_hi=out["eddy_hi"],
        eddy_rate_hz=np.full(n, sensor.eddy_rate_hz),
        rim=out["rim"],
        thickness_mm=out["thickness_mm"],
        speed_mm_s=out["speed_mm_s"],
        temperature_c=out["temperature_c"],
        ids=_ids(kind, sensor.name, batch, seed, n),
        eddy_lo_loss=out.get("eddy_lo_loss"),
        eddy_hi_loss=out.get("eddy_hi_loss"),
    )


def _decimals(values: npt.NDArray[np.float64], significant: int) -> int:
    """Decimal places that keep ``significant`` digits of the batch's largest magnitude."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak == 0.0 or not np.isfinite(peak):
        return significant
    return max(0, significant - int(np.ceil(np.log10(peak))))


def to_json_dicts(batch: SignatureBatch, head_name: str) -> list[dict[str, Any]]:
    """Spec-format signature objects (section 2 of the contract), one per coin.

    Numbers are rounded to what a sensor board would transmit (about six
    significant digits for eddy traces, 0.1 micron for the rim), which keeps
    files small; every object passes ``coinval.signature.parse_signature``.
    Loss traces, where the batch has them, are rounded like the eddy traces.

    Parameters
    ----------
    batch : SignatureBatch
        n signatures.
    head_name : str
        Written to each object's ``"head"`` field.

    Returns
    -------
    list of dict, length n
    """
    eddy_dec = _decimals(np.concatenate([batch.eddy_lo.ravel(), batch.eddy_hi.ravel()]), 6)
    lo = np.round(batch.eddy_lo, eddy_dec)
    hi = np.round(batch.eddy_hi, eddy_dec)
    losses = None
    if batch.eddy_lo_loss is not None and batch.eddy_hi_loss is not None:
        both = np.concatenate([batch.eddy_lo_loss.ravel(), batch.eddy_hi_loss.ravel()])
        loss_dec = _decimals(both, 6)
        losses = (np.round(batch.eddy_lo_loss, loss_dec), np.round(batch.eddy_hi_loss, loss_dec))
    rim = np.round(batch.rim, 4)
    ids: Sequence[str | None] = batch.ids or [None] * len(batch)
    out: list[dict[str, Any]] = []
    for i in range(len(batch)):
        obj: dict[str, Any] = {}
        if ids[i] is not None:
            obj["id"] = ids[i]
        obj["head"] = head_name
        obj["eddy_lo"] = lo[i].tolist()
        obj["eddy_hi"] = hi[i].tolist()
        obj["eddy_rate_hz"] = float(batch.eddy_rate_hz[i])
        obj["rim"] = rim[i].tolist()
        obj["thickness_mm"] = round(float(batch.thickness_mm[i]), 4)
        obj["speed_mm_s"] = round(float(batch.speed_mm_s[i]), 2)
        obj["temperature_c"] = round(float(batch.temperature_c[i]), 2)
        if losses is not None:
            obj["eddy_lo_loss"] = losses[0][i].tolist()
            obj["eddy_hi_loss"] = losses[1][i].tolist()
        out.append(obj)
    return out
