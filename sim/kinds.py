"""Every kind of piece the simulator makes: genuine coins, counterfeit families, look-alikes."""

from __future__ import annotations

from typing import Literal

from coinval import catalogue
from sim.coins import Family, genuine_design, genuine_ids
from sim.counterfeits import FAMILIES
from sim.lookalikes import LOOKALIKES

Category = Literal["genuine", "counterfeit", "lookalike"]


class UnknownKindError(ValueError):
    """A kind that is neither a coin id, a counterfeit family nor a look-alike."""


def kind_table() -> dict[str, tuple[Category, str]]:
    """Every kind with its category and one-line description, genuine coins first."""
    table: dict[str, tuple[Category, str]] = {}
    for cid in genuine_ids():
        table[cid] = ("genuine", catalogue.coin(cid).name)
    for name, fam in FAMILIES.items():
        table[name] = ("counterfeit", fam.description)
    for name, fam in LOOKALIKES.items():
        table[name] = ("lookalike", fam.description)
    return table


def resolve(kind: str) -> tuple[Category, Family]:
    """The category and designs of a kind.

    Raises
    ------
    UnknownKindError
        Naming the known kinds.
    """
    if kind in FAMILIES:
        return "counterfeit", FAMILIES[kind]
    if kind in LOOKALIKES:
        return "lookalike", LOOKALIKES[kind]
    if kind in genuine_ids():
        return "genuine", Family(catalogue.coin(kind).name, ((1.0, genuine_design(kind)),))
    raise UnknownKindError(f"unknown coin kind {kind!r}; known kinds: {', '.join(kind_table())}")
