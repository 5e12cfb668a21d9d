"""The accuracy trial over many simulated heads at once, summed up in one table.

One head says little about heads not yet built: each simulated head has its own
frequencies, coil, gains, noise and rim gauge.  This runs the same trial on
each (:func:`coinval_eval.trial.run_trial`: teach 60 coins a type, decide other
batches and every counterfeit family) and reports, per head, the lowest genuine
cell and the families that got through; then totals over all heads.
``coinval bench heads`` runs it; ``make heads`` writes ``reports/heads.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from coinval_eval.errors import EvaluationError
from coinval_eval.provenance import measured_line
from coinval_eval.trial import TrialConfig, check_heads, run_trial

TARGET_ACCEPTANCE = 0.995
TARGET_FALSE_ACCEPTANCE = 0.001


@dataclass(frozen=True, slots=True)
class HeadResult:
    """One head's trial: every genuine cell's acceptance, every family's false acceptance."""

    head: str
    cells: dict[tuple[str, str], tuple[int, int]]  # (coin, group) -> (n, accepted as itself)
    families: dict[str, tuple[int, int]]  # family -> (n, accepted as some coin)

    @property
    def refused(self) -> int:
        """Genuine coins not accepted as themselves, over every cell."""
        return sum(n - ok for n, ok in self.cells.values())

    def lowest(self) -> tuple[str, str, float]:
        """The genuine cell with the lowest acceptance: coin, group, acceptance."""
        (coin, group), (n, ok) = min(self.cells.items(), key=lambda kv: kv[1][1] / kv[1][0])
        return coin, group, ok / n


@dataclass(frozen=True)
class HeadsConfig:
    """Which heads to run the trial on, the trial itself, and how many heads at once.

    Attributes
    ----------
    heads : tuple of str
        Simulated head names, at least one.
    trial : TrialConfig
        The trial every head runs; its own ``head`` is replaced by each of
        ``heads``.  Default: 400 test coins a cell, batches 1-8, a launch teach
        on batch 0.
    jobs : int
        Heads run at once, each in a process of its own, >= 1 (default 1).
    """

    heads: tuple[str, ...]
    trial: TrialConfig = field(
        default_factory=lambda: TrialConfig(n=400, batches=(1, 2, 3, 4, 5, 6, 7, 8))
    )
    jobs: int = 1

    def __post_init__(self) -> None:
        check_heads(self.heads)
        taught = set(self.trial.teach_batches) & set(self.trial.batches)
        if taught:
            # The trial is about batches the teach never saw.
            raise EvaluationError(
                f"batch(es) {', '.join(map(str, sorted(taught)))} are taught; "
                "test batches the teach never saw",
                "batches",
            )
        if self.jobs < 1:
            raise EvaluationError(f"must be >= 1, got {self.jobs}", "jobs")


def run_head(trial: TrialConfig) -> HeadResult:
    """The trial on ``trial.head``, as ``coinval evaluate`` runs it, reduced to its counts."""
    report = run_trial(trial)
    return HeadResult(
        trial.head,
        {key: (t.n, t.accepted_as_self) for key, t in report.genuine.items()},
        {kind: (t.n, t.accepted_as_other) for kind, t in report.by_kind(genuine=False).items()},
    )


def run_heads(
    config: HeadsConfig, done: Callable[[int, str], None] | None = None
) -> list[HeadResult]:
    """Every head's trial, in the order of ``config.heads``.

    ``done(i, head)`` is called as the ``i``-th head's result (from 1) comes in.

    Raises
    ------
    EvaluationError
        At the first head whose trial fails (the heads not yet run are cancelled).
    """
    trials = [dataclasses.replace(config.trial, head=head) for head in config.heads]
    results: list[HeadResult] = []
    with ProcessPoolExecutor(max_workers=min(config.jobs, len(trials))) as pool:
        futures = [pool.submit(run_head, trial) for trial in trials]
        try:
            for i, future in enumerate(futures, 1):
                results.append(future.result())
                if done is not None:
                    done(i, config.heads[i - 1])
        except EvaluationError:
            # Say so now, not once every other head has run.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def render(results: Sequence[HeadResult], command: str, seconds: float) -> str:
    """The per-head table and the totals, as Markdown.

    ``command`` is the command line that ran the trials and ``seconds`` its run
    time, both stated in the report's :func:`~coinval_eval.provenance.measured_line`.
    """
    families = sorted({f for r in results for f in r.families})
    passing = [r for r in results if r.lowest()[2] >= TARGET_ACCEPTANCE]
    cells = sum(len(r.cells) for r in results)
    coins = sum(n for r in results for n, _ in r.cells.values())
    lines = [
        "# coinval over many simulated heads",
        "",
        measured_line(command, seconds),
        "",
        "Each head taught as `coinval evaluate` teaches (60 coins a type from the teach "
        "batches, 5..35 C: one batch is a launch teach, several are coins from circulation), "
        "then decides the other batches and every counterfeit family at -10..45 C, wear and "
        "dirt up to 0.5.",
        "",
        f"- heads with every genuine cell >= {100 * TARGET_ACCEPTANCE:.1f} %: "
        f"{len(passing)} of {len(results)}",
        f"- genuine coins refused: {sum(r.refused for r in results)} of {coins} ({cells} cells)",
        "",
        "| family | heads <= 0.1 % | mean | highest (head) |",
        "|---|---:|---:|---:|",
    ]
    for family in families:
        shares = [(r.families[family][1] / r.families[family][0], r.head) for r in results]
        low = sum(s <= TARGET_FALSE_ACCEPTANCE for s, _ in shares)
        top, where = max(shares)
        mean = sum(s for s, _ in shares) / len(shares)
        highest = f"{100 * top:.2f} % ({where})" if top > 0 else "0 %"
        lines.append(f"| {family} | {low} of {len(shares)} | {100 * mean:.3f} % | {highest} |")
    lines += [
        "",
        "| head | lowest genuine cell | refused | families above 0.1 % |",
        "|---|---|---:|---|",
    ]
    for r in results:
        coin, group, share = r.lowest()
        above = ", ".join(
            f"{f} {100 * ok / n:.2f} %"
            for f, (n, ok) in sorted(r.families.items())
            if ok / n > TARGET_FALSE_ACCEPTANCE
        )
        lines.append(
            f"| {r.head} | {100 * share:.2f} % ({coin}, {group}) | {r.refused} | {above} |"
        )
    return "\n".join(lines) + "\n"
