"""Reports from the benchmarks' pytest-benchmark JSON: scaling tables and plot, speed table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coinval_eval.errors import EvaluationError
from coinval_eval.plots import matplotlib_available, scaling_report
from coinval_eval.speed import load_benchmarks, speed_markdown


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


def test_the_speed_table_has_a_row_per_benchmark_with_its_figures() -> None:
    data = {
        "datetime": "2026-01-01T00:00:00",
        "machine_info": {"node": "n1", "cpu": {"brand_raw": "cpu", "count": 2}},
        "benchmarks": [
            {
                "name": "test_decide",
                "stats": {"median": 0.0012, "mean": 0.0015, "rounds": 40},
                "extra_info": {"coins": 1000, "share": 0.5, "head": "A"},
            }
        ],
    }
    text = speed_markdown(data)
    assert "Measured 2026-01-01 00:00:00 UTC on n1 (cpu, 2 logical cores; Python ?, ? ?)" in text
    assert "| test_decide | 1.200 | 1.500 | 40 | coins 1,000, head A, share 0.50 |" in text


def test_a_file_that_is_not_benchmark_json_is_an_evaluation_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(EvaluationError, match="not JSON"):
        load_benchmarks(broken)
    broken.write_text("[]")
    with pytest.raises(EvaluationError, match="not a pytest-benchmark JSON file"):
        load_benchmarks(broken)
