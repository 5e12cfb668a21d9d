"""`coinval bench accuracy` and the baselines it compares coinval with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coinval.features import CoinFeatures
from coinval_cli.main import main
from coinval_eval import baselines, plots
from coinval_eval.baselines import MinMaxWindows, make_baselines
from coinval_eval.plots import matplotlib_available, scaling_report


def _features(rows: list[list[float]]) -> CoinFeatures:
    values = np.array(rows, dtype=np.float64)
    n = values.shape[0]
    return CoinFeatures(values, np.zeros(n, dtype=np.int64), np.full(n, 20.0))


def test_minmax_windows_on_a_tiny_feature_set() -> None:
    taught = {
        "a": _features([[0.0, 10.0, 5.0], [1.0, 12.0, 5.0], [2.0, 11.0, 5.0]]),
        "b": _features([[100.0, 0.0, 5.0], [104.0, 2.0, 5.0], [102.0, 1.0, 5.0]]),
    }
    clf = MinMaxWindows(margin=0.25).fit(taught)
    assert clf.coins_ == ["a", "b"]
    # [min, max] widened by a quarter of the range (2 and 4, 2, 0) on each side.
    np.testing.assert_allclose(clf.low_, [[-0.5, 9.5, 5.0], [99.0, -0.5, 5.0]])
    np.testing.assert_allclose(clf.high_, [[2.5, 12.5, 5.0], [105.0, 2.5, 5.0]])
    probe = _features(
        [
            [1.0, 11.0, 5.0],  # centre of a
            [2.5, 11.0, 5.0],  # on a's upper x limit
            [3.0, 11.0, 5.0],  # just outside a
            [102.0, 1.0, 5.0],  # centre of b
            [1.0, 11.0, 5.1],  # a constant feature that moved: outside everything
        ]
    )
    score = clf.score(probe)
    assert score.shape == (5, 2)
    np.testing.assert_allclose(score[:4, 0], [0.0, 1.0, 4 / 3, score[3, 0]])
    assert score[3, 1] == 0.0 and score[3, 0] > 1.0
    assert np.argmin(score, axis=1)[:4].tolist() == [0, 0, 0, 1]
    assert score[4].min() > 1e3
    # Without a margin the taught extremes are the limits.
    tight = MinMaxWindows(margin=0.0).fit(taught).score(_features([[2.0, 12.0, 5.0]]))
    assert tight[0, 0] == pytest.approx(1.0)


def test_sklearn_baselines_are_skipped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baselines, "sklearn_available", lambda: False)
    methods, notes = make_baselines()
    assert [m.name for m in methods] == ["Mahalanobis window", "min/max windows"]
    assert len(notes) == 2 and all("scikit-learn is not installed" in n for n in notes)
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baselines(("knn",))


def test_bench_accuracy_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "reports"
    code = main(
        [
            "bench",
            "accuracy",
            "--head",
            "A",
            "--teach-n",
            "12",
            "--n",
            "4",
            "--batches",
            "1",
            "--progress",
            "never",
            "--out-dir",
            str(out),
        ]
    )
    assert code == 0
    text = (out / "accuracy-vs-baselines.md").read_text()
    facts = json.loads((out / "accuracy-vs-baselines.json").read_text())
    names = [m["name"] for m in facts["methods"]]
    assert names[0] == "coinval" and "min/max windows" in names
    if baselines.sklearn_available():
        assert "Gaussian (sklearn)" in names and "IsolationForest (sklearn)" in names
    else:
        assert "scikit-learn is not installed" in text
    for name in names:
        assert f"| {name} |" in text
    # One batch of each of the six taught coins and every fake family, 4 coins each.
    assert facts["test_coins"] == 4 * (6 + len(facts["methods"][0]["per_fake"]))
    assert "gb-100-2017" in text and "ring-alloy-off" in text
    assert facts["methods"][0]["speed_vs_coinval"] == pytest.approx(1.0)
    png = out / "accuracy-det.png"
    if matplotlib_available():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "](accuracy-det.png)" in text
    else:
        assert not png.exists() and "matplotlib is not installed" in text
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--baselines", "minmax,knn"], "--baselines: unknown knn"),
        (["--head", "Z"], "--head"),
        (["--n", "0"], "--n >= 1"),
    ],
)
def test_bench_accuracy_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    code = main(["bench", "accuracy", "--out-dir", str(tmp_path), "--progress", "never", *flags])
    assert code == 2
    assert message in capsys.readouterr().err


def test_scaling_report_from_benchmark_json(tmp_path: Path) -> None:
    def bench(name: str, coins: int, eddy: int, median: float) -> dict[str, object]:
        return {
            "name": name,
            "stats": {"median": median},
            "extra_info": {
                "coins": coins,
                "eddy_samples": eddy,
                "rim_samples": 2 * eddy,
                "accepted_share": 1.0,
            },
        }

    data = {
        "datetime": "2026-01-01T00:00:00",
        "benchmarks": [
            bench("test_scaling_batch_size[10]", 10, 256, 0.002),
            bench("test_scaling_batch_size[1]", 1, 256, 0.001),
            bench("test_scaling_trace_length[64]", 1000, 64, 0.01),
            bench("test_one_signature_to_one_decision", 1, 256, 9.0),
        ],
    }
    source = tmp_path / "benchmark.json"
    source.write_text(json.dumps(data))
    written = scaling_report(source, tmp_path)
    text = (tmp_path / "scaling.md").read_text()
    # Rows sorted by size; other benchmarks left out; figures from the JSON.
    assert text.index("| 1 | 256 | 512 | 1.000 | 1,000.0 | 1,000 |") < text.index("| 10 | 256 |")
    assert "| 1,000 | 64 | 128 | 10.000 | 10.0 | 100,000 | 100.0 % |" in text
    assert "9000" not in text
    if matplotlib_available():
        assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"
        assert len(written) == 2
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"benchmarks": []}))
    with pytest.raises(ValueError, match="no scaling benchmarks"):
        scaling_report(empty, tmp_path)


def test_bench_accuracy_without_the_extras(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(baselines, "sklearn_available", lambda: False)
    monkeypatch.setattr(plots, "matplotlib_available", lambda: False)
    flags = ["--head", "B", "--teach-n", "8", "--n", "2", "--batches", "2", "--progress", "never"]
    assert main(["bench", "accuracy", *flags, "--out-dir", str(tmp_path)]) == 0
    text = (tmp_path / "accuracy-vs-baselines.md").read_text()
    assert "gaussian: skipped, scikit-learn is not installed" in text
    assert "(No plot: matplotlib is not installed" in text
    assert not (tmp_path / "accuracy-det.png").exists()
    err = capsys.readouterr().err
    assert "no DET plot" in err and "iforest: skipped" in err


@pytest.mark.skipif(not baselines.sklearn_available(), reason="needs scikit-learn")
def test_separability_ceiling_tells_inseparable_from_separable_families() -> None:
    from coinval.classifier import CoinClassifier
    from coinval_eval.accuracy import Cell, Dataset, separability_ceiling

    rng = np.random.default_rng(3)
    n, width = 2000, 4
    genuine = rng.normal(0.0, 1.0, (n, width))
    twin = rng.normal(0.0, 1.0, (n, width))  # the same distribution: cannot be told apart
    far = rng.normal(0.0, 1.0, (n, width)) + np.array([8.0, 0.0, 0.0, 0.0])
    cells = [
        Cell("coin", "batch 1", "coin", 1, 0),
        Cell("twin", "-", None, 0, 1),
        Cell("far", "-", None, 0, 2),
    ]
    values = np.concatenate([genuine, twin, far])
    values[:, 0] += 22.0  # a diameter, so the families resemble the coin
    data = Dataset(
        coins=["coin"],
        teach={},
        classifier=CoinClassifier(),
        cells=cells,
        features=CoinFeatures(values, np.zeros(3 * n, dtype=np.int64), np.full(3 * n, 20.0)),
        cell_index=np.repeat(np.arange(3), n),
        truth_index=np.repeat(np.array([0, -1, -1]), n),
    )
    ceiling = separability_ceiling(data)
    assert set(ceiling) == {"twin", "far"}
    assert ceiling["twin"]["resembles"] == "coin"
    assert ceiling["twin"]["false_acceptance"] > 0.9
    assert ceiling["far"]["false_acceptance"] < 0.01


def test_the_probe_decides_designs_the_simulator_does_not_list(tmp_path: Path) -> None:
    """``python -m coinval_eval.probe``: a 2 pound whose core is a fifth too small is
    refused on head A, one in its ring alloy throughout always; the report says so."""
    from coinval_eval import probe

    out = tmp_path / "probe.md"
    names = "two-pound-core-0.8,two-pound-one-metal,new-pound-core-1.1"
    assert probe.main(["--heads", "A", "--n", "80", "--only", names, "--out", str(out)]) == 0
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[2]
        for line in out.read_text().splitlines()
        if line.startswith("| ") and " % " in line
    }
    assert set(rows) == set(names.split(","))
    assert float(rows["two-pound-core-0.8"].split(" %")[0]) <= 5.0
    assert rows["two-pound-one-metal"].startswith("0.00 %")
    for bad in (["--only", "no-such-probe"], ["--heads", "Z"], ["--heads", ","], ["--n", "0"]):
        with pytest.raises(SystemExit) as exit_:
            probe.main([*bad, "--out", str(tmp_path / "bad.md")])
        assert exit_.value.code == 2  # argparse's usage error, not a traceback
    assert not (tmp_path / "bad.md").exists()


def test_aligned_traces_centre_the_coin_whatever_its_speed() -> None:
    """The oracle's traces: a bump put on a mm axis lands at the grid's centre,
    at the same width whether the coin ran fast or slow; the no-coin level is gone."""
    from coinval.batch import SignatureBatch
    from coinval_eval.ceiling import aligned_traces

    index = np.arange(200.0)
    rate, speeds = 1000.0, np.array([250.0, 500.0])
    # A 4 mm-wide bump, centred at sample 70 (coin 1) or 120 (coin 2), on a level of 5.
    mm = index[None, :] * (speeds[:, None] / rate)
    centres_mm = np.array([70.0, 120.0]) * speeds / rate
    bump = np.exp(-0.5 * ((mm - centres_mm[:, None]) / 2.0) ** 2)
    batch = SignatureBatch(
        eddy_lo=5.0 + bump,
        eddy_hi=5.0 - 2.0 * bump,
        eddy_rate_hz=np.full(2, rate),
        rim=np.zeros((2, 64)),
        thickness_mm=np.full(2, 3.0),
        speed_mm_s=speeds,
        temperature_c=np.full(2, 20.0),
    )
    out = aligned_traces(batch, half_width_mm=8.0, points=33)
    assert out.shape == (2, 66)
    lo, hi = out[:, :33], out[:, 33:]
    np.testing.assert_allclose(lo[0], lo[1], atol=2e-3)  # speed does not matter
    assert np.argmax(lo[0]) == 16 and lo[0, 16] == pytest.approx(1.0, abs=2e-3)
    np.testing.assert_allclose(hi, -2.0 * lo, atol=1e-9)
    assert abs(lo[0, 0]) < 1e-3  # 8 mm out: the level is taken off


@pytest.mark.skipif(
    not baselines.sklearn_available(), reason="needs scikit-learn (baselines extra)"
)
def test_the_ceiling_separates_a_plain_fake_and_refuses_bad_flags(tmp_path: Path) -> None:
    """``python -m coinval_eval.ceiling``: a 12-sided pound with no core is told apart by the
    oracle on both its inputs; unknown families or heads and tiny --n are usage errors."""
    from coinval_eval import ceiling

    out = tmp_path / "ceiling.md"
    assert (
        ceiling.main(
            ["--heads", "A", "--families", "mono-12-sided", "--n", "40", "--out", str(out)]
        )
        == 0
    )
    row = next(line for line in out.read_text().splitlines() if line.startswith("| A |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:3] == ["mono-12-sided", "gb-100-2017"]
    assert len(cells) == 3 + 4 + 1  # two learners on two inputs, and the lowest
    assert cells[-1] == "0.00 %"
    for bad in (
        ["--families", "no-such"],
        ["--families", "gb-100-2017"],
        ["--families", ","],
        ["--heads", "Z"],
        ["--n", "3"],
    ):
        with pytest.raises(SystemExit) as exit_:
            ceiling.main([*bad, "--out", str(tmp_path / "bad.md")])
        assert exit_.value.code == 2
    assert not (tmp_path / "bad.md").exists()


def test_heads_expand_ranges_and_refuse_unknown_ones() -> None:
    from coinval_eval.flags import expand_heads

    assert expand_heads("A, seed:3-5,B") == ["A", "seed:3", "seed:4", "seed:5", "B"]
    assert expand_heads("A,SEED:2-3,seed:3,A") == ["A", "seed:2", "seed:3"]
    for bad in ("", ",", "seed:5-3", "seed:x-2", "Z", "seed:1-2,nope"):
        with pytest.raises(ValueError):
            expand_heads(bad)


def test_the_many_heads_report_sums_up_each_heads_trial(tmp_path: Path) -> None:
    """``python -m coinval_eval.heads``: one trial per head, as ``coinval evaluate`` runs
    it; the report counts heads at target and families that got through."""
    from coinval_eval import heads

    out = tmp_path / "heads.md"
    argv = ["--heads", "A,seed:2", "--n", "15", "--batches", "1", "--jobs", "2"]
    assert heads.main([*argv, "--out", str(out)]) == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith(("| A |", "| seed:2 |"))]
    assert len(rows) == 2
    one = heads.run_head("A", 15, "1")
    assert len(one.cells) == 6 and all(n == 15 for n, _ in one.cells.values())
    assert one.families["mono-12-sided"] == (15, 0)
    assert f"| {one.refused} |" in rows[0]
    for bad in (
        ["--heads", "Z"],
        ["--heads", "seed:9-1"],
        ["--heads", "seed:1-5000"],
        ["--n", "0"],
        ["--batches", "x"],
        ["--batches", "0,1"],  # batch 0 is the one taught
        ["--seed=-1"],
    ):
        with pytest.raises(SystemExit) as exit_:
            heads.main([*bad, "--out", str(tmp_path / "bad.md")])
        assert exit_.value.code == 2
    assert not (tmp_path / "bad.md").exists()


@pytest.mark.parametrize("module", ["probe", "ceiling", "heads"])
def test_a_report_that_cannot_be_written_is_a_usage_error_before_the_run(
    module: str, tmp_path: Path
) -> None:
    """Not a traceback once the measuring is done."""
    import importlib

    if module == "ceiling" and not baselines.sklearn_available():
        pytest.skip("the ceiling says first that it needs scikit-learn")
    blocker = tmp_path / "file"
    blocker.write_text("")
    bench = importlib.import_module(f"coinval_eval.{module}")
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--heads", "A", "--n", "20", "--out", str(blocker / "report.md")])
    assert exit_.value.code == 2


# -- bench-k2 ------------------------------------------------------------------

K2_COINS = ("gb-100-2017", "gb-050-1997")
K2_FAMILIES = ("mono-12-sided", "euro-1")
K2_PER_BATCH = 10
K2_PER_FAMILY = 10


def _write_gz(path: Path, objects: list[dict[str, object]]) -> None:
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for obj in objects:
            out.write(json.dumps(obj) + "\n")


@pytest.fixture(scope="module")
def k2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bench-k2-shaped folder from the simulator: two coins in four batches, two families."""
    from sim.population import generate, to_json_dicts

    root = tmp_path_factory.mktemp("bench-k2")
    for coin in K2_COINS:
        for batch in (1, 2, 3, 4):
            sigs = generate(
                coin, K2_PER_BATCH, head="B", seed=5, batch=batch, temperature_c=(-10.0, 45.0)
            )
            _write_gz(root / "genuine" / f"{coin}.batch{batch}.jsonl.gz", to_json_dicts(sigs, "B"))
    for family in K2_FAMILIES:
        sigs = generate(family, K2_PER_FAMILY, head="B", seed=5, temperature_c=(-10.0, 45.0))
        _write_gz(root / "counterfeit" / f"{family}.jsonl.gz", to_json_dicts(sigs, "B"))
    return root


