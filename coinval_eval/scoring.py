"""Accuracy evaluation: how a profile decides labelled populations.

Pure bookkeeping over decisions; where the coins come from (a simulator, a
recorded campaign) is the caller's business, so this module needs nothing but
the engine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from coinval.batch import SignatureBatch
from coinval.engine import Engine


@dataclass(frozen=True, slots=True)
class LabelledBatch:
    """Coins of one known kind under one set of conditions.

    ``truth`` is the coin id for genuine coins, None for counterfeits and
    look-alikes; ``group`` names the conditions (e.g. ``batch 3``).
    """

    kind: str
    group: str
    truth: str | None
    batch: SignatureBatch


@dataclass
class Tally:
    """Counts of one (kind, group) cell."""

    n: int = 0
    accepted_as_self: int = 0
    accepted_as_other: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def acceptance(self) -> float:
        """Share accepted as the right coin."""
        return self.accepted_as_self / self.n if self.n else 0.0

    @property
    def false_acceptance(self) -> float:
        """Share credited as some coin it is not."""
        return self.accepted_as_other / self.n if self.n else 0.0


@dataclass
class Report:
    """Tallies per kind and group, genuine and fake kept apart."""

    genuine: dict[tuple[str, str], Tally] = field(default_factory=dict)
    fakes: dict[tuple[str, str], Tally] = field(default_factory=dict)

    def add(self, item: LabelledBatch, engine: Engine, at: dt.datetime) -> None:
        """Decide the batch's coins at ``at`` and count them into their cell's tally."""
        table = self.genuine if item.truth is not None else self.fakes
        tally = table.setdefault((item.kind, item.group), Tally())
        for d in engine.decide_batch(item.batch, at):
            tally.n += 1
            tally.reasons[d.reason] = tally.reasons.get(d.reason, 0) + 1
            if d.accepted and d.coin == item.truth:
                tally.accepted_as_self += 1
            elif d.accepted:
                tally.accepted_as_other += 1

    def by_kind(self, genuine: bool) -> dict[str, Tally]:
        """Tallies merged over groups."""
        merged: dict[str, Tally] = {}
        for (kind, _), t in (self.genuine if genuine else self.fakes).items():
            m = merged.setdefault(kind, Tally())
            m.n += t.n
            m.accepted_as_self += t.accepted_as_self
            m.accepted_as_other += t.accepted_as_other
            for r, c in t.reasons.items():
                m.reasons[r] = m.reasons.get(r, 0) + c
        return merged

    def worst_genuine(self) -> tuple[str, str, float]:
        """The (kind, group) with the lowest acceptance, and that acceptance."""
        key = min(self.genuine, key=lambda k: self.genuine[k].acceptance)
        return key[0], key[1], self.genuine[key].acceptance

    def markdown(self) -> str:
        """The report as Markdown tables."""
        lines = [
            "| genuine coin | group | n | accepted as itself | reasons |",
            "|---|---|---:|---:|---|",
        ]
        for (kind, group), t in sorted(self.genuine.items()):
            lines.append(
                f"| {kind} | {group} | {t.n} | {100 * t.acceptance:.2f} % | {_reasons(t)} |"
            )
        lines += [
            "",
            "| counterfeit / look-alike | group | n | false acceptance | reasons |",
            "|---|---|---:|---:|---|",
        ]
        for (kind, group), t in sorted(self.fakes.items()):
            lines.append(
                f"| {kind} | {group} | {t.n} | {100 * t.false_acceptance:.3f} % | {_reasons(t)} |"
            )
        return "\n".join(lines) + "\n"


def _reasons(t: Tally) -> str:
    return ", ".join(f"{r} {c}" for r, c in sorted(t.reasons.items()))
