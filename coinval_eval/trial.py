"""The accuracy trial: teach on one simulated head, decide batches never taught, tally.

A trial teaches the six circulating UK coins on one simulated sensor head,
then decides coins of mint batches the teach never saw and every counterfeit
family and look-alike the simulator lists, at -10..45 C, worn and dirty.
``coinval evaluate`` reports one trial, ``coinval bench heads`` one per head,
and ``coinval bench accuracy`` decides the same test cells with baselines
beside coinval (:mod:`coinval_eval.accuracy`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from coinval.batch import SignatureBatch
from coinval.classifier import SECURITY_LEVELS, SecurityLevel
from coinval.engine import Engine
from coinval.profile import Profile
from coinval.teach import TeachError, TeachReport, teach
from coinval_eval.errors import EvaluationError
from coinval_eval.provenance import measured_line
from coinval_eval.scoring import LabelledBatch, Report
from sim.coins import TAUGHT_COINS
from sim.heads import get_head
from sim.population import generate, kinds

EVALUATION_HEAD = "seed:20261126"
"""The held-out head trials run on: drawn from a seed never used while developing the classifier."""
EVAL_AT = dt.datetime(2017, 6, 1, 12, 0, tzinfo=dt.UTC)
"""The moment coins are decided for: both pounds are legal tender then, so a trial
measures recognition, not the legal-tender schedule."""
TEST_TEMPERATURE_C = (-10.0, 45.0)
"""Board temperatures of the test coins: a machine outdoors through the year."""


class Progress(Protocol):
    """The part of a ``tqdm`` bar a trial drives."""

    def update(self, n: float | None = 1) -> bool | None: ...

    def set_description_str(self, desc: str | None = None, refresh: bool = True) -> None: ...


def check_heads(heads: tuple[str, ...]) -> None:
    """Refuse an empty list or a head the simulator does not know (setting ``heads``)."""
    if not heads:
        raise EvaluationError("no heads given", "heads")
    for head in heads:
        try:
            get_head(head)
        except ValueError as exc:
            raise EvaluationError(str(exc), "heads") from None


def _check_batches(batches: tuple[int, ...], setting: str) -> None:
    if not batches or min(batches) < 0:
        raise EvaluationError(f"expected one or more batches >= 0, got {batches}", setting)


def _check_severity(value: float, setting: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise EvaluationError(f"a severity from 0 to 1, got {value:g}", setting)


@dataclass(frozen=True)
class TrialConfig:
    """What a trial teaches and decides.

    Every field is checked when the config is made (:class:`EvaluationError`
    names the field at fault).  The field order is that of the JSON report of
    ``coinval bench accuracy``.

    Attributes
    ----------
    head : str
        Simulated sensor head (default :data:`EVALUATION_HEAD`): ``A``-``D``,
        ``seed:N``, either as ``phys2:HEAD`` for the second physics.
    teach_n : int
        Teach coins of each type, at least 5 (default 60).
    n : int
        Test coins of each cell, at least 1 (default 1000).
    batches : tuple of int
        Mint batches of the genuine test coins (default 1, 2, 3, 4).
    seed : int
        Population seed, >= 0 (default 7); each test cell draws from its own
        seed derived from it, so that cells are the same whichever are run.
    teach_wear : float
        Largest wear and dirt severity of the teach coins, 0..1 (default 0.5:
        a field teach uses coins from circulation).
    teach_temperature_c : (float, float)
        Board temperatures of the teach coins, C (default 5..35: coins
        collected over the seasons; 12..14 is a one-day teach).
    teach_batches : tuple of int
        Mint batches of the teach coins (default 0 alone: a launch teach;
        several, e.g. 5, 6, 7, 8, are coins from circulation).
    wear, dirt : float
        Largest wear and dirt severity of the test coins, 0..1 (default 0.5).
    security : SecurityLevel
        Security level every coin is taught at (default ``"standard"``).
    """

    head: str = EVALUATION_HEAD
    teach_n: int = 60
    n: int = 1000
    batches: tuple[int, ...] = (1, 2, 3, 4)
    seed: int = 7
    teach_wear: float = 0.5
    teach_temperature_c: tuple[float, float] = (5.0, 35.0)
    teach_batches: tuple[int, ...] = (0,)
    wear: float = 0.5
    dirt: float = 0.5
    security: SecurityLevel = "standard"

    def __post_init__(self) -> None:
        if self.teach_n < 5:
            raise EvaluationError(f"must be >= 5, got {self.teach_n}", "teach_n")
        if self.n < 1:
            raise EvaluationError(f"must be >= 1, got {self.n}", "n")
        _check_batches(self.batches, "batches")
        _check_batches(self.teach_batches, "teach_batches")
        if self.seed < 0:
            raise EvaluationError(f"must be >= 0, got {self.seed}", "seed")
        for name in ("teach_wear", "wear", "dirt"):
            _check_severity(getattr(self, name), name)
        lo, hi = self.teach_temperature_c
        # The signature format's range of board temperatures.
        if not -40.0 <= lo <= hi <= 85.0:
            raise EvaluationError(
                f"must be LO, HI with -40 <= LO <= HI <= 85 (C), got {lo:g}, {hi:g}",
                "teach_temperature_c",
            )
        if self.security not in SECURITY_LEVELS:
            raise EvaluationError(
                f"one of {', '.join(SECURITY_LEVELS)}, got {self.security!r}", "security"
            )
        try:
            get_head(self.head)
        except ValueError as exc:
            raise EvaluationError(str(exc), "head") from None

    @property
    def launch(self) -> bool:
        """Whether the teach coins come from one mint batch (a launch teach)."""
        return len(self.teach_batches) == 1


@dataclass(frozen=True, slots=True)
class Cell:
    """Test coins of one kind under one set of conditions.

    ``truth`` is the coin id for genuine coins, None for counterfeits and
    look-alikes; ``seed`` is the population seed of the cell's coins.
    """

    kind: str
    group: str
    truth: str | None
    batch: int
    seed: int


def fake_kinds() -> list[str]:
    """Every counterfeit family and look-alike the simulator lists (no UK coin)."""
    return [k for k in kinds() if k not in TAUGHT_COINS and not k.startswith("gb-")]


def plan(config: TrialConfig) -> list[Cell]:
    """The test cells of a trial: each taught coin in each test batch, then every fake.

    Fakes come from batch 0.  Cell ``i`` draws with seed ``seed * 1000 + 17 + i``.
    """
    cells: list[tuple[str, str, str | None, int]] = [
        (coin, f"batch {b}, -10..45 C", coin, b) for coin in TAUGHT_COINS for b in config.batches
    ]
    cells += [(fake, "-10..45 C", None, 0) for fake in fake_kinds()]
    return [
        Cell(kind, group, truth, batch, config.seed * 1000 + 17 + i)
        for i, (kind, group, truth, batch) in enumerate(cells)
    ]


def cell_coins(config: TrialConfig, cell: Cell) -> SignatureBatch:
    """The ``config.n`` test coins of one cell."""
    return generate(
        cell.kind,
        config.n,
        head=config.head,
        seed=cell.seed,
        batch=cell.batch,
        temperature_c=TEST_TEMPERATURE_C,
        wear=config.wear,
        dirt=config.dirt,
    )


def teach_sets(config: TrialConfig) -> dict[str, SignatureBatch]:
    """The teach coins of a trial: ``teach_n`` of each taught coin, shared out over its batches.

    One batch is a launch teach; several are coins from circulation (the first
    batches get the remainder of ``teach_n``).  Wear and dirt both go up to
    ``teach_wear``.
    """
    batches = config.teach_batches
    out: dict[str, SignatureBatch] = {}
    for coin in TAUGHT_COINS:
        parts = []
        for k, b in enumerate(batches):
            count = config.teach_n // len(batches) + (1 if k < config.teach_n % len(batches) else 0)
            if count == 0:
                continue
            parts.append(
                generate(
                    coin,
                    count,
                    head=config.head,
                    seed=config.seed,
                    batch=b,
                    wear=config.teach_wear,
                    dirt=config.teach_wear,
                    temperature_c=config.teach_temperature_c,
                )
            )
        out[coin] = (
            parts[0]
            if len(parts) == 1
            else SignatureBatch.from_signatures([s for p in parts for s in p.signatures()])
        )
    return out


def teach_trial(
    config: TrialConfig,
) -> tuple[Profile, TeachReport, dict[str, SignatureBatch]]:
    """Teach the trial's coins as ``coinval teach`` would: the profile, its report, the coins.

    Raises
    ------
    EvaluationError
        When teaching refuses the simulated coins.
    """
    coins = teach_sets(config)
    try:
        profile, report = teach(
            {c: b.signatures() for c, b in coins.items()},
            head=config.head,
            security=dict.fromkeys(TAUGHT_COINS, config.security),
            launch=config.launch,
        )
    except TeachError as exc:
        raise EvaluationError(f"teach failed: {exc}") from None
    return profile, report, coins


def run_trial(config: TrialConfig, progress: Progress | None = None) -> Report:
    """Teach, decide every test cell of :func:`plan`, tally the decisions.

    ``progress`` advances once per cell.

    Raises
    ------
    EvaluationError
        When teaching refuses the simulated coins.
    """
    profile, _, _ = teach_trial(config)
    engine = Engine(profile)
    report = Report()
    for cell in plan(config):
        coins = cell_coins(config, cell)
        report.add(LabelledBatch(cell.kind, cell.group, cell.truth, coins), engine, EVAL_AT)
        if progress is not None:
            progress.update(1)
    return report


def _numbers(values: tuple[int, ...]) -> str:
    return ",".join(map(str, values))


def render(config: TrialConfig, report: Report, seconds: float, command: str) -> str:
    """The Markdown report of one trial: where it ran, its settings, the extremes, every cell.

    ``seconds`` is the trial's run time and ``command`` the command line that
    ran it, both stated in the report's :func:`~coinval_eval.provenance.measured_line`.
    """
    genuine = report.by_kind(genuine=True)
    fakes = report.by_kind(genuine=False)
    worst = report.worst_genuine()
    worst_fa = max(fakes.items(), key=lambda kv: kv[1].false_acceptance)
    lo, hi = config.teach_temperature_c
    security = config.security.replace(" ", "-")
    head = [
        f"# coinval accuracy: head {config.head}, taught on batch(es) "
        f"{_numbers(config.teach_batches)} with {config.teach_n} coins each",
        "",
        measured_line(command, seconds),
        "",
        f"Teach coins at {lo:g}..{hi:g} C, wear and dirt up to {config.teach_wear}; test coins "
        f"from batches {_numbers(config.batches)} at -10..45 C, wear up to {config.wear}, dirt "
        f"up to {config.dirt}.",
        "",
        f"Security level {security}; test coins {config.n} per cell; seed {config.seed}.",
        "",
        f"- lowest genuine acceptance: {100 * worst[2]:.2f} % ({worst[0]}, {worst[1]})",
        f"- highest false acceptance: {100 * worst_fa[1].false_acceptance:.3f} % ({worst_fa[0]})",
        "",
        "| coin | n | accepted as itself |",
        "|---|---:|---:|",
        *[f"| {k} | {t.n} | {100 * t.acceptance:.2f} % |" for k, t in sorted(genuine.items())],
        "",
        "| counterfeit / look-alike | n | false acceptance |",
        "|---|---:|---:|",
        *[f"| {k} | {t.n} | {100 * t.false_acceptance:.3f} % |" for k, t in sorted(fakes.items())],
        "",
        "## Every cell",
        "",
    ]
    return "\n".join(head) + "\n" + report.markdown()