def test_k2_teach_modes_split_the_collection(k2_folder: Path) -> None:
    """Launch teaches batch 1 and decides the rest; circulation teaches 25 drawn from
    batches 1-3 with a fixed seed and decides every other coin; no coin is in both."""
    from coinval_eval import k2

    collection = k2.load(k2_folder)
    assert sorted(collection.genuine) == sorted(K2_COINS)
    assert collection.head == "B" and not collection.problems
    launch = k2.split(collection, "launch")
    assert {c: len(s) for c, s in launch.teach.items()} == dict.fromkeys(K2_COINS, K2_PER_BATCH)
    assert sorted({c.batch for c in launch.cells if c.truth}) == [2, 3, 4]
    assert [c.kind for c in launch.cells if c.truth is None] == sorted(K2_FAMILIES)

    circulation = k2.split(collection, "circulation", seed=0)
    for coin in K2_COINS:
        taught = {s.id for s in circulation.teach[coin]}
        tested = {s.id for c in circulation.cells if c.truth == coin for s in c.signatures}
        assert len(taught) == k2.CIRCULATION_N
        assert not taught & tested
        assert len(taught | tested) == 4 * K2_PER_BATCH
        # Drawn from batches 1-3 mixed, never from batch 4.
        assert {s.id.split("-b")[1][0] for s in circulation.teach[coin]} <= {"1", "2", "3"}
    again = k2.split(collection, "circulation", seed=0)
    other = k2.split(collection, "circulation", seed=1)
    ids = [s.id for s in circulation.teach[K2_COINS[0]]]
    assert ids == [s.id for s in again.teach[K2_COINS[0]]]
    assert ids != [s.id for s in other.teach[K2_COINS[0]]]
    with pytest.raises(ValueError, match="teach mode"):
        k2.split(collection, "one-day")


