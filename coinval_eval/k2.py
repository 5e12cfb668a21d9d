"""coinval and the baselines on the bench-k2 collection: a foreign head's labelled coins.

``../shared/bench-k2`` (see its README) holds signatures of a sensor head that
is neither the simulator's nor the one the engine is judged on: 60 coins of
each UK coin type from each of four mint batches, and 100 pieces of each
counterfeit or look-alike family.  It is a check that the rules generalise,
never a source of constants: nothing here is tuned to it, and every figure it
gives is read, not fed back.

Two teach modes, as a field teach happens (spec section 4):

* ``launch``: teach on batch 1 (a new coin's trial pieces, one batch); decide
  batches 2-4 and every family;
* ``circulation``: teach on 25 coins of each type drawn with a fixed seed from
  batches 1-3 mixed (coins from circulation); decide the rest of batches 1-3,
  batch 4 and every family.

coinval is taught and decides as users run it (:func:`coinval.teach.teach`,
:meth:`coinval.engine.Engine.decide_signatures`); its DET curve comes from the
classifier's deviation when the classifier exposes one.  The baselines are
fitted on the teach coins teaching kept (all of them when coinval refuses to
teach) and score the same features the engine decides on (measured against the
profile's no-coin levels where it has them): only the decision rules differ.
Used by ``coinval bench accuracy``.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt

from coinval.features import FEATURE_NAMES, CoinFeatures, extract_signatures
from coinval.jsonlines import read_lines
from coinval.signature import Signature, SignatureError, parse_signature
from coinval_eval.accuracy import FR_TARGETS, fa_at_fr, mahalanobis_text, pct
from coinval_eval.baselines import MahalanobisWindows, OpenSetMethod
from coinval_eval.errors import EvaluationError
from coinval_eval.trial import EVAL_AT, Progress

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MODES = ("launch", "circulation")
LAUNCH_BATCH = 1
"""The batch a launch teach uses: the first one minted."""
CIRCULATION_BATCHES = (1, 2, 3)
"""Batches the circulation teach draws from; the others are decided only."""
CIRCULATION_N = 25
"""Coins of each type in a circulation teach: the fewest a field teach uses (spec section 4)."""
DEFAULT_SEED = 0
"""Seed of the circulation teach's draw."""
GENUINE_FILE = re.compile(r"^(?P<coin>.+)\.batch(?P<batch>\d+)\.jsonl\.gz$")
FAMILY_FILE = re.compile(r"^(?P<family>.+)\.jsonl\.gz$")


class K2Error(EvaluationError):
    """The folder is not a bench-k2-shaped collection."""


@dataclass
class Collection:
    """The signatures of a bench-k2 folder.

    Attributes
    ----------
    root : Path
    genuine : dict of coin id to dict of batch number to list of Signature
    counterfeit : dict of family name to list of Signature
    problems : list of str
        Lines that were not valid signatures (skipped), one entry per file.
    """

    root: Path
    genuine: dict[str, dict[int, list[Signature]]]
    counterfeit: dict[str, list[Signature]]
    problems: list[str] = field(default_factory=list)

    @property
    def head(self) -> str | None:
        """The sensor head serial of the collection, if its signatures name one only."""
        heads = {
            s.head
            for batches in self.genuine.values()
            for sigs in batches.values()
            for s in sigs
            if s.head
        }
        return heads.pop() if len(heads) == 1 else None


def _read(path: Path) -> tuple[list[Signature], int]:
    """Signatures of one gzip JSON Lines file, and how many lines were not valid."""
    out: list[Signature] = []
    bad = 0
    with gzip.open(path, "rb") as stream:
        for line in read_lines(cast(IO[bytes], stream)):
            if line.error is not None:
                bad += 1
                continue
            try:
                out.append(parse_signature(line.obj))
            except SignatureError:
                bad += 1
    return out, bad


