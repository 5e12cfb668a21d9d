"""The headline summary: each goal beside what the benchmark and accuracy JSON files hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coinval_eval.errors import EvaluationError
from coinval_eval.provenance import MEASURED
from coinval_eval.summary import (
    NOT_MEASURED,
    accuracy_rows,
    fleet_rows,
    load_json,
    speed_rows,
    summary_report,
)
from coinval_eval.trial import EVALUATION_HEAD
from tests.coinval_eval.conftest import accuracy_json, benchmark_json


def _table(text: str) -> dict[str, list[str]]:
    """goal -> [target, measured, baseline, report] of the summary's one table."""
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    return {row[0]: row[1:] for row in cells}


def _write(folder: Path, benchmarks: object = None, accuracy: object = None) -> None:
    if benchmarks is not None:
        (folder / "benchmark.json").write_text(json.dumps(benchmarks))
    if accuracy is not None:
        (folder / "accuracy-vs-baselines.json").write_text(json.dumps(accuracy))


def test_every_goal_is_a_row_with_its_target_coinvals_figure_and_the_baselines(
    tmp_path: Path,
) -> None:
    _write(tmp_path, benchmark_json(), accuracy_json())
    out = summary_report(tmp_path, "coinval bench summary reports")
    assert out == tmp_path / "summary.md"
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# ") and MEASURED.match(lines[2])
    assert lines[2].endswith("`coinval bench summary reports`.")
    assert "`benchmark.json` (measured 2026-01-02 03:04:05 UTC)" in text
    assert "| goal | target | measured | Mahalanobis window | report |" in text
    table = _table(text)
    assert len(table) == 4 + 4 + 2 + 3 + 3
    assert table["one coin decided, p99"] == ["<= 1 ms", "0.400 ms, met", "", "`speed.md`"]
    # The largest batch is the one the goal is about.
    assert table["coins decided in memory"][:2] == [
        ">= 100,000/s",
        "90,000/s (20,000 a batch), missed",
    ]
    assert table["`coinval classify` lines"][1] == "9,000/s (6,000 lines), met"
    sim = "simulated held-out head (circulation teach)"
    assert table[f"{sim}: lowest genuine cell"] == [
        ">= 99.5 %",
        "99.60 % (gb-020-1982, batch 3), met",
        "98.00 %",
        "`accuracy-vs-baselines.md`",
    ]
    assert table[f"{sim}: highest family false acceptance"][:3] == [
        "<= 0.1 %",
        "0.05 % (ring-alloy-off), met",
        "2.00 %",
    ]
    launch = "bench-k2 (launch teach)"
    assert table[f"{launch}: genuine accepted"][1:3] == ["99.90 %, met", "97.00 %"]
    assert table[f"{launch}: lowest coin"][1:3] == ["99.75 % (gb-050-1997), met", "95.00 %"]
    # None accepted: no family to name.
    assert table[f"{launch}: highest family false acceptance"][1:3] == ["0.00 %, met", "1.00 %"]
    # A teach coinval refused: missed, the baseline's figure still beside it.
    refused = table["bench-k2 (circulation teach): lowest coin"]
    assert refused[1:3] == ["not taught (teach refused), missed", "98.50 %"]


def test_a_missing_file_leaves_its_rows_not_measured(tmp_path: Path) -> None:
    _write(tmp_path, benchmarks=benchmark_json())
    table = _table(summary_report(tmp_path, "coinval bench summary x").read_text())
    assert table["one coin decided, p99"][1] == "0.400 ms, met"
    accuracy = [row for goal, row in table.items() if "head" in goal or "bench-k2" in goal]
    assert len(accuracy) == 8 and all(row[1] == NOT_MEASURED for row in accuracy)
    assert "`accuracy-vs-baselines.json` (not found)" in (tmp_path / "summary.md").read_text()

    (tmp_path / "benchmark.json").unlink()
    _write(tmp_path, accuracy=accuracy_json())
    table = _table(summary_report(tmp_path, "coinval bench summary x").read_text())
    speed = [table[g] for g in ("one coin decided, p99", "coins decided in memory")]
    assert all(row[1] == NOT_MEASURED for row in speed)
    assert table["bench-k2 (launch teach): lowest coin"][1].endswith("met")


def test_parts_not_run_are_said_so() -> None:
    """A k2-only run has no simulated part; a skipped bench-k2 says why."""
    facts = accuracy_json()
    del facts["methods"]
    facts["k2"] = {"skipped": "no bench-k2 collection at /nowhere"}
    rows = {r.goal: r.measured for r in accuracy_rows(facts, EVALUATION_HEAD)}
    assert rows["simulated held-out head: lowest genuine cell"] == NOT_MEASURED
    assert rows["bench-k2 (launch teach): lowest coin"] == "not measured (no bench-k2 collection)"
    # A benchmark file without one of the benchmarks names it.
    data = benchmark_json()
    data["benchmarks"] = data["benchmarks"][:1]  # type: ignore[index]
    measured = [r.measured for r in speed_rows(data)]
    assert measured[1] == "not measured (no test_in_memory_batch in `benchmark.json`)"
    assert measured[3] == (
        "not measured (no test_mdb_reply_time_while_deciding_coins in `benchmark.json`)"
    )


