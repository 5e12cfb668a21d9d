"""The UK coin catalogue shipped inside the package (a copy of reference/coins.toml).

Only nominal metrology and legal facts live here: diameters, thicknesses, edge
counts, legal-tender dates.  Nothing inductive: those levels are learned per head.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Shape = Literal["round", "polygon", "reuleaux"]


@dataclass(frozen=True, slots=True)
class CoinSpec:
    """Nominal figures of one coin (or look-alike) from the catalogue."""

    id: str
    name: str
    shape: Shape
    diameter_mm: float
    thickness_mm: float
    sides: int = 0
    value_pence: int | None = None
    cctalk_id: str | None = None
    legal_tender_from: dt.date | None = None
    legal_tender_until: dt.date | None = None
    bimetal: bool = False
    edge: str = ""


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _spec(coin_id: str, raw: dict[str, Any]) -> CoinSpec:
    return CoinSpec(
        id=coin_id,
        name=str(raw.get("name", coin_id)),
        shape=raw.get("shape", "round"),
        diameter_mm=float(raw["diameter_mm"]),
        thickness_mm=float(raw["thickness_mm"]),
        sides=int(raw.get("sides", 0)),
        value_pence=raw.get("value_pence"),
        cctalk_id=raw.get("cctalk_id"),
        legal_tender_from=_date(raw.get("legal_tender_from")),
        legal_tender_until=_date(raw.get("legal_tender_until")),
        bimetal="inner" in raw,
        edge=str(raw.get("edge", raw.get("note", ""))),
    )


@cache
def _load() -> tuple[dict[str, CoinSpec], dict[str, CoinSpec]]:
    text = resources.files("coinval").joinpath("data/coins.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    coins = {cid: _spec(cid, body) for cid, body in raw.get("coins", {}).items()}
    lookalikes = {cid: _spec(cid, body) for cid, body in raw.get("lookalikes", {}).items()}
    return coins, lookalikes


def coins() -> dict[str, CoinSpec]:
    """Every circulating coin the engine can be taught, by coin id (``gb-100-2017``...)."""
    return dict(_load()[0])


def lookalikes() -> dict[str, CoinSpec]:
    """Foreign or obsolete pieces every UK acceptor must refuse, by id."""
    return dict(_load()[1])


def coin(coin_id: str) -> CoinSpec:
    """The catalogue entry of a coin id; ``KeyError`` with the known ids if absent."""
    known = _load()[0]
    if coin_id not in known:
        raise KeyError(f"unknown coin id {coin_id!r}; known: {', '.join(sorted(known))}")
    return known[coin_id]