def load(root: Path) -> Collection:
    """Read ``genuine/COIN.batchB.jsonl.gz`` and ``counterfeit/FAMILY.jsonl.gz``.

    Raises
    ------
    K2Error
        When the folder has no genuine coins in that layout.
    OSError
        When a file cannot be read.
    """
    genuine: dict[str, dict[int, list[Signature]]] = {}
    counterfeit: dict[str, list[Signature]] = {}
    problems: list[str] = []
    for path in sorted((root / "genuine").glob("*.jsonl.gz")):
        match = GENUINE_FILE.match(path.name)
        if match is None:
            problems.append(f"{path.name}: not COIN.batchB.jsonl.gz, left out")
            continue
        sigs, bad = _read(path)
        if bad:
            problems.append(f"{path.name}: {bad} line(s) not valid signatures, skipped")
        genuine.setdefault(match["coin"], {})[int(match["batch"])] = sigs
    for path in sorted((root / "counterfeit").glob("*.jsonl.gz")):
        match = FAMILY_FILE.match(path.name)
        assert match is not None  # every *.jsonl.gz name matches
        sigs, bad = _read(path)
        if bad:
            problems.append(f"{path.name}: {bad} line(s) not valid signatures, skipped")
        counterfeit[match["family"]] = sigs
    if not genuine:
        raise K2Error(f"{root}: no genuine/COIN.batchB.jsonl.gz files")
    return Collection(root, genuine, counterfeit, problems)


# -- teach and test sets -------------------------------------------------------


@dataclass(frozen=True)
class TestCell:
    """Test coins of one coin and batch, or of one family (``truth`` None)."""

    kind: str
    truth: str | None
    batch: int | None
    signatures: list[Signature]


@dataclass
class Split:
    """What one teach mode teaches and decides."""

    mode: str
    description: str
    teach: dict[str, list[Signature]]
    cells: list[TestCell]


def _draw(coin: str, n_total: int, n: int, seed: int) -> IntArray:
    """``n`` of ``n_total`` indices, a fixed function of seed and coin (not of order)."""
    rng = np.random.default_rng([seed, zlib.crc32(coin.encode())])
    return np.sort(rng.choice(n_total, size=min(n, n_total), replace=False)).astype(np.int64)


def split(collection: Collection, mode: str, seed: int = DEFAULT_SEED) -> Split:
    """The teach coins and the test cells of a teach mode.

    Parameters
    ----------
    collection : Collection
    mode : "launch" or "circulation"
    seed : int
        Seed of the circulation teach's draw (unused for launch).

    Raises
    ------
    K2Error
        When a coin has no coins in the batches a mode teaches on.
    """
    families = [
        TestCell(family, None, None, sigs)
        for family, sigs in sorted(collection.counterfeit.items())
    ]
    teach: dict[str, list[Signature]] = {}
    cells: list[TestCell] = []
    if mode == "launch":
        for coin, batches in sorted(collection.genuine.items()):
            if LAUNCH_BATCH not in batches:
                raise K2Error(f"{coin}: no batch {LAUNCH_BATCH} to teach a launch on")
            teach[coin] = batches[LAUNCH_BATCH]
            cells += [
                TestCell(coin, coin, b, sigs)
                for b, sigs in sorted(batches.items())
                if b != LAUNCH_BATCH
            ]
        counts = sorted({len(s) for s in teach.values()})
        description = (
            f"taught on batch {LAUNCH_BATCH} ({'/'.join(map(str, counts))} coins of each type), "
            "as at a coin's launch; decides the other batches and every family"
        )
        return Split(mode, description, teach, cells + families)
    if mode != "circulation":
        raise ValueError(f"unknown teach mode {mode!r}: use {', '.join(MODES)}")
    for coin, batches in sorted(collection.genuine.items()):
        pool = [(b, s) for b in CIRCULATION_BATCHES for s in batches.get(b, [])]
        if not pool:
            raise K2Error(f"{coin}: no coins in batches {CIRCULATION_BATCHES} to teach on")
        chosen = set(_draw(coin, len(pool), CIRCULATION_N, seed).tolist())
        teach[coin] = [s for i, (_, s) in enumerate(pool) if i in chosen]
        rest: dict[int, list[Signature]] = {}
        for i, (b, s) in enumerate(pool):
            if i not in chosen:
                rest.setdefault(b, []).append(s)
        for b, sigs in batches.items():
            if b not in CIRCULATION_BATCHES:
                rest[b] = sigs
        cells += [TestCell(coin, coin, b, sigs) for b, sigs in sorted(rest.items()) if sigs]
    description = (
        f"taught on {CIRCULATION_N} coins of each type drawn (seed {seed}) from batches "
        f"{', '.join(map(str, CIRCULATION_BATCHES))} mixed, as from circulation; decides the "
        "rest of those batches, the other batches and every family"
    )
    return Split(mode, description, teach, cells + families)


