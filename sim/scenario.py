"""What a parking machine's coin slot sees: a scripted stream of coins and fraud attempts.

:func:`street_mix` yields :class:`ScriptedCoin` records for the virtual sensor
head: genuine coins of several mint batches, worn and dirty, at outdoor
temperatures, mixed with counterfeits and look-alikes, and now and then a
fraud attempt or a mechanical mishap on the way to the credit sensor
(:class:`Behaviour`).  Everything is a deterministic function of the seed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from coinval.signature import Signature
from sim.population import EVALUATION_TEMPERATURE_C, generate, kinds

__all__ = ["Behaviour", "ScriptedCoin", "Weights", "category_of", "street_mix"]


class Behaviour(enum.Enum):
    """What a coin does after the gate opens for it."""

    #: Rolls past the credit sensor in the direction of travel.
    NORMAL = "normal"
    #: Passes the credit sensor and is pulled back up on a string (fraud).
    ON_STRING = "on string"
    #: Crosses the credit sensor the wrong way (fraud, or a bounce).
    BACKWARDS = "going backwards"
    #: Never reaches the credit sensor (stuck in the chute).
    STUCK = "stuck"


@dataclass(frozen=True, slots=True)
class ScriptedCoin:
    """One coin inserted into the virtual head.

    Attributes
    ----------
    index : int
        0, 1, 2, ... in insertion order.
    kind : str
        Simulator kind (a coin id, counterfeit family or look-alike).
    category : {"genuine", "counterfeit", "lookalike"}
    behaviour : Behaviour
    signature : Signature
    note : str
        Batch, wear and so on, for the live display.
    """

    index: int
    kind: str
    category: str
    behaviour: Behaviour
    signature: Signature
    note: str


@dataclass(frozen=True, slots=True)
class Weights:
    """Shares of the stream (normalised by :func:`street_mix`).

    Attributes
    ----------
    genuine, counterfeit, lookalike : float
        Shares of each category among inserted pieces.
    on_string, backwards, stuck : float
        Chance, per genuine coin, of each mishap after the gate.
    """

    genuine: float = 0.75
    counterfeit: float = 0.15
    lookalike: float = 0.10
    on_string: float = 0.03
    backwards: float = 0.03
    stuck: float = 0.02


def category_of(kind: str) -> str:
    """``"genuine"``, ``"counterfeit"`` or ``"lookalike"`` for a simulator kind."""
    return kinds()[kind].split(":", 1)[0]


def street_mix(
    *,
    seed: int = 0,
    head: str = "A",
    genuine: Sequence[str] | None = None,
    weights: Weights | None = None,
    wear: float = 0.8,
    dirt: float = 0.8,
    batches: int = 6,
) -> Iterator[ScriptedCoin]:
    """An endless, reproducible stream of coins for the virtual head.

    Parameters
    ----------
    seed : int
        Everything follows from it.
    head : str
        Simulated sensor head (``"A"``... or ``"seed:N"``).
    genuine : sequence of str, optional
        Genuine kinds to insert (default: every genuine coin of the simulator,
        taught or not).
    weights : Weights, optional
    wear, dirt : float
        Largest wear and dirt severities.
    batches : int
        Genuine coins come from mint batches 0 to ``batches - 1``.

    Yields
    ------
    ScriptedCoin
    """
    w = weights or Weights()
    table = {k: category_of(k) for k in kinds()}
    pools = {
        "genuine": list(genuine) if genuine else [k for k, c in table.items() if c == "genuine"],
        "counterfeit": [k for k, c in table.items() if c == "counterfeit"],
        "lookalike": [k for k, c in table.items() if c == "lookalike"],
    }
    shares = np.array([w.genuine, w.counterfeit, w.lookalike], dtype=float)
    shares /= shares.sum()
    mishaps = [
        (Behaviour.ON_STRING, w.on_string),
        (Behaviour.BACKWARDS, w.backwards),
        (Behaviour.STUCK, w.stuck),
    ]
    rng = np.random.default_rng([seed, 0x5CE7])
    index = 0
    while True:
        category = ("genuine", "counterfeit", "lookalike")[int(rng.choice(3, p=shares))]
        pool = pools[category]
        kind = pool[int(rng.integers(len(pool)))]
        batch = int(rng.integers(batches)) if category == "genuine" else 0
        behaviour = Behaviour.NORMAL
        if category == "genuine":
            roll = float(rng.random())
            for candidate, chance in mishaps:
                if roll < chance:
                    behaviour = candidate
                    break
                roll -= chance
        one = generate(
            kind,
            1,
            head=head,
            seed=seed * 1_000_003 + index,
            batch=batch,
            temperature_c=EVALUATION_TEMPERATURE_C,
            wear=wear,
            dirt=dirt,
        )
        note = f"batch {batch}" if category == "genuine" else category
        yield ScriptedCoin(index, kind, category, behaviour, one.signatures()[0], note)
        index += 1
