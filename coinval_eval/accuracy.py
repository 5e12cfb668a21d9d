"""Accuracy and speed of coinval beside baseline acceptors, on the same simulated coins.

One run teaches every method on the same genuine coins (the teach coins of
the trial, :mod:`coinval_eval.trial`, on one simulated head at 5..35 C), then
decides the same test coins (other batches, counterfeits and look-alikes at
-10..45 C, worn and dirty) with each of them.  The test plan and its seeds are
the trial's, so coinval's column here is ``coinval evaluate``'s result.

Every method scores coins as normalised distances from each taught coin's
region (at most 1 inside, see :mod:`coinval_eval.baselines`); scaling that bound
by a factor traces each method's DET curve.  Used by ``coinval bench accuracy``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from coinval.classifier import CoinClassifier, SecurityLevel
from coinval.features import CoinFeatures, extract
from coinval_eval.baselines import (
    BASELINES,
    DEFAULT_ALPHA,
    DEFAULT_MAHALANOBIS_FR,
    DEFAULT_MARGIN,
    MahalanobisWindows,
    OpenSetMethod,
    make_baselines,
    sklearn_available,
)
from coinval_eval.errors import EvaluationError
from coinval_eval.provenance import machine
from coinval_eval.trial import Cell, Progress, TrialConfig, cell_coins, plan, teach_trial

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DET_FACTORS: tuple[float, ...] = tuple(
    float(f) for f in np.unique(np.append(np.geomspace(0.5, 3.0, 61), (0.75, 1.0, 1.5, 2.0)))
)
"""Bound scale factors swept for the DET curves (1 is each method's own default)."""
FR_TARGETS = (0.01, 0.001)
"""False-rejection rates at which the false acceptance of each method is compared."""
SCORE_CHUNK = 4096
"""Rows scored per call: bounds the (rows, coins, features) working arrays."""
TIMING_ROWS = 10_000
"""Test coins every method decides for the throughput figure."""


@dataclass(frozen=True)
class AccuracyConfig(TrialConfig):
    """A trial (defaults as ``coinval evaluate``) and the baselines decided beside coinval.

    Checked when made, as a :class:`~coinval_eval.trial.TrialConfig` is.

    Attributes
    ----------
    baselines : tuple of str
        Names from :data:`~coinval_eval.baselines.BASELINES` (default: all).
    margin : float
        Share of the taught range added to each side of a min/max window, >= 0.
    alpha : float
        Genuine rejection rate of the Gaussian baseline's bound, in (0, 1).
    mahalanobis_fr : float
        False-rejection rate the Mahalanobis window's chi-square cut is stated
        for, in (0, 1).
    """

    baselines: tuple[str, ...] = BASELINES
    margin: float = DEFAULT_MARGIN
    alpha: float = DEFAULT_ALPHA
    mahalanobis_fr: float = DEFAULT_MAHALANOBIS_FR

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise EvaluationError(
                f"unknown {', '.join(unknown)}; use {', '.join(BASELINES)}", "baselines"
            )
        if self.margin < 0:
            raise EvaluationError(f"must be >= 0, got {self.margin:g}", "margin")
        for name in ("alpha", "mahalanobis_fr"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise EvaluationError(f"must lie within (0, 1), got {value:g}", name)


def total_steps(config: AccuracyConfig) -> int:
    """Progress steps of :func:`run`: teach, every cell, every method."""
    return 1 + len(plan(config)) + 1 + len(config.baselines)


@dataclass
class Dataset:
    """Taught coins and labelled test coins, as features.

    Attributes
    ----------
    coins : list of str, length n_coins
    teach : mapping of coin id to CoinFeatures
        The teach coins that teaching kept (its outlier check applied).
    classifier : CoinClassifier
        coinval's regions, from :func:`coinval.teach.teach`.
    cells : list of Cell
    features : CoinFeatures of N test coins
    cell_index : ndarray of shape (N,)
        Index into ``cells`` of each test coin.
    truth_index : ndarray of shape (N,)
        Index into ``coins`` of each genuine test coin, -1 for fakes.
    teach_warnings : list of str
    extract_seconds : float
        Time spent extracting the test coins' features.
    """

    coins: list[str]
    teach: dict[str, CoinFeatures]
    classifier: CoinClassifier
    cells: list[Cell]
    features: CoinFeatures
    cell_index: IntArray
    truth_index: IntArray
    teach_warnings: list[str] = field(default_factory=list)
    extract_seconds: float = 0.0


def simulate(config: TrialConfig, progress: Progress | None = None) -> Dataset:
    """Teach coinval as the trial does and extract every test cell's features.

    Raises
    ------
    EvaluationError
        When teaching refuses the simulated coins.
    """
    step = progress.update if progress is not None else (lambda n=1: None)
    if progress is not None:
        progress.set_description_str("teach")
    profile, report, teach_batches = teach_trial(config)
    kept: dict[str, CoinFeatures] = {}
    for coin, batch in teach_batches.items():
        dropped = set(report.dropped.get(coin, []))
        keep = [i for i, coin_id in enumerate(batch.ids) if coin_id not in dropped]
        kept[coin] = extract(batch).rows(keep)
    step(1)

    coins = list(profile.classifier.coins_)
    cells = plan(config)
    parts: list[CoinFeatures] = []
    extract_seconds = 0.0
    if progress is not None:
        progress.set_description_str("simulate")
    for cell in cells:
        batch = cell_coins(config, cell)
        started = time.perf_counter()
        parts.append(extract(batch))
        extract_seconds += time.perf_counter() - started
        step(1)
    sizes = [len(p) for p in parts]
    truth = [coins.index(c.truth) if c.truth is not None else -1 for c in cells]
    return Dataset(
        coins=coins,
        teach=kept,
        classifier=profile.classifier,
        cells=cells,
        features=CoinFeatures.concat(parts),
        cell_index=np.repeat(np.arange(len(cells)), sizes).astype(np.int64),
        truth_index=np.repeat(np.array(truth, dtype=np.int64), sizes),
        teach_warnings=list(report.warnings),
        extract_seconds=extract_seconds,
    )


class CoinvalMethod:
    """coinval's classifier behind the same interface as the baselines."""

    name = "coinval"

    def __init__(self, classifier: CoinClassifier | None = None) -> None:
        self.classifier = classifier or CoinClassifier()

    def fit(self, features_by_coin: Mapping[str, CoinFeatures]) -> Self:
        """Refit coinval's regions on the features, at the security levels taught."""
        self.classifier = CoinClassifier().fit(features_by_coin, self.classifier_security())
        return self

    def classifier_security(self) -> dict[str, SecurityLevel]:
        """Each taught coin's security level (none before the classifier is fitted)."""
        if not hasattr(self.classifier, "coins_"):
            return {}
        return dict(zip(self.classifier.coins_, self.classifier.security_, strict=True))

    def score(self, features: CoinFeatures) -> FloatArray:
        """coinval's deviation, shape (n, n_coins); infinite for a wrong edge count."""
        return self.classifier.deviation(features)


def decide(method: OpenSetMethod, features: CoinFeatures) -> tuple[FloatArray, IntArray]:
    """Closest taught coin of every coin and its normalised distance.

    Returns
    -------
    best : ndarray of shape (n,)
        Lowest score over the taught coins (accepted at factor f when <= f).
    best_coin : ndarray of shape (n,)
        Index of that coin.
    """
    n = len(features)
    best = np.empty(n)
    best_coin = np.empty(n, dtype=np.int64)
    for start in range(0, n, SCORE_CHUNK):
        rows = np.arange(start, min(start + SCORE_CHUNK, n))
        scores = method.score(features.rows(rows))
        idx = np.argmin(scores, axis=1)
        best_coin[rows] = idx
        best[rows] = scores[np.arange(rows.size), idx]
    return best, best_coin


@dataclass
class Scored:
    """One method's decisions on the test coins and its speed.

    Attributes
    ----------
    name : str
    best, best_coin : ndarray of shape (N,)
        See :func:`decide`.
    fit_s : float
        Fitting time on the teach features.
    decisions_per_s : float
        Throughput deciding the same test coins' features in one batch.
    one_coin_ms : float
        Median time to decide one coin's features.
    """

    name: str
    best: FloatArray
    best_coin: IntArray
    fit_s: float
    decisions_per_s: float
    one_coin_ms: float


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _median_latency(fn: Callable[[], object], budget_s: float = 0.5, most: int = 200) -> float:
    fn()  # warm caches and lazy imports
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < most and (len(times) < 5 or time.perf_counter() < deadline):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def score_method(method: OpenSetMethod, data: Dataset, fit_s: float | None = None) -> Scored:
    """Fit the method (unless ``fit_s`` gives its fit time), decide every test coin, time it."""
    if fit_s is None:
        started = time.perf_counter()
        method.fit(data.teach)
        fit_s = time.perf_counter() - started
    best, best_coin = decide(method, data.features)
    sample = data.features.rows(np.arange(min(TIMING_ROWS, len(data.features))))
    batch_s = _best_time(lambda: decide(method, sample), repeats=3)
    one = data.features.rows([0])
    return Scored(
        name=method.name,
        best=best,
        best_coin=best_coin,
        fit_s=fit_s,
        decisions_per_s=len(sample) / batch_s,
        one_coin_ms=1e3 * _median_latency(lambda: decide(method, one)),
    )


@dataclass
class AccuracyRun:
    """Everything a report needs: data, each method's decisions, notes, timing."""

    config: AccuracyConfig
    data: Dataset
    scored: list[Scored]
    notes: list[str]
    started: dt.datetime
    elapsed_s: float


def run(config: AccuracyConfig, progress: Progress | None = None) -> AccuracyRun:
    """Simulate, teach and decide with coinval and every available baseline."""
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    data = simulate(config, progress)
    baselines, notes = make_baselines(
        config.baselines,
        margin=config.margin,
        alpha=config.alpha,
        seed=config.seed,
        mahalanobis_fr=config.mahalanobis_fr,
    )
    # coinval is already taught; its fit time is a refit of the same regions.
    refit_s = _best_time(lambda: CoinvalMethod(data.classifier).fit(data.teach), repeats=1)
    methods: list[tuple[OpenSetMethod, float | None]] = [(CoinvalMethod(data.classifier), refit_s)]
    methods += [(m, None) for m in baselines]
    scored = []
    for method, fit_s in methods:
        if progress is not None:
            progress.set_description_str(method.name)
        scored.append(score_method(method, data, fit_s))
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.update(len(config.baselines) - len(baselines))
    return AccuracyRun(config, data, scored, notes, started, time.perf_counter() - t0)


# -- figures -------------------------------------------------------------------


def outcome(scored: Scored, data: Dataset, factor: float = 1.0) -> tuple[BoolArray, BoolArray]:
    """Which test coins are accepted at ``factor``, and which as their own coin.

    Returns
    -------
    accepted, as_self : ndarray of shape (N,)
    """
    accepted = scored.best <= factor
    return accepted, accepted & (scored.best_coin == data.truth_index)


def det_curve(
    scored: Scored, data: Dataset, factors: tuple[float, ...] = DET_FACTORS
) -> FloatArray:
    """False rejection and false acceptance as the bound is scaled.

    Returns
    -------
    ndarray of shape (n_factors, 3)
        Columns: factor, false rejection of genuine coins (not accepted as
        themselves), false acceptance over all counterfeits and look-alikes.
    """
    genuine = data.truth_index >= 0
    f = np.asarray(factors)[:, None]
    accepted = scored.best[None, :] <= f
    as_self = accepted & (scored.best_coin == data.truth_index)[None, :]
    fr = 1.0 - as_self[:, genuine].mean(axis=1)
    fa = accepted[:, ~genuine].mean(axis=1)
    return np.column_stack([np.asarray(factors), fr, fa])


def fa_at_fr(curve: FloatArray, target: float) -> tuple[float, float] | None:
    """Lowest false acceptance with false rejection at most ``target``, and its factor."""
    ok = curve[:, 1] <= target
    if not ok.any():
        return None
    i = int(np.argmin(np.where(ok, curve[:, 2], np.inf)))
    return float(curve[i, 2]), float(curve[i, 0])


def rates_by(
    data: Dataset, scored: Scored, key: Callable[[Cell], str | None], genuine: bool
) -> dict[str, tuple[int, float]]:
    """Per group of cells: coins, and acceptance as self (genuine) or false acceptance.

    ``key`` maps a cell to its group name, or None to leave it out.
    """
    accepted, as_self = outcome(scored, data)
    hit = as_self if genuine else accepted
    out: dict[str, tuple[int, float]] = {}
    groups: dict[str, list[int]] = {}
    for i, cell in enumerate(data.cells):
        name = key(cell)
        if name is not None and (cell.truth is not None) == genuine:
            groups.setdefault(name, []).append(i)
    for name, cell_ids in groups.items():
        rows = np.isin(data.cell_index, cell_ids)
        out[name] = (int(rows.sum()), float(hit[rows].mean()))
    return out


CEILING_ACCEPTANCE = 0.995
"""Genuine acceptance at which the separability ceiling is read."""


def _fakeness(model: Any, centre: FloatArray, spread: FloatArray, rows: FloatArray) -> FloatArray:
    """Log-odds of the fake class under a fitted discriminant."""
    logp = model.predict_log_proba((rows - centre) / spread)
    return np.asarray(logp[:, 1] - logp[:, 0])


def separability_ceiling(data: Dataset, acceptance: float = CEILING_ACCEPTANCE) -> dict[str, Any]:
    """What the features allow at best: an oracle's false acceptance per family.

    Not an acceptor: for each counterfeit or look-alike family, a quadratic
    discriminant (scikit-learn) is fitted on half of the *test* coins of the
    genuine coin it resembles most (all test batches and temperatures) and half
    of the family's own coins, then set to accept ``acceptance`` of the other
    half of the genuine coins.  It has seen what no acceptor sees at teach time
    (other batches, the fakes themselves), so its false acceptance on the other
    half of the fakes is a floor for any method on these features: where it is
    above a target, only better features (or a better head) can reach it.

    Returns
    -------
    dict of family name to {"resembles": coin id, "false_acceptance": float},
    empty when scikit-learn is not installed.
    """
    if not sklearn_available():
        return {}
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

    x = np.column_stack([data.features.values, data.features.temperature_c])
    # Columns no coin has here (the loss ratios of a head without loss traces) are left out.
    x = x[:, np.isfinite(x).any(axis=0)]
    finite = np.isfinite(x).all(axis=1)
    diameter = data.features.values[:, 0]
    coin_diameter = np.array(
        [np.nanmedian(diameter[data.truth_index == c]) for c in range(len(data.coins))]
    )
    out: dict[str, Any] = {}
    for i, cell in enumerate(data.cells):
        if cell.truth is not None:
            continue
        fake = (data.cell_index == i) & finite
        if fake.sum() < 20:
            continue
        coin = int(np.argmin(np.abs(coin_diameter - np.median(diameter[fake]))))
        genuine = (data.truth_index == coin) & finite
        g, f = x[genuine], x[fake]
        train = np.concatenate([g[::2], f[::2]])
        label = np.concatenate([np.zeros(len(g[::2])), np.ones(len(f[::2]))])
        centre, spread = train.mean(axis=0), train.std(axis=0) + 1e-12
        model = QuadraticDiscriminantAnalysis(reg_param=1e-3).fit((train - centre) / spread, label)

        bound = np.quantile(_fakeness(model, centre, spread, g[1::2]), acceptance)
        out[cell.kind] = {
            "resembles": data.coins[coin],
            "false_acceptance": float((_fakeness(model, centre, spread, f[1::2]) <= bound).mean()),
        }
    return out


# -- report --------------------------------------------------------------------


def pct(x: float, digits: int = 2) -> str:
    """A share as a percentage with ``digits`` decimals."""
    return f"{100 * x:.{digits}f} %"


MAHALANOBIS_NAME = MahalanobisWindows.name


def mahalanobis_text(false_rejection: float) -> str:
    """How the Mahalanobis window baseline is built, in one sentence for a report."""
    return (
        "per coin, on the features finite for all its teach coins and not constant among "
        "them, a linear temperature term per feature fitted by least squares, the "
        "residuals' covariance with Ledoit-Wolf shrinkage (estimated from the teach coins, "
        "not tuned), and a chi-square cut on d^2 stated for "
        f"{pct(false_rejection, 3)} false rejection; a coin is accepted as the coin whose "
        "region holds it with the smallest d^2/cut, refused when none does."
    )


def summary(result: AccuracyRun) -> dict[str, Any]:
    """The figures of a run as plain data (written beside the Markdown as JSON)."""
    data = result.data
    coinval_rate = result.scored[0].decisions_per_s
    feature_rate = len(data.features) / max(data.extract_seconds, 1e-12)
    methods = []
    for s in result.scored:
        curve = det_curve(s, data)
        accepted, as_self = outcome(s, data)
        genuine = data.truth_index >= 0
        per_coin = rates_by(data, s, lambda c: c.kind, genuine=True)
        per_fake = rates_by(data, s, lambda c: c.kind, genuine=False)
        methods.append(
            {
                "name": s.name,
                "genuine_acceptance": float(as_self[genuine].mean()),
                "lowest_genuine": min(per_coin.items(), key=lambda kv: kv[1][1]),
                "false_acceptance": float(accepted[~genuine].mean()),
                "highest_false": max(per_fake.items(), key=lambda kv: kv[1][1]),
                "fa_at_fr": {str(t): fa_at_fr(curve, t) for t in FR_TARGETS},
                "per_coin": per_coin,
                "per_fake": per_fake,
                "per_cell": rates_by(data, s, lambda c: f"{c.kind}|{c.batch}", genuine=True),
                "det": curve.tolist(),
                "fit_s": s.fit_s,
                "decisions_per_s": s.decisions_per_s,
                "speed_vs_coinval": s.decisions_per_s / coinval_rate,
                "one_coin_ms": s.one_coin_ms,
                "end_to_end_per_s": 1.0 / (1.0 / feature_rate + 1.0 / s.decisions_per_s),
            }
        )
    return {
        "config": {k: getattr(result.config, k) for k in result.config.__dataclass_fields__},
        "started": result.started.isoformat(timespec="seconds"),
        "elapsed_s": result.elapsed_s,
        "machine": machine(),
        "test_coins": len(data.features),
        "feature_coins_per_s": feature_rate,
        "notes": result.notes,
        "teach_warnings": data.teach_warnings,
        "methods": methods,
        "ceiling": separability_ceiling(data),
    }


def render(
    result: AccuracyRun,
    facts: Mapping[str, Any],
    det_png: str | None,
    note: str,
    measured: str,
) -> str:
    """The Markdown report: summary, per-coin and per-family tables, DET, every cell.

    Parameters
    ----------
    result : AccuracyRun
    facts : output of :func:`summary`
    det_png : file name of the DET plot beside the report, or None when not drawn
    note : why the plot is missing (used when ``det_png`` is None)
    measured : the command's :func:`~coinval_eval.provenance.measured_line`
    """
    cfg = result.config
    methods = facts["methods"]
    names = [m["name"] for m in methods]
    header = "| " + " | ".join(names) + " |"
    align = "|---:" * len(names) + "|"
    lines = [
        f"# coinval beside baseline acceptors: head {cfg.head}",
        "",
        measured,
        "",
        f"Every method is taught on the same {cfg.teach_n} coins per type (batch(es) "
        f"{', '.join(map(str, cfg.teach_batches))}, "
        f"{cfg.teach_temperature_c[0]:g}..{cfg.teach_temperature_c[1]:g} C, "
        f"wear and dirt up to {cfg.teach_wear}; teaching's outlier check applied) and decides "
        f"the same {facts['test_coins']:,} test coins ({cfg.n} per cell: batches "
        f"{', '.join(map(str, cfg.batches))} of each coin and every counterfeit and "
        f"look-alike, at -10..45 C, wear up to {cfg.wear}, dirt up to {cfg.dirt}; seed "
        f"{cfg.seed}), on the same {len(result.data.classifier.coins_)} taught coins' features.",
        "",
        f"- **coinval**: security level {cfg.security}; per-feature temperature-compensated "
        "boxes, joint test of the inductive features, edge-count rule.",
        f"- **{MAHALANOBIS_NAME}**: {mahalanobis_text(cfg.mahalanobis_fr)}",
        f"- **min/max windows**: per coin and feature, [min, max] of the teach set widened by "
        f"{cfg.margin:g} of the range on each side (as traditional acceptors store them).",
        f"- **Gaussian (sklearn)**: Ledoit-Wolf covariance per coin on standardised features, "
        f"reject beyond the chi-square bound for alpha = {cfg.alpha:g}.",
        "- **IsolationForest (sklearn)**: 100 trees per coin, reject above the anomaly score "
        '0.5 (scikit-learn\'s `contamination="auto"` threshold).',
        "- Baselines see the continuous features only (each coin's columns finite for all its "
        "teach coins), no edge rule; only the Mahalanobis window models temperature.",
        *[f"- Note: {n}" for n in facts["notes"]],
        *[f"- Teach warning: {w}" for w in facts["teach_warnings"]],
        "",
        "## Summary at each method's own threshold",
        "",
        "| method | genuine accepted | lowest coin | false acceptance | worst family | "
        + " | ".join(f"FA at FR <= {pct(t, 1)}" for t in FR_TARGETS)
        + " | decisions/s | vs coinval | one coin ms | fit s | with features /s |",
        "|---|---:|---|---:|---|" + "---:|" * len(FR_TARGETS) + "---:|---:|---:|---:|---:|",
    ]
    for m in methods:
        lo_name, (_, lo) = m["lowest_genuine"]
        hi_name, (_, hi) = m["highest_false"]
        at = []
        for t in FR_TARGETS:
            hit = m["fa_at_fr"][str(t)]
            at.append("not reached" if hit is None else f"{pct(hit[0], 3)} (x{hit[1]:.2f})")
        lines.append(
            f"| {m['name']} | {pct(m['genuine_acceptance'])} | {pct(lo)} {lo_name} "
            f"| {pct(m['false_acceptance'], 3)} | {pct(hi, 3)} {hi_name} | "
            + " | ".join(at)
            + f" | {m['decisions_per_s']:,.0f} | {m['speed_vs_coinval']:.2f} "
            f"| {m['one_coin_ms']:.3f} | {m['fit_s']:.3f} | {m['end_to_end_per_s']:,.0f} |"
        )
    lines += [
        "",
        f"FA at FR <= x: the lowest false acceptance over all fakes among bound factors "
        f"{DET_FACTORS[0]:g}..{DET_FACTORS[-1]:g} whose false rejection of genuine coins is at "
        "most x (the factor in brackets). Speed: the same "
        f"{min(TIMING_ROWS, facts['test_coins']):,} coins' features decided as one batch (scored "
        f"in chunks of {SCORE_CHUNK:,} rows; best of 3), one coin's features alone (median), "
        "and decisions per second including "
        f"feature extraction ({facts['feature_coins_per_s']:,.0f} coins/s measured in this run, "
        "the same for every method). coinval's fit time is a refit of its regions.",
        "",
        "## Genuine coins accepted as themselves",
        "",
        "| coin | n " + header,
        "|---|---:" + align,
    ]
    for coin in sorted(methods[0]["per_coin"]):
        n = methods[0]["per_coin"][coin][0]
        cells = " | ".join(pct(m["per_coin"][coin][1]) for m in methods)
        lines.append(f"| {coin} | {n} | {cells} |")
    lines += [
        "",
        "## Counterfeits and look-alikes accepted (false acceptance)",
        "",
        "| family | n " + header,
        "|---|---:" + align,
    ]
    for fake in sorted(methods[0]["per_fake"]):
        n = methods[0]["per_fake"][fake][0]
        cells = " | ".join(pct(m["per_fake"][fake][1], 3) for m in methods)
        lines.append(f"| {fake} | {n} | {cells} |")
    if facts.get("ceiling"):
        lines += [
            "",
            "## What these features allow at best (an oracle, not an acceptor)",
            "",
            "A quadratic discriminant fitted on half of the test coins of the genuine coin each "
            "family resembles (every test batch and temperature) and half of the family itself, "
            f"set to accept {pct(CEILING_ACCEPTANCE, 1)} of the other genuine half: its false "
            "acceptance on the other half of the family. It has seen the other batches and the "
            "fakes, which no acceptor sees when taught, so no method on these features does "
            "better; a family above target here needs better features or a better head.",
            "",
            "| family | resembles | oracle false acceptance |",
            "|---|---|---:|",
        ]
        for fake, row in sorted(facts["ceiling"].items()):
            lines.append(f"| {fake} | {row['resembles']} | {pct(row['false_acceptance'], 3)} |")
    lines += ["", "## DET: false acceptance against false rejection as the bound moves", ""]
    lines.append(f"![DET curves]({det_png})" if det_png else f"(No plot: {note}.)")
    picks = [f for f in DET_FACTORS if any(np.isclose(f, (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)))]
    lines += [
        "",
        "| bound factor | " + " | ".join(f"{n} FR / FA" for n in names) + " |",
        "|---:" + "|---:" * len(names) + "|",
    ]
    for f in picks:
        row = []
        for m in methods:
            _, fr, fa = next(r for r in m["det"] if np.isclose(r[0], f))
            row.append(f"{pct(fr)} / {pct(fa, 3)}")
        lines.append(f"| {f:g} | " + " | ".join(row) + " |")
    lines += [
        "",
        "## Every genuine cell",
        "",
        "| coin | batch | n " + header,
        "|---|---:|---:" + align,
    ]
    for key in sorted(methods[0]["per_cell"]):
        coin, batch = key.split("|")
        n = methods[0]["per_cell"][key][0]
        cells = " | ".join(pct(m["per_cell"][key][1]) for m in methods)
        lines.append(f"| {coin} | {batch} | {n} | {cells} |")
    lines += ["", "Produced by `coinval bench accuracy`; figures in the JSON file beside this."]
    return "\n".join(lines) + "\n"