# -- deciding ------------------------------------------------------------------


@dataclass
class MethodResult:
    """One method's decisions on a mode's test coins.

    Attributes
    ----------
    name : str
    accepted : ndarray of bool, shape (N,)
        Accepted as some coin, at the method's own threshold.
    as_self : ndarray of bool, shape (N,)
        Accepted as the coin it is (genuine coins only).
    curve : ndarray of shape (k, 3) or None
        Threshold, false rejection, false acceptance as the threshold moves
        (see :func:`threshold_curve`); None when the method gives no score.
    note : str or None
        Why the method has no decisions or no curve, or what to know about them.
    decided : bool
        False when the method could not be taught: it refused every coin.
    """

    name: str
    accepted: BoolArray
    as_self: BoolArray
    curve: FloatArray | None = None
    note: str | None = None
    decided: bool = True


def threshold_curve(best: FloatArray, best_coin: IntArray, truth: IntArray) -> FloatArray:
    """False rejection and false acceptance at every threshold on the best score.

    A coin is accepted at threshold ``t`` when its lowest normalised distance
    is at most ``t``; a genuine coin counts as accepted only as itself.

    Parameters
    ----------
    best : ndarray of shape (N,)
        Lowest score over the taught coins (1 is the method's own threshold).
    best_coin : ndarray of shape (N,)
        Index of that coin.
    truth : ndarray of shape (N,)
        Index of each genuine coin, -1 for counterfeits.

    Returns
    -------
    ndarray of shape (k, 3)
        Columns threshold, false rejection, false acceptance; one row per
        distinct finite score and one at threshold 1, in increasing threshold.
    """
    genuine = truth >= 0
    correct = np.sort(best[genuine & (best_coin == truth)])
    fakes = np.sort(best[~genuine])
    thresholds = np.unique(np.append(best[np.isfinite(best)], 1.0))
    fr = 1.0 - np.searchsorted(correct, thresholds, side="right") / max(int(genuine.sum()), 1)
    fa = np.searchsorted(fakes, thresholds, side="right") / max(int((~genuine).sum()), 1)
    return np.column_stack([thresholds, fr, fa])


def fr_at_no_fa(curve: FloatArray) -> tuple[float, float] | None:
    """Lowest false rejection with no counterfeit accepted, and its threshold."""
    ok = curve[:, 2] == 0.0
    if not ok.any():
        return None
    i = int(np.flatnonzero(ok)[-1])  # the widest threshold that still accepts no fake
    return float(curve[i, 1]), float(curve[i, 0])


def best_of(score: FloatArray) -> tuple[FloatArray, IntArray]:
    """Lowest score of every row and its column."""
    idx = np.argmin(score, axis=1).astype(np.int64)
    return score[np.arange(len(score)), idx], idx


@dataclass
class ModeResult:
    """Everything a report needs of one teach mode.

    Attributes
    ----------
    split : Split
    coins : list of str
        Taught coins, in the order of ``truth``'s indices.
    cell_index, truth : ndarray of shape (N,)
        Index into ``split.cells`` and into ``coins`` (-1 for fakes) of every test coin.
    methods : list of MethodResult
        coinval first.
    teach_kept : dict of coin id to int
        Teach coins each method was fitted on.
    notes : list of str
        Teach warnings and whatever else the report should say.
    mahalanobis : dict or None
        Columns, shrinkage and cut of each coin's Mahalanobis window.
    """

    split: Split
    coins: list[str]
    cell_index: IntArray
    truth: IntArray
    methods: list[MethodResult]
    teach_kept: dict[str, int]
    notes: list[str] = field(default_factory=list)
    mahalanobis: dict[str, dict[str, float]] | None = None


