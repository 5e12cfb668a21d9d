"""What acceptors report to a central service: decided coins, summaries, the sender."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["FleetAcceptor", "FleetEvent", "FleetSummary", "Item"]


@dataclass(frozen=True)
class FleetEvent:
    """One decided coin as an acceptor reports it."""

    key: str
    head: str
    at: dt.datetime
    coin: str | None
    reason: str
    detail: str | None
    accepted: bool
    signature_id: str | None = None


@dataclass(frozen=True)
class FleetSummary:
    """``count`` events of one (head, coin, reason) between two moments, folded into one."""

    key: str
    head: str
    coin: str | None
    reason: str
    count: int
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class FleetAcceptor:
    """The acceptor sending a batch: its id, its model and the profile version it runs.

    ``model`` and ``profile_version`` None: not said (what is stored stays).
    """

    id: str
    model: str | None = None
    profile_version: int | None = None


Item = FleetEvent | FleetSummary
