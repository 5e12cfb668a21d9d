"""``coinval bench``: accuracy beside the baselines, probe, ceiling, heads, speed and scaling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coinval_cli.bench.flags import parse_heads
from coinval_cli.errors import UsageError
from coinval_cli.main import main
from coinval_eval import baselines, plots
from coinval_eval.plots import matplotlib_available
from coinval_eval.provenance import MEASURED
from tests.coinval_eval.conftest import (
    K2_COINS,
    K2_FAMILIES,
    K2_PER_BATCH,
    K2_PER_FAMILY,
    accuracy_json,
    benchmark_json,
)


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
    measured = text.splitlines()[2]
    assert MEASURED.match(measured)
    command = "coinval bench accuracy --head A --teach-n 12 --n 4 --batches 1"
    assert measured.endswith(f": `{command}`.") and facts["measured"]["command"] == command
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
    # The summary names the head and the teach the figures come from.
    assert main(["bench", "summary", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "| simulated head A (launch teach): lowest genuine cell | >= 99.5 % | " in summary


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--baselines", "minmax,knn"], "--baselines: unknown knn"),
        (["--head", "Z"], "--head"),
        (["--n", "0"], "--n: must be >= 1"),
        (["--minmax-margin=-1"], "--minmax-margin: must be >= 0"),
        (["--gaussian-alpha", "2"], "--gaussian-alpha: must lie within (0, 1)"),
        (["--teach-wear", "1.5"], "--teach-wear: a severity from 0 to 1"),
    ],
)
def test_bench_accuracy_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    code = main(["bench", "accuracy", "--out-dir", str(tmp_path), "--progress", "never", *flags])
    assert code == 2
    assert message in capsys.readouterr().err


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


def test_the_probe_decides_designs_the_simulator_does_not_list(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``coinval bench probe``: a 2 pound whose core is a fifth too small is
    refused on head A, one in its ring alloy throughout always; the report says so."""
    out = tmp_path / "probe.md"
    names = "two-pound-core-0.8,two-pound-one-metal,new-pound-core-1.1"
    argv = ["bench", "probe", "--heads", "A", "--n", "80", "--only", names]
    assert main([*argv, "--out", str(out)]) == 0
    measured = out.read_text().splitlines()[2]
    assert MEASURED.match(measured) and measured.endswith(f": `coinval {' '.join(argv)}`.")
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[2]
        for line in out.read_text().splitlines()
        if line.startswith("| ") and " % " in line
    }
    assert set(rows) == set(names.split(","))
    assert float(rows["two-pound-core-0.8"].split(" %")[0]) <= 5.0
    assert rows["two-pound-one-metal"].startswith("0.00 %")
    capsys.readouterr()
    for bad, named in (
        (["--only", "no-such-probe"], "--only"),
        (["--heads", "Z"], "--heads"),
        (["--heads", ","], "--heads"),
        (["--n", "0"], "--n"),
    ):
        assert main(["bench", "probe", *bad, "--out", str(tmp_path / "bad.md")]) == 2
        assert named in capsys.readouterr().err  # a usage error, not a traceback
    assert not (tmp_path / "bad.md").exists()