def _kept(sigs: Sequence[Signature], dropped: Sequence[str]) -> list[Signature]:
    """The teach coins teaching kept: ``dropped`` names them by id or ``#position``."""
    gone = set(dropped)
    return [s for i, s in enumerate(sigs) if (s.id or f"#{i + 1}") not in gone]


def _features_as_engine(profile: Any, signatures: Sequence[Signature]) -> CoinFeatures:
    """The features the engine decides on with this profile (a plain extraction without one).

    A profile may carry the head's no-coin levels, read off its teach coins;
    the engine measures coins against them, so coinval's score must too, and
    the baselines get the same features so that only the decision rules differ.
    """
    no_coin = getattr(profile, "no_coin", None) if profile is not None else None
    if no_coin is None:
        return extract_signatures(signatures)
    extract: Any = extract_signatures  # takes the levels where profiles carry them
    features: CoinFeatures = extract(signatures, no_coin)
    return features


@dataclass
class _Taught:
    """coinval's teach of one mode: what ``coinval teach`` would have written."""

    profile: Any
    kept: dict[str, list[Signature]]
    coins: list[str]
    notes: list[str]
    refused: str | None = None


def _teach_coinval(split: Split, head: str | None) -> _Taught:
    """Teach coinval as ``coinval teach`` does; a refusal is a result, not an error.

    ``kept`` holds the teach coins teaching kept (all of them when it refused),
    ``coins`` the taught coin ids in the profile's order (the split's when it
    refused).
    """
    from coinval.teach import TeachError, teach

    try:
        profile, report = teach(split.teach, head=head)
    except TeachError as exc:
        return _Taught(None, split.teach, list(split.teach), [], f"teach refused: {exc}")
    kept = {c: _kept(sigs, report.dropped.get(c, [])) for c, sigs in split.teach.items()}
    notes = [f"coinval teach warning: {w}" for w in report.warnings]
    return _Taught(profile, kept, list(profile.coins), notes)


def _decide_coinval(
    taught: _Taught, test: list[Signature], features: CoinFeatures, truth: IntArray
) -> MethodResult:
    """coinval's decisions as ``coinval classify`` gives them, and its curve where it can.

    ``features`` are the test coins' features as the engine computes them with
    this profile; ``truth`` indexes ``taught.coins`` (-1 for counterfeits).
    """
    from coinval.engine import Engine

    if taught.profile is None:
        none = np.zeros(len(test), dtype=bool)
        return MethodResult("coinval", none, none, None, taught.refused, decided=False)
    # A day on which both pounds are legal tender: the tables measure recognition.
    decisions = Engine(taught.profile).decide_signatures(test, EVAL_AT)
    accepted = np.array([d.accepted for d in decisions], dtype=bool)
    recognised = np.array([d.coin is not None for d in decisions], dtype=bool)
    decided = np.array([taught.coins.index(d.coin) if d.coin else -2 for d in decisions])
    result = MethodResult("coinval", accepted, accepted & (decided == truth))
    deviation: Callable[[CoinFeatures], FloatArray] | None = getattr(
        taught.profile.classifier, "deviation", None
    )
    if not callable(deviation):
        result.note = "the classifier gives no score: its operating point only"
        return result
    best, best_coin = best_of(np.asarray(deviation(features), dtype=np.float64))
    result.curve = threshold_curve(best, best_coin, truth)
    disagree = int(((best <= 1.0) != recognised).sum())
    if disagree:
        result.note = (
            f"the classifier's deviation and the engine's decisions disagree on {disagree} "
            "coin(s): the tables are the engine's, the curve the deviation's"
        )
    return result