def test_threshold_curve_counts_genuine_coins_only_as_themselves() -> None:
    from coinval_eval.k2 import fr_at_no_fa, threshold_curve

    best = np.array([0.2, 0.5, 0.9, 3.0, 0.7, 1.5, np.inf])
    best_coin = np.array([0, 1, 0, 0, 0, 1, 0])
    truth = np.array([0, 0, 1, 0, -1, -1, -1])  # the 2nd and 3rd are taken for another coin
    curve = threshold_curve(best, best_coin, truth)
    at = {float(t): (fr, fa) for t, fr, fa in curve}
    assert at[0.2] == (0.75, 0.0)
    assert at[1.0] == (0.75, pytest.approx(1 / 3))
    assert at[3.0] == (0.5, pytest.approx(2 / 3))  # the inf fake is never accepted
    assert fr_at_no_fa(curve) == (0.75, 0.5)


def test_bench_accuracy_on_a_k2_folder(
    k2_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The report has both teach modes' tables for coinval and the Mahalanobis window
    side by side, and a DET plot of each, whatever the figures are."""
    out = tmp_path / "reports"
    argv = ["bench", "accuracy", "--parts", "k2", "--k2", str(k2_folder), "--progress", "never"]
    assert main([*argv, "--out-dir", str(out)]) == 0
    text = (out / "accuracy-vs-baselines.md").read_text()
    facts = json.loads((out / "accuracy-vs-baselines.json").read_text())["k2"]
    modes = {m["mode"]: m for m in facts["modes"]}
    assert list(modes) == ["launch", "circulation"]
    assert modes["launch"]["genuine_test_coins"] == len(K2_COINS) * 3 * K2_PER_BATCH
    assert modes["circulation"]["genuine_test_coins"] == len(K2_COINS) * (4 * K2_PER_BATCH - 25)
    for mode, m in modes.items():
        assert m["counterfeit_test_coins"] == len(K2_FAMILIES) * K2_PER_FAMILY
        names = [row["name"] for row in m["methods"]]
        assert names[:3] == ["coinval", "Mahalanobis window", "min/max windows"]
        assert f"## bench-k2, {mode} teach" in text
        assert set(m["methods"][1]["per_family"]) == set(K2_FAMILIES)
        assert m["mahalanobis"] and set(m["mahalanobis"]) == set(K2_COINS)
    for heading in (
        "### Genuine coins accepted as themselves",
        "### Counterfeits and look-alikes accepted (false acceptance)",
        "### The Mahalanobis window of each coin",
        "| coin | n | coinval | Mahalanobis window |",
        "| family | n | coinval | Mahalanobis window |",
    ):
        assert text.count(heading) == 2, heading
    for coin in (*K2_COINS, *K2_FAMILIES):
        assert f"| {coin} |" in text
    if matplotlib_available():
        for mode in modes:
            png = out / f"k2-{mode}-det.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"](k2-{mode}-det.png)" in text
    assert "k2-circulation-det.png" in capsys.readouterr().out


def test_a_missing_k2_folder_is_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    missing = tmp_path / "no-such-bench-k2"
    argv = ["bench", "accuracy", "--parts", "k2", "--k2", str(missing), "--progress", "never"]
    assert main([*argv, "--out-dir", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"no bench-k2 collection at {missing}" in err and "skipped" in err
    text = (tmp_path / "out" / "accuracy-vs-baselines.md").read_text()
    assert "Not run: no bench-k2 collection" in text
    assert not list((tmp_path / "out").glob("k2-*.png"))
    # A folder that is there but holds no collection is a usage error, not a skip.
    (tmp_path / "empty").mkdir()
    argv[5] = str(tmp_path / "empty")
    assert main([*argv, "--out-dir", str(tmp_path / "out")]) == 2
    assert "no genuine/COIN.batchB.jsonl.gz files" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--parts", "sim,k3"], "--parts"),
        (["--mahalanobis-fr", "1"], "--mahalanobis-fr"),
        (["--k2-seed=-1"], "--k2-seed"),
    ],
)
def test_bench_accuracy_k2_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    code = main(["bench", "accuracy", "--out-dir", str(tmp_path), "--progress", "never", *flags])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_k2_teach_coinval_refuses_is_reported_beside_the_baselines(
    k2_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a foreign head a refused teach is a result, not a crash: the report says why,
    and the baselines are still fitted on the same teach coins."""
    import coinval.teach
    from coinval_eval.plots import det_plot

    def refuse(*args: object, **kwargs: object) -> None:
        raise coinval.teach.TeachError("gb-050-1997: this does not look like fifty pence")

    monkeypatch.setattr(coinval.teach, "teach", refuse)
    out = tmp_path / "reports"
    argv = ["bench", "accuracy", "--parts", "k2", "--k2", str(k2_folder), "--progress", "never"]
    assert main([*argv, "--baselines", "mahalanobis,minmax", "--out-dir", str(out)]) == 0
    text = (out / "accuracy-vs-baselines.md").read_text()
    assert text.count("- coinval: teach refused: gb-050-1997: this does not look like") == 2
    for mode in json.loads((out / "accuracy-vs-baselines.json").read_text())["k2"]["modes"]:
        coinval_row, mahalanobis_row, minmax_row = mode["methods"]
        assert not coinval_row["decided"] and coinval_row["det"] is None
        assert coinval_row["genuine_acceptance"] == 0.0
        assert mahalanobis_row["decided"] and mahalanobis_row["det"]
        assert minmax_row["name"] == "min/max windows"
    # A method that decides but gives no score is drawn as its operating point.
    if matplotlib_available():
        curve = np.array([[0.5, 0.2, 0.0], [1.0, 0.05, 0.01], [2.0, 0.0, 0.3]])
        png = tmp_path / "points.png"
        det_plot({"m": curve}, 20, 100, png, "t", points={"coinval": (0.02, 0.0)})
        assert png.read_bytes()[:4] == b"\x89PNG"
