"""What a head's signatures allow, estimated by learners that have seen the fakes.

Not an acceptor.  For each counterfeit family, two learners (scikit-learn: a
quadratic discriminant on standardised inputs, and gradient boosting) are
trained on genuine coins of the coin the family imitates from nine mint
batches *and* on the family's own fakes, then set to accept 99.5 % of genuine
coins from eight further batches (other seeds) and asked how many further fakes
(other counterfeit batches) they still take for genuine.

They see what no acceptor sees when taught (other batches, the fakes
themselves).  Their false acceptance is an estimate, not a bound: a better
learner, more batches or other inputs might do better.  But where learners
with that knowledge still take a family above a target, an open-set acceptor
taught on one batch has no easy way down to it.  Each is read twice: on
coinval's features, and on those plus both eddy traces put on a millimetre
axis around the coin's centre, to see whether the signature holds more than
coinval's features take from it.

Needs the ``baselines`` extra (scikit-learn).  Test conditions are those of the
trial (:mod:`coinval_eval.trial`): -10..45 C, wear and dirt up to 0.5.
``coinval bench ceiling`` runs it; ``make bench`` writes ``reports/ceiling.md``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from coinval.batch import SignatureBatch
from coinval.features import extract
from coinval_eval.errors import EvaluationError
from coinval_eval.provenance import measured_line
from coinval_eval.trial import check_heads
from sim.coins import TAUGHT_COINS
from sim.population import generate, kinds

FloatArray = npt.NDArray[np.float64]

ACCEPTANCE = 0.995
"""Genuine acceptance at which the oracle's false acceptance is read."""
TRAIN_BATCHES = {"genuine": range(0, 9), "fake": range(1, 5)}
TEST_BATCHES = {"genuine": range(9, 17), "fake": range(5, 9)}
TRAIN_SEED, TEST_SEED = 21, 22
DEFAULT_FAMILIES = ("ring-alloy-off", "cast-round-pound", "struck-brass-round-pound")
"""The families the classifier's documentation quotes: the hardest to tell apart."""
_END_SAMPLES = 8


def aligned_traces(
    batch: SignatureBatch, half_width_mm: float = 16.0, points: int = 65
) -> FloatArray:
    """Both eddy traces less their no-coin level, on a millimetre axis centred on the coin.

    The centre is the centroid of the two traces' responses (each scaled to its
    own peak, so a channel that all but vanishes still counts); the level is
    the median of each trace's first and last samples.  Beyond a trace's ends
    the end value holds.

    Returns
    -------
    ndarray of shape (n, 2 * points)
        Low channel, then high channel, at ``points`` positions from
        ``-half_width_mm`` to ``+half_width_mm``.
    """
    traces = (batch.eddy_lo, batch.eddy_hi)
    levels = [
        np.median(np.hstack([y[:, :_END_SAMPLES], y[:, -_END_SAMPLES:]]), axis=1) for y in traces
    ]
    length = traces[0].shape[1]
    index = np.arange(length, dtype=np.float64)
    weight = sum(
        np.abs(y - lvl[:, None])
        / np.maximum(np.abs(y - lvl[:, None]).max(axis=1, keepdims=True), 1e-300)
        for y, lvl in zip(traces, levels, strict=True)
    )
    centre = (weight * index).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-300)
    samples_per_mm = batch.eddy_rate_hz / batch.speed_mm_s
    grid = np.linspace(-half_width_mm, half_width_mm, points)
    at = np.clip(centre[:, None] + grid[None, :] * samples_per_mm[:, None], 0.0, length - 1.0)
    below = np.minimum(np.floor(at).astype(np.int64), length - 2)
    frac = at - below
    rows = np.arange(len(batch))[:, None]
    out = [
        y[rows, below] * (1.0 - frac) + y[rows, below + 1] * frac - lvl[:, None]
        for y, lvl in zip(traces, levels, strict=True)
    ]
    return np.hstack(out)


def _rows(kind: str, head: str, seed: int, batches: range, n: int) -> tuple[FloatArray, FloatArray]:
    """Features (with temperature) and features plus aligned traces, stacked over batches."""
    plain, full = [], []
    for batch in batches:
        coins = generate(
            kind,
            n,
            head=head,
            seed=seed,
            batch=batch,
            wear=0.5,
            dirt=0.5,
            temperature_c=(-10.0, 45.0),
        )
        feats = extract(coins)
        x = np.column_stack([feats.values, feats.temperature_c, feats.edge_count])
        plain.append(x)
        full.append(np.hstack([x, aligned_traces(coins)]))
    return np.vstack(plain), np.vstack(full)


LEARNERS = ("quadratic discriminant", "gradient boosting")
INPUTS = ("features", "features + traces")


def _fitted(learner: str, x: FloatArray, y: FloatArray) -> Any:
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if learner == "quadratic discriminant":
        model = make_pipeline(StandardScaler(), QuadraticDiscriminantAnalysis(reg_param=1e-3))
    else:
        model = HistGradientBoostingClassifier(max_iter=300, random_state=0)
    return model.fit(x, y)