def _nonfinite_note(features: CoinFeatures, genuine: BoolArray) -> list[str]:
    """A line on test coins with features not read (NaN) or absurd (infinite)."""
    bad = ~np.isfinite(features.values)
    if not bad.any():
        return []
    columns = ", ".join(
        f"{FEATURE_NAMES[i]} ({int(bad[genuine, i].sum())} genuine, "
        f"{int(bad[~genuine, i].sum())} counterfeit)"
        for i in np.flatnonzero(bad.any(axis=0))
    )
    rows = np.asarray(bad.any(axis=1))
    return [
        f"{int(rows[genuine].sum())} genuine and {int(rows[~genuine].sum())} counterfeit test "
        f"coins have a feature that is not finite: {columns}. A NaN is a feature not read: "
        "coinval, the Mahalanobis window and the Gaussian judge the coin on the features "
        "read, min/max on the other windows; the isolation forest refuses it"
    ]


def run_mode(
    split: Split,
    make_methods: Callable[[], list[OpenSetMethod]],
    head: str | None = None,
    progress: Progress | None = None,
) -> ModeResult:
    """Teach coinval and every baseline on a mode's teach coins; decide its test coins.

    Parameters
    ----------
    split : Split
    make_methods : callable returning fresh, unfitted baselines
    head : str, optional
        Head serial recorded in coinval's profile.
    progress : Progress, optional
        Advanced once for coinval and once per baseline.
    """
    test = [s for cell in split.cells for s in cell.signatures]
    cell_index = np.repeat(
        np.arange(len(split.cells)), [len(c.signatures) for c in split.cells]
    ).astype(np.int64)
    if progress is not None:
        progress.set_description_str(f"{split.mode}: coinval")
    taught = _teach_coinval(split, head)
    coins = taught.coins
    truth = np.array(
        [coins.index(c.truth) if c.truth is not None else -1 for c in split.cells], dtype=np.int64
    )[cell_index]
    features = _features_as_engine(taught.profile, test)
    results = [_decide_coinval(taught, test, features, truth)]
    if progress is not None:
        progress.update(1)
    notes = taught.notes + _nonfinite_note(features, truth >= 0)
    teach_features = {c: _features_as_engine(taught.profile, taught.kept[c]) for c in coins}
    mahalanobis = None
    for method in make_methods():
        if progress is not None:
            progress.set_description_str(f"{split.mode}: {method.name}")
        try:
            method.fit(teach_features)
        except ValueError as exc:
            none = np.zeros(len(test), dtype=bool)
            note = f"not fitted: {exc}"
            results.append(MethodResult(method.name, none, none, None, note, decided=False))
            continue
        finally:
            if progress is not None:
                progress.update(1)
        best, best_coin = best_of(method.score(features))
        accepted = best <= 1.0
        results.append(
            MethodResult(
                method.name,
                accepted,
                accepted & (best_coin == truth),
                threshold_curve(best, best_coin, truth),
            )
        )
        if isinstance(method, MahalanobisWindows):
            mahalanobis = {
                coin: {
                    "columns": int(method.columns_[c].sum()),
                    "shrinkage": float(method.shrinkage_[c]),
                    "cut": float(method.cut_[c]),
                }
                for c, coin in enumerate(method.coins_)
            }
    return ModeResult(
        split=split,
        coins=coins,
        cell_index=cell_index,
        truth=truth,
        methods=results,
        teach_kept={c: len(taught.kept[c]) for c in coins},
        notes=notes,
        mahalanobis=mahalanobis,
    )


# -- figures and report ----------------------------------------------------------


def _rate(hit: BoolArray, rows: BoolArray) -> tuple[int, float]:
    n = int(rows.sum())
    return n, float(hit[rows].mean()) if n else float("nan")


def _significant(x: FloatArray, digits: int = 6) -> FloatArray:
    """``x`` rounded to ``digits`` significant digits."""
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.where(x == 0, 1.0, np.abs(x)))))
    out: FloatArray = np.round(x * scale) / scale
    return out