def test_the_mdb_reply_goal_reads_the_vmc_side_p99() -> None:
    rows = {r.goal: r for r in speed_rows(benchmark_json())}
    row = rows["MDB changer's reply on a pty while deciding, p99"]
    assert row.target == "<= 5 ms" and row.measured == "6.50 ms (900 commands), missed"


def test_the_one_coin_p99_falls_back_on_the_rounds_of_the_benchmark() -> None:
    data = benchmark_json()
    one = data["benchmarks"][0]  # type: ignore[index]
    one["extra_info"] = {}
    one["stats"]["data"] = [0.0002] * 90 + [0.002] * 10  # seconds a round
    assert speed_rows(data)[0].measured == "2.000 ms (p99 of rounds), missed"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("benchmark.json", "{not json", "not JSON"),
        ("benchmark.json", "[]", "not a JSON object"),
        ("benchmark.json", '{"benchmarks": [1, 2]}', "not a pytest-benchmark JSON file"),
        ("accuracy-vs-baselines.json", "", "not JSON"),
        ("accuracy-vs-baselines.json", '{"methods": 3}', "not what `coinval bench accuracy`"),
        ("accuracy-vs-baselines.json", '{"k2": {"modes": [{}]}}', "not what `coinval bench"),
    ],
)
def test_a_file_that_is_not_what_its_name_says_is_an_evaluation_error(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(EvaluationError, match=message) as info:
        summary_report(tmp_path, "coinval bench summary x")
    assert name in str(info.value)
    assert not (tmp_path / "summary.md").exists()


def test_load_json_is_none_for_a_missing_file(tmp_path: Path) -> None:
    assert load_json(tmp_path / "nothing.json") is None


def test_classify_is_judged_on_the_biggest_file_measured(tmp_path: Path) -> None:
    """Worker start-up weighs on the small file; the 1 GB run is the sustained rate."""
    data = benchmark_json()
    benches = data["benchmarks"]
    assert isinstance(benches, list)
    benches.append(
        {
            "name": "test_classify_one_gigabyte_memory",
            "stats": {"median": 9.0, "mean": 9.0, "rounds": 1},
            "extra_info": {"lines": 96_000, "lines_per_s": 7_000.0},
        }
    )
    _write(tmp_path, data, accuracy_json())
    table = _table(summary_report(tmp_path, "coinval bench summary reports").read_text())
    assert table["`coinval classify` lines"][1] == "7,000/s (96,000 lines), missed"


def test_the_fleet_goals_read_the_fleet_benchmarks() -> None:
    data = benchmark_json()
    rows = {r.goal: r for r in fleet_rows(data)}
    assert len(rows) == 4 and all(r.report == "`fleet.md`" for r in rows.values())
    missing = "not measured (no test_fleet_ingest_kills_and_exactly_once in `benchmark.json`)"
    assert rows["fleet events ingested, sustained"].measured == missing
    benches = data["benchmarks"]
    assert isinstance(benches, list)
    stats = {"median": 1.0, "mean": 1.0, "rounds": 1}
    ingest = {
        "fleet_events_per_s": 4_321.0,
        "fleet_offered_per_s": 4_998.0,
        "fleet_get_p99_ms": 12.5,
        "fleet_exact": True,
    }
    benches.append(
        {"name": "test_fleet_ingest_kills_and_exactly_once", "stats": stats, "extra_info": ingest}
    )
    benches.append(
        {
            "name": "test_fleet_stats_p99_with_10_million_events",
            "stats": stats,
            "extra_info": {"stats_p99_ms": 250.0, "stats_worst_route": "/api/v1/stats"},
        }
    )
    rows = {r.goal: r for r in fleet_rows(data)}
    assert rows["fleet events ingested, sustained"].target == ">= 5,000/s"
    assert rows["fleet events ingested, sustained"].measured == "4,321/s (offered 4,998/s), missed"
    assert rows["API GET p99 while the fleet reports"].measured == "12.5 ms, met"
    ingest["fleet_get_failed_share"] = 0.02  # a failed GET has no latency to count
    rows = {r.goal: r for r in fleet_rows(data)}
    assert rows["API GET p99 while the fleet reports"].measured == "12.5 ms (2.0 % failed), missed"
    assert rows["fleet stats p99 with 10 M events"].measured == ("250.0 ms (/api/v1/stats), missed")
    assert rows["fleet exactly once after kill -9 (central and sim)"].measured == "yes, met"
    assert [r.measured for r in fleet_rows(None)] == [NOT_MEASURED] * 4
