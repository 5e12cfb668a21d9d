"""Counterfeits the simulator does not list, decided by a taught engine: a probe.

The trial (:mod:`coinval_eval.trial`) decides the simulator's own families, the
ones the engine was developed beside.  These designs were written later, to
see what else gets through, and set nothing: a metal 20 % off on each coin,
wrong core sizes, a milled slug, coins of the wrong shape, thickness or edge.
Each is one of the simulator's designs with one thing changed, at a
counterfeit's piece spreads.

Teaching and the test conditions are the trial's defaults (60 coins a type from
batch 0 at 5..35 C; fakes from batches 1-4 at -10..45 C, wear and dirt up to
0.5).  ``coinval bench probe`` runs it; ``make bench`` writes ``reports/probe.md``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from coinval.engine import Engine
from coinval.teach import teach
from coinval_eval.errors import EvaluationError
from coinval_eval.provenance import measured_line
from coinval_eval.trial import EVAL_AT, TrialConfig, check_heads, teach_sets
from sim import materials as m
from sim.coins import (
    TAUGHT_COINS,
    CoinDesign,
    Family,
    Layer,
    Region,
    counterfeit_of,
    genuine_design,
    with_material,
)
from sim.population import generate

BATCHES = (1, 2, 3, 4)


def designs() -> dict[str, tuple[str, CoinDesign]]:
    """Probe name -> (what it is, design)."""
    new_pound, round_pound, two, fifty, twenty, ten = (genuine_design(c) for c in TAUGHT_COINS)
    steel = ten.outer  # nickel-plated steel
    fake = counterfeit_of

    def core(base: CoinDesign, name: str, factor: float) -> CoinDesign:
        return fake(base, name, core_diameter_mm=base.core_diameter_mm * factor)

    def metal(base: CoinDesign, name: str, part: str, factor: float) -> CoinDesign:
        """``base`` with its ring (``"outer"``) or core conducting ``factor`` times as well."""
        region = getattr(base, part)
        return fake(base, name, **{part: with_material(region, factor, f"x{factor}")})

    rows: dict[str, tuple[str, CoinDesign]] = {
        "round-pound-alloy-20-low": (
            "round pound, alloy 20 % less conductive",
            metal(round_pound, "p-rp-lo", "outer", 0.8),
        ),
        "round-pound-alloy-20-high": (
            "round pound, alloy 20 % more conductive",
            metal(round_pound, "p-rp-hi", "outer", 1.2),
        ),
        "round-pound-no-inscription": (
            "round pound in its own alloy, milled, no inscription",
            fake(
                round_pound,
                "p-rp-noin",
                edge=dataclasses.replace(round_pound.edge, lettering_depth_mm=0.0),
            ),
        ),
        "milled-plated-slug": (
            "copper-plated zinc blank milled and inscribed like a round pound",
            fake(round_pound, "p-slug", outer=Region(m.ZINC_ALLOY, (Layer(m.COPPER, 0.02),))),
        ),
        "two-pound-core-20-low": (
            "2 pound, core alloy 20 % less conductive",
            metal(two, "p-2p-clo", "core", 0.8),
        ),
        "two-pound-ring-20-low": (
            "2 pound, ring alloy 20 % less conductive",
            metal(two, "p-2p-rlo", "outer", 0.8),
        ),
        "two-pound-swapped": (
            "2 pound, ring and core metals swapped",
            fake(two, "p-2p-swap", outer=two.core, core=two.outer),
        ),
        "two-pound-one-metal": (
            "2 pound in its ring alloy throughout",
            fake(two, "p-2p-mono", core=None, core_diameter_mm=0.0),
        ),
        "two-pound-4-small": (
            "2 pound 4 % small, core too",
            fake(
                two,
                "p-2p-small",
                diameter_mm=two.diameter_mm * 0.96,
                core_diameter_mm=two.core_diameter_mm * 0.96,
            ),
        ),
        "fifty-alloy-20-low": (
            "50p, alloy 20 % less conductive",
            metal(fifty, "p-50-lo", "outer", 0.8),
        ),
        "fifty-round": ("50p blank left round", fake(fifty, "p-50-round", shape="round", sides=0)),
        "fifty-steel": ("50p in nickel-plated steel", fake(fifty, "p-50-steel", outer=steel)),
        "twenty-alloy-25-high": (
            "20p, alloy 25 % more conductive",
            metal(twenty, "p-20-hi", "outer", 1.25),
        ),
        "twenty-brass": ("20p in brass", fake(twenty, "p-20-brass", outer=Region(m.BRASS_CUZN37))),
        "ten-cupronickel": (
            "10p in cupronickel (the pre-2012 10p)",
            fake(ten, "p-10-cn", outer=Region(m.CUPRONICKEL_25)),
        ),
        "ten-unplated": (
            "10p in unplated steel",
            fake(ten, "p-10-bare", outer=Region(m.LOW_CARBON_STEEL)),
        ),
        "new-pound-8-thick": (
            "new pound 8 % too thick",
            fake(new_pound, "p-np-thick", thickness_mm=new_pound.thickness_mm * 1.08),
        ),
        "new-pound-14-sided": ("new pound with 14 sides", fake(new_pound, "p-np-14", sides=14)),
        "new-pound-steel-core": (
            "new pound with a nickel-plated steel core",
            fake(new_pound, "p-np-steel", core=steel),
        ),
        "new-pound-core-0.8": ("new pound, core 20 % small", core(new_pound, "p-np-c80", 0.8)),
        "new-pound-core-0.9": ("new pound, core 10 % small", core(new_pound, "p-np-c90", 0.9)),
        "new-pound-core-1.1": ("new pound, core 10 % large", core(new_pound, "p-np-c110", 1.1)),
        "two-pound-core-0.8": ("2 pound, core 20 % small", core(two, "p-2p-c80", 0.8)),
        "two-pound-core-0.9": ("2 pound, core 10 % small", core(two, "p-2p-c90", 0.9)),
    }
    return rows


@dataclass(frozen=True)
class ProbeConfig:
    """Which heads to probe, with how many coins, and which designs.

    Attributes
    ----------
    heads : tuple of str
        Simulated head names, at least one.
    n : int
        Coins of each design on each head, >= 1, shared out over :data:`BATCHES`.
    names : tuple of str
        Probe names of :func:`designs`, at least one.
    """

    heads: tuple[str, ...]
    n: int = 1000
    names: tuple[str, ...] = field(default_factory=lambda: tuple(designs()))

    def __post_init__(self) -> None:
        known = designs()
        unknown = [x for x in self.names if x not in known]
        if unknown or not self.names:
            raise EvaluationError(f"unknown probes {unknown}; known: {', '.join(known)}", "names")
        if self.n < 1:
            raise EvaluationError(f"must be >= 1, got {self.n}", "n")
        check_heads(self.heads)


def probe(head: str, n: int, names: Sequence[str]) -> dict[str, tuple[float, str]]:
    """Share accepted (as any taught coin) and the coins taken for, per probe design.

    Taught on the trial's default teach coins of ``head``.
    """
    sets = teach_sets(TrialConfig(head=head))
    profile, _ = teach({c: b.signatures() for c, b in sets.items()}, head=head)
    engine = Engine(profile)
    coins = profile.classifier.coins_
    table = designs()
    out: dict[str, tuple[float, str]] = {}
    for name in names:
        family = Family(table[name][0], ((1.0, table[name][1]),))
        taken: Counter[str] = Counter()
        total = 0
        for batch in BATCHES:
            coins_of = generate(
                family,
                max(1, n // len(BATCHES)),
                head=head,
                seed=77,
                batch=batch,
                wear=0.5,
                dirt=0.5,
                temperature_c=(-10.0, 45.0),
            )
            index, reason = engine.decide_codes(coins_of, EVAL_AT)
            taken.update(coins[i] for i in index[reason == 0])
            total += len(index)
        share = 100.0 * sum(taken.values()) / total
        out[name] = (share, ", ".join(f"{c} {k}" for c, k in taken.most_common()))
    return out


def render(
    config: ProbeConfig,
    results: dict[str, dict[str, tuple[float, str]]],
    command: str,
    seconds: float,
) -> str:
    """The Markdown report: a row per design, a column per head.

    ``results`` maps each head to its :func:`probe`; ``command`` is the command
    line that ran it and ``seconds`` its run time, both stated in the report's
    :func:`~coinval_eval.provenance.measured_line`.
    """
    table = designs()
    lines = [
        "# Counterfeits the simulator does not list",
        "",
        measured_line(command, seconds),
        "",
        "Taught as `coinval evaluate` teaches; each design one of the simulator's with one "
        f"thing changed, at a counterfeit's spreads, batches {', '.join(map(str, BATCHES))}, "
        "-10..45 C. Share accepted as any taught coin.",
        "",
        "| probe | what it is | " + " | ".join(config.heads) + " |",
        "|---|---|" + "---:|" * len(config.heads),
    ]
    for name in config.names:
        cells = []
        for h in config.heads:
            share, taken = results[h][name]
            cells.append(f"{share:.2f} %" + (f" ({taken})" if share else ""))
        lines.append(f"| {name} | {table[name][0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