def summary(result: ModeResult) -> dict[str, Any]:
    """The figures of one mode as plain data."""
    cells = result.split.cells
    genuine = result.truth >= 0
    methods = []
    for m in result.methods:
        per_coin = {
            coin: _rate(m.as_self, genuine & (result.truth == c))
            for c, coin in enumerate(result.coins)
        }
        per_cell = {
            f"{cell.kind}|{cell.batch}": _rate(m.as_self, result.cell_index == i)
            for i, cell in enumerate(cells)
            if cell.truth is not None
        }
        per_family = {
            cell.kind: _rate(m.accepted, result.cell_index == i)
            for i, cell in enumerate(cells)
            if cell.truth is None
        }
        curve = m.curve
        methods.append(
            {
                "name": m.name,
                "note": m.note,
                "decided": m.decided,
                "genuine_acceptance": _rate(m.as_self, genuine)[1],
                "false_acceptance": _rate(m.accepted, ~genuine)[1],
                "per_coin": per_coin,
                "per_cell": per_cell,
                "per_family": per_family,
                "fa_at_fr": (
                    None if curve is None else {str(t): fa_at_fr(curve, t) for t in FR_TARGETS}
                ),
                "fr_at_no_fa": None if curve is None else fr_at_no_fa(curve),
                # Six digits are more than a plot or a table reads, and keep the JSON small.
                "det": None if curve is None else _significant(curve).tolist(),
            }
        )
    return {
        "mode": result.split.mode,
        "description": result.split.description,
        "teach": {c: len(s) for c, s in result.split.teach.items()},
        "teach_kept": result.teach_kept,
        "genuine_test_coins": int(genuine.sum()),
        "counterfeit_test_coins": int((~genuine).sum()),
        "notes": result.notes,
        "mahalanobis": result.mahalanobis,
        "methods": methods,
    }


def det_png_name(mode: str) -> str:
    """File name of a mode's DET plot in the out dir."""
    return f"k2-{mode}-det.png"


def draw_det(facts: Mapping[str, Any], path: Path, head: str | None) -> None:
    """A mode's DET plot: a curve per method with a score, a dot per method without."""
    from coinval_eval.plots import det_plot

    curves = {m["name"]: np.asarray(m["det"]) for m in facts["methods"] if m["det"] is not None}
    points = {
        m["name"]: (1.0 - m["genuine_acceptance"], m["false_acceptance"])
        for m in facts["methods"]
        if m["det"] is None and m["decided"]
    }
    det_plot(
        curves,
        n_genuine=facts["genuine_test_coins"],
        n_fake=facts["counterfeit_test_coins"],
        path=path,
        title=f"DET on bench-k2 ({head or 'foreign head'}), {facts['mode']} teach: "
        "every threshold on each method's score",
        points=points,
    )


def _fa_cell(hit: Any) -> str:
    return "not reached" if hit is None else f"{pct(hit[0], 2)} (t {hit[1]:.3g})"


