"""What a head's signatures allow at best: a supervised oracle's false acceptance.

Not an acceptor.  For each counterfeit family, a gradient-boosted classifier
(scikit-learn) is trained on genuine coins of the coin the family imitates from
nine mint batches *and* on the family's own fakes, then set to accept 99.5 % of
genuine coins from eight further batches (other seeds) and asked how many
further fakes (other counterfeit batches) it still takes for genuine.

It sees what no acceptor sees when taught (other batches, the fakes
themselves), so its false acceptance is a floor for any open-set method.  It is
read twice: on coinval's features, and on those plus both eddy traces put on a
millimetre axis around the coin's centre, so that a floor above a target says
the signature itself does not tell the family apart on that head, not only
that coinval's features do not.

    python -m benchmarks.ceiling [--heads A,seed:20261126] [--n 400]
        [--families ring-alloy-off,cast-round-pound,struck-brass-round-pound]
        [--out reports/ceiling.md]

Needs the ``baselines`` extra (scikit-learn).  Test conditions are those of
``coinval evaluate``: -10..45 C, wear and dirt up to 0.5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.baselines import sklearn_available
from coinval.batch import SignatureBatch
from coinval.cli_evaluate import GENUINE
from coinval.features import extract
from sim.heads import get_head
from sim.population import generate, kinds

FloatArray = npt.NDArray[np.float64]

ACCEPTANCE = 0.995
"""Genuine acceptance at which the oracle's false acceptance is read."""
TRAIN_BATCHES = {"genuine": range(0, 9), "fake": range(1, 5)}
TEST_BATCHES = {"genuine": range(9, 17), "fake": range(5, 9)}
TRAIN_SEED, TEST_SEED = 21, 22
DEFAULT_FAMILIES = "ring-alloy-off,cast-round-pound,struck-brass-round-pound"
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


def _oracle_false_acceptance(
    genuine_train: FloatArray,
    fake_train: FloatArray,
    genuine_test: FloatArray,
    fake_test: FloatArray,
) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.vstack([genuine_train, fake_train])
    y = np.r_[np.zeros(len(genuine_train)), np.ones(len(fake_train))]
    model = HistGradientBoostingClassifier(max_iter=300, random_state=0).fit(x, y)
    bound = np.quantile(model.predict_proba(genuine_test)[:, 1], ACCEPTANCE)
    return float(np.mean(model.predict_proba(fake_test)[:, 1] <= bound))


def imitated_coin(family: str, head: str) -> str:
    """The genuine coin whose median diameter is nearest the family's."""

    def diameter(kind: str) -> float:
        return float(
            np.median(extract(generate(kind, 40, head=head, seed=5, batch=1)).values[:, 0])
        )

    own = diameter(family)
    return min(GENUINE, key=lambda coin: abs(diameter(coin) - own))


def ceiling(head: str, family: str, n: int) -> tuple[str, float, float]:
    """The imitated coin and the oracle's false acceptance on features, and on features + traces."""
    coin = imitated_coin(family, head)
    g_train = _rows(coin, head, TRAIN_SEED, TRAIN_BATCHES["genuine"], n)
    f_train = _rows(family, head, TRAIN_SEED, TRAIN_BATCHES["fake"], 2 * n)
    g_test = _rows(coin, head, TEST_SEED, TEST_BATCHES["genuine"], n)
    f_test = _rows(family, head, TEST_SEED, TEST_BATCHES["fake"], 2 * n)
    on_features, on_traces = (
        _oracle_false_acceptance(g_train[i], f_train[i], g_test[i], f_test[i]) for i in (0, 1)
    )
    return coin, on_features, on_traces


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ceiling", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--heads", default="A,seed:20261126", help="simulated heads, comma-separated"
    )
    parser.add_argument(
        "--families", default=DEFAULT_FAMILIES, help="counterfeit families, comma-separated"
    )
    parser.add_argument(
        "--n", type=int, default=400, help="genuine coins a batch (fakes: twice that)"
    )
    parser.add_argument("--out", default="reports/ceiling.md", help="markdown report to write")
    args = parser.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    known = [k for k, what in kinds().items() if not what.startswith("genuine")]
    unknown = [f for f in families if f not in known]
    if unknown or not families:
        parser.error(f"--families: unknown {unknown}; known: {', '.join(known)}")
    if args.n < 20:
        parser.error("--n must be >= 20 (the 99.5 % bound needs coins to stand on)")
    heads = [h for h in args.heads.split(",") if h]
    for head in heads or [""]:
        try:
            get_head(head)
        except ValueError as exc:
            parser.error(f"--heads: {exc}")
    if not sklearn_available():
        print(
            "python -m benchmarks.ceiling needs scikit-learn: pip install -e '.[baselines]'",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    lines = [
        "# What the signatures allow at best: a supervised oracle",
        "",
        f"Measured {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} on {platform.node()}, "
        f"`python -m benchmarks.ceiling --heads {args.heads} --families {args.families} "
        f"--n {args.n}`. Gradient boosting trained on the imitated coin's batches "
        f"{TRAIN_BATCHES['genuine'].start}-{TRAIN_BATCHES['genuine'].stop - 1} and the family's "
        f"batches {TRAIN_BATCHES['fake'].start}-{TRAIN_BATCHES['fake'].stop - 1}, set to accept "
        f"{100 * ACCEPTANCE:.1f} % of genuine batches {TEST_BATCHES['genuine'].start}-"
        f"{TEST_BATCHES['genuine'].stop - 1}; false acceptance of the family's batches "
        f"{TEST_BATCHES['fake'].start}-{TEST_BATCHES['fake'].stop - 1}. -10..45 C, wear and dirt "
        "up to 0.5. A floor for any acceptor: it has seen the fakes and every batch.",
        "",
        "| head | family | imitates | on coinval's features | on features + both traces |",
        "|---|---|---|---:|---:|",
    ]
    for head in heads:
        for family in families:
            print(f"{head} {family} ...", file=sys.stderr, flush=True)
            coin, on_features, on_traces = ceiling(head, family, args.n)
            shares = f"{100 * on_features:.2f} % | {100 * on_traces:.2f} %"
            lines.append(f"| {head} | {family} | {coin} | {shares} |")
    lines += ["", f"({time.perf_counter() - started:.0f} s.)"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