def _false_acceptance(
    learner: str,
    genuine_train: FloatArray,
    fake_train: FloatArray,
    genuine_test: FloatArray,
    fake_test: FloatArray,
) -> float:
    """Share of the test fakes scored as genuine as the 99.5 % most genuine-like test coins."""
    x = np.vstack([genuine_train, fake_train])
    # Columns the training coins lack (the loss ratios of a head without loss
    # traces are NaN throughout) are left out of every set alike.
    keep = np.isfinite(x).all(axis=0)
    x, genuine_test, fake_test = x[:, keep], genuine_test[:, keep], fake_test[:, keep]
    y = np.r_[np.zeros(len(genuine_train)), np.ones(len(fake_train))]
    with warnings.catch_warnings():
        # Constant inputs (a flat trace end, an edge count) make QDA warn of
        # collinearity; its regularisation is there for them.
        warnings.simplefilter("ignore")
        model = _fitted(learner, x, y)
        bound = np.quantile(model.predict_proba(genuine_test)[:, 1], ACCEPTANCE)
        return float(np.mean(model.predict_proba(fake_test)[:, 1] <= bound))


def imitated_coin(family: str, head: str) -> str:
    """The genuine coin whose median diameter is nearest the family's."""

    def diameter(kind: str) -> float:
        return float(
            np.median(extract(generate(kind, 40, head=head, seed=5, batch=1)).values[:, 0])
        )

    own = diameter(family)
    return min(TAUGHT_COINS, key=lambda coin: abs(diameter(coin) - own))


def ceiling(head: str, family: str, n: int) -> tuple[str, dict[tuple[str, str], float]]:
    """The imitated coin, and each (input, learner)'s false acceptance of the family.

    Inputs are ``"features"`` and ``"features + traces"``; learners :data:`LEARNERS`.
    """
    coin = imitated_coin(family, head)
    g_train = _rows(coin, head, TRAIN_SEED, TRAIN_BATCHES["genuine"], n)
    f_train = _rows(family, head, TRAIN_SEED, TRAIN_BATCHES["fake"], 2 * n)
    g_test = _rows(coin, head, TEST_SEED, TEST_BATCHES["genuine"], n)
    f_test = _rows(family, head, TEST_SEED, TEST_BATCHES["fake"], 2 * n)
    shares = {
        (inputs, learner): _false_acceptance(learner, g_train[i], f_train[i], g_test[i], f_test[i])
        for i, inputs in enumerate(INPUTS)
        for learner in LEARNERS
    }
    return coin, shares


@dataclass(frozen=True)
class CeilingConfig:
    """Which heads and families to estimate the ceiling on, with how many coins.

    Attributes
    ----------
    heads : tuple of str
        Simulated head names, at least one.
    families : tuple of str
        Counterfeit families or look-alikes the simulator lists, at least one
        (default :data:`DEFAULT_FAMILIES`).
    n : int
        Genuine coins of each batch, >= 20 (fakes: twice that); default 400.
    """

    heads: tuple[str, ...]
    families: tuple[str, ...] = DEFAULT_FAMILIES
    n: int = 400

    def __post_init__(self) -> None:
        known = [k for k, what in kinds().items() if not what.startswith("genuine")]
        unknown = [f for f in self.families if f not in known]
        if not self.families:
            raise EvaluationError(f"none given; known: {', '.join(known)}", "families")
        if unknown:
            raise EvaluationError(f"unknown {unknown}; known: {', '.join(known)}", "families")
        if self.n < 20:
            # The 99.5 % bound needs coins to stand on.
            raise EvaluationError(f"must be >= 20, got {self.n}", "n")
        check_heads(self.heads)


def ceiling_report(
    config: CeilingConfig,
    command: str,
    started: Callable[[str, str], None] | None = None,
) -> str:
    """Every (head, family)'s :func:`ceiling`, as a Markdown table.

    ``command`` is the command line that ran it, stated with the run time in the
    report's :func:`~coinval_eval.provenance.measured_line`;
    ``started(head, family)`` is called as each estimate begins.
    """
    began = time.perf_counter()
    rows = []
    for head in config.heads:
        for family in config.families:
            if started is not None:
                started(head, family)
            coin, shares = ceiling(head, family, config.n)
            cells = [f"{100 * shares[i, learner]:.2f} %" for i in INPUTS for learner in LEARNERS]
            cells.append(f"{100 * min(shares.values()):.2f} %")
            rows.append(f"| {head} | {family} | {coin} | " + " | ".join(cells) + " |")
    lines = [
        "# What the signatures allow: learners that have seen the fakes",
        "",
        measured_line(command, time.perf_counter() - began),
        "",
        f"Each learner trained on the imitated coin's batches "
        f"{TRAIN_BATCHES['genuine'].start}-{TRAIN_BATCHES['genuine'].stop - 1} and the family's "
        f"batches {TRAIN_BATCHES['fake'].start}-{TRAIN_BATCHES['fake'].stop - 1}, set to accept "
        f"{100 * ACCEPTANCE:.1f} % of genuine batches {TEST_BATCHES['genuine'].start}-"
        f"{TEST_BATCHES['genuine'].stop - 1} (the bound read on those coins); false acceptance "
        f"of the family's batches {TEST_BATCHES['fake'].start}-{TEST_BATCHES['fake'].stop - 1}. "
        "-10..45 C, wear and dirt up to 0.5. Estimates, not bounds: they have seen the fakes "
        "and nine batches, which no acceptor sees when taught, but a better learner might "
        "do better still.",
        "",
        "| head | family | imitates | "
        + " | ".join(f"{learner}, {inputs}" for inputs in INPUTS for learner in LEARNERS)
        + " | lowest |",
        "|---|---|---|" + "---:|" * (len(INPUTS) * len(LEARNERS) + 1),
        *rows,
    ]
    return "\n".join(lines) + "\n"