def render_mode(facts: Mapping[str, Any], det_png: str | None, note: str) -> list[str]:
    """Markdown lines of one mode's section."""
    methods = facts["methods"]
    names = [m["name"] for m in methods]
    header = " | ".join(names)
    align = "|---:" * len(names) + "|"
    kept = facts["teach_kept"]
    lines = [
        f"## bench-k2, {facts['mode']} teach",
        "",
        f"Every method {facts['description']}: {facts['genuine_test_coins']:,} genuine and "
        f"{facts['counterfeit_test_coins']:,} counterfeit test coins. Teach coins kept by "
        "coinval's outlier check (and given to the baselines): "
        + ", ".join(f"{c} {kept[c]}/{facts['teach'][c]}" for c in sorted(kept))
        + ".",
        "",
        *[f"- {n}" for n in facts["notes"]],
        *[f"- {m['name']}: {m['note']}" for m in methods if m["note"]],
        "",
        "| method | genuine accepted | false acceptance | "
        + " | ".join(f"FA at FR <= {pct(t, 1)}" for t in FR_TARGETS)
        + " | lowest FR with FA 0 |",
        "|---|---:|---:|" + "---:|" * len(FR_TARGETS) + "---:|",
    ]
    for m in methods:
        if m["fa_at_fr"] is None:
            at = ["no score"] * len(FR_TARGETS)
            none_fa = "no score"
        else:
            at = [_fa_cell(m["fa_at_fr"][str(t)]) for t in FR_TARGETS]
            none_fa = _fa_cell(m["fr_at_no_fa"])
        lines.append(
            f"| {m['name']} | {pct(m['genuine_acceptance'])} | "
            f"{pct(m['false_acceptance'], 2)} | " + " | ".join(at) + f" | {none_fa} |"
        )
    lines += [
        "",
        "Accepted at each method's own threshold (coinval: its decisions, as `coinval "
        "classify` gives them). FA at FR <= x: the lowest false acceptance over all families "
        "at any threshold t on the method's score (1 is its own) whose false rejection is at "
        "most x; lowest FR with FA 0: the false rejection at the widest threshold that "
        "accepts no counterfeit.",
        "",
        "### Genuine coins accepted as themselves",
        "",
        f"| coin | n | {header} |",
        "|---|---:" + align,
    ]
    first = methods[0]
    for coin in sorted(first["per_coin"]):
        n = first["per_coin"][coin][0]
        cells = " | ".join(pct(m["per_coin"][coin][1]) for m in methods)
        lines.append(f"| {coin} | {n} | {cells} |")
    lines += ["", f"| coin | batch | n | {header} |", "|---|---:|---:" + align]
    for key in sorted(first["per_cell"]):
        coin, batch = key.split("|")
        n = first["per_cell"][key][0]
        cells = " | ".join(pct(m["per_cell"][key][1]) for m in methods)
        lines.append(f"| {coin} | {batch} | {n} | {cells} |")
    lines += [
        "",
        "### Counterfeits and look-alikes accepted (false acceptance)",
        "",
        f"| family | n | {header} |",
        "|---|---:" + align,
    ]
    for family in sorted(first["per_family"]):
        n = first["per_family"][family][0]
        cells = " | ".join(pct(m["per_family"][family][1]) for m in methods)
        lines.append(f"| {family} | {n} | {cells} |")
    if facts["mahalanobis"]:
        lines += [
            "",
            "### The Mahalanobis window of each coin",
            "",
            "| coin | features | Ledoit-Wolf shrinkage | chi-square cut on d^2 |",
            "|---|---:|---:|---:|",
        ]
        for coin, row in sorted(facts["mahalanobis"].items()):
            lines.append(
                f"| {coin} | {row['columns']} | {row['shrinkage']:.3f} | {row['cut']:.1f} |"
            )
    lines += ["", "### DET: false acceptance against false rejection as the threshold moves", ""]
    lines.append(f"![DET, {facts['mode']} teach]({det_png})" if det_png else f"(No plot: {note}.)")
    return lines


def render(
    folder: Path,
    all_facts: Sequence[Mapping[str, Any]],
    det_pngs: Mapping[str, str | None],
    note: str,
    mahalanobis_fr: float,
    problems: Sequence[str] = (),
) -> str:
    """The bench-k2 part of the report.

    Parameters
    ----------
    folder : the collection read
    all_facts : output of :func:`summary` for each mode
    det_pngs : mode to file name of its DET plot beside the report, or None
    note : why plots are missing (used where a file name is None)
    mahalanobis_fr : the Mahalanobis window's stated false rejection
    problems : lines of the collection's files that were skipped
    """
    lines = [
        "# bench-k2: a foreign head's labelled coins (a check, not a tuning set)",
        "",
        f"Read from `{folder}`: signatures of a sensor head that is neither the simulator's "
        "nor the one the engine is judged on. Nothing in coinval or the baselines is tuned "
        "to it; these figures only say whether rules taken from teach coins and physics "
        "generalise. coinval is taught with `coinval.teach.teach` (as `coinval teach`) and "
        "decides with `Engine.decide_signatures` at "
        f"{EVAL_AT:%Y-%m-%d} (both pounds legal tender), its curve from the classifier's "
        "deviation; the baselines see the same teach coins and the same features.",
        "",
        f"- **{MahalanobisWindows.name}**: {mahalanobis_text(mahalanobis_fr)}",
        *[f"- Skipped input: {p}" for p in problems],
        "",
    ]
    for facts in all_facts:
        lines += render_mode(facts, det_pngs.get(facts["mode"]), note)
        lines.append("")
    return "\n".join(lines)