@pytest.mark.skipif(
    not baselines.sklearn_available(), reason="needs scikit-learn (baselines extra)"
)
def test_the_ceiling_separates_a_plain_fake_and_refuses_bad_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``coinval bench ceiling``: a 12-sided pound with no core is told apart by the
    oracle on both its inputs; unknown families or heads and tiny --n are usage errors."""
    out = tmp_path / "ceiling.md"
    argv = ["bench", "ceiling", "--heads", "A", "--families", "mono-12-sided", "--n", "40"]
    assert main([*argv, "--out", str(out)]) == 0
    assert MEASURED.match(out.read_text().splitlines()[2])
    row = next(line for line in out.read_text().splitlines() if line.startswith("| A |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:3] == ["mono-12-sided", "gb-100-2017"]
    assert len(cells) == 3 + 4 + 1  # two learners on two inputs, and the lowest
    assert cells[-1] == "0.00 %"
    capsys.readouterr()
    for bad, named in (
        (["--families", "no-such"], "--families"),
        (["--families", "gb-100-2017"], "--families"),
        (["--families", ","], "--families"),
        (["--heads", "Z"], "--heads"),
        (["--n", "3"], "--n"),
    ):
        assert main(["bench", "ceiling", *bad, "--out", str(tmp_path / "bad.md")]) == 2
        assert named in capsys.readouterr().err
    assert not (tmp_path / "bad.md").exists()


def test_heads_expand_ranges_and_refuse_unknown_ones() -> None:
    assert parse_heads("A, seed:3-5,B") == ("A", "seed:3", "seed:4", "seed:5", "B")
    assert parse_heads("A,SEED:2-3,seed:3,A") == ("A", "seed:2", "seed:3")
    for bad in ("", ",", "seed:5-3", "seed:x-2", "Z", "seed:1-2,nope"):
        with pytest.raises(UsageError, match="--heads"):
            parse_heads(bad)


def test_the_many_heads_report_sums_up_each_heads_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``coinval bench heads``: one trial per head, as ``coinval evaluate`` runs
    it; the report counts heads at target and families that got through."""
    from coinval_eval import heads
    from coinval_eval.trial import TrialConfig

    out = tmp_path / "heads.md"
    argv = ["bench", "heads", "--heads", "A,seed:2", "--n", "15", "--batches", "1", "--jobs", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    text = out.read_text()
    assert MEASURED.match(text.splitlines()[2])
    rows = [line for line in text.splitlines() if line.startswith(("| A |", "| seed:2 |"))]
    assert len(rows) == 2
    one = heads.run_head(TrialConfig(head="A", n=15, batches=(1,)))
    assert len(one.cells) == 6 and all(n == 15 for n, _ in one.cells.values())
    assert one.families["mono-12-sided"] == (15, 0)
    assert f"| {one.refused} |" in rows[0]
    capsys.readouterr()
    for bad, named in (
        (["--heads", "Z"], "--heads"),
        (["--heads", "seed:9-1"], "--heads"),
        (["--heads", "seed:1-5000"], "--heads"),
        (["--n", "0"], "--n"),
        (["--batches", "x"], "--batches"),
        (["--batches", "0,1"], "--batches"),  # batch 0 is the one taught
        (["--seed=-1"], "--seed"),
        (["--jobs", "0"], "--jobs"),
    ):
        assert main(["bench", "heads", *bad, "--out", str(tmp_path / "bad.md")]) == 2
        assert named in capsys.readouterr().err
    assert not (tmp_path / "bad.md").exists()


@pytest.mark.parametrize("command", ["probe", "ceiling", "heads"])
def test_a_report_that_cannot_be_written_is_a_usage_error_before_the_run(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Not a traceback once the measuring is done."""
    if command == "ceiling" and not baselines.sklearn_available():
        pytest.skip("the ceiling says first that it needs scikit-learn")
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = ["bench", command, "--heads", "A", "--n", "20", "--out", str(blocker / "report.md")]
    assert main(argv) == 2
    assert "--out" in capsys.readouterr().err


def test_speed_and_scaling_reports_from_the_benchmark_json(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``make bench`` turns its pytest-benchmark JSON into speed.md and scaling.md."""
    stats = {"median": 0.001, "mean": 0.001, "rounds": 5}
    extra = {"coins": 1, "eddy_samples": 256, "rim_samples": 512, "accepted_share": 1.0}
    data = {
        "datetime": "2026-01-01T00:00:00",
        "benchmarks": [{"name": "test_scaling_batch_size[1]", "stats": stats, "extra_info": extra}],
    }
    source = tmp_path / "benchmark.json"
    source.write_text(json.dumps(data))
    assert main(["bench", "speed", str(source), str(tmp_path / "speed.md")]) == 0
    assert "| test_scaling_batch_size[1] | 1.000 |" in (tmp_path / "speed.md").read_text()
    assert main(["bench", "scaling", str(source), str(tmp_path)]) == 0
    assert str(tmp_path / "scaling.md") in capsys.readouterr().out
    assert "| 1 | 256 | 512 | 1.000 |" in (tmp_path / "scaling.md").read_text()
    source.write_text(json.dumps({"benchmarks": []}))
    assert main(["bench", "scaling", str(source), str(tmp_path)]) == 2
    assert "no scaling benchmarks" in capsys.readouterr().err
    for command in ("speed", "scaling"):
        assert main(["bench", command, str(tmp_path / "missing.json"), str(tmp_path)]) == 2
        assert "missing.json" in capsys.readouterr().err


# -- bench-k2 ------------------------------------------------------------------


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
    # The k2 part alone still says when, where and by what command.
    measured = text.splitlines()[2]
    assert MEASURED.match(measured)
    assert measured.endswith(f"`coinval bench accuracy --parts k2 --k2 {k2_folder}`.")
    # The summary reads it: bench-k2's rows measured, the simulated head's not.
    assert main(["bench", "summary", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "| bench-k2 (circulation teach): lowest coin | >= 99.5 % | " in summary
    assert "| one coin decided, p99 | <= 1 ms | not measured (run `make bench`) |" in summary


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


# -- summary -------------------------------------------------------------------


def test_the_summary_puts_each_goal_beside_what_was_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "benchmark.json").write_text(json.dumps(benchmark_json()))
    (tmp_path / "accuracy-vs-baselines.json").write_text(json.dumps(accuracy_json()))
    assert main(["bench", "summary", str(tmp_path)]) == 0
    assert str(tmp_path / "summary.md") in capsys.readouterr().out
    text = (tmp_path / "summary.md").read_text()
    assert MEASURED.match(text.splitlines()[2])
    assert f"`coinval bench summary {tmp_path}`." in text
    assert "| one coin decided, p99 | <= 1 ms | 0.400 ms, met |  | `speed.md` |" in text
    # Nothing there: every row says how to measure it.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["bench", "summary", str(empty)]) == 0
    rows = [line for line in (empty / "summary.md").read_text().splitlines() if " | " in line]
    assert len(rows) == 1 + 16  # the header, then every goal
    assert all("not measured (run `make bench`)" in row for row in rows[1:])


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("benchmark.json", "{not json"),
        ("accuracy-vs-baselines.json", '{"k2": {"modes": [{"mode": "launch"}]}}'),
    ],
)
def test_a_summary_of_a_broken_file_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, content: str
) -> None:
    (tmp_path / name).write_text(content)
    assert main(["bench", "summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coinval: error: ") and str(tmp_path / name) in err
    assert "Traceback" not in err
    assert not (tmp_path / "summary.md").exists()
    assert main(["bench", "summary", str(tmp_path / "nowhere")]) == 2
    assert "REPORTS_DIR" in capsys.readouterr().err
