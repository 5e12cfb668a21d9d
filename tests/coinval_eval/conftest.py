"""A bench-k2-shaped folder drawn from the simulator, for the k2 part and its command."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

K2_COINS = ("gb-100-2017", "gb-050-1997")
K2_FAMILIES = ("mono-12-sided", "euro-1")
K2_PER_BATCH = 10
K2_PER_FAMILY = 10


def _write_gz(path: Path, objects: list[dict[str, object]]) -> None:
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


# -- the JSON files `coinval bench summary` reads, small and made up ------------

MEASURED_AT = "2026-01-02T03:04:05+00:00"


def benchmark_json() -> dict[str, object]:
    """A pytest-benchmark JSON file with the benchmarks the summary reads."""

    def bench(name: str, extra: dict[str, object], **more: object) -> dict[str, object]:
        stats = {"median": 0.001, "mean": 0.001, "rounds": 5}
        return {"name": name, "stats": stats, "extra_info": extra, **more}

    return {
        "datetime": MEASURED_AT,
        "machine_info": {"node": "n1", "cpu": {"brand_raw": "cpu", "count": 2}},
        "coinval": {"command": "python -m pytest benchmarks", "seconds": 12.0},
        "benchmarks": [
            bench("test_one_signature_to_one_decision", {"p50_ms": 0.2, "p99_ms": 0.4}),
            bench("test_in_memory_batch[1000]", {"coins": 1000, "coins_per_s": 250_000.0}),
            bench("test_in_memory_batch[20000]", {"coins": 20000, "coins_per_s": 90_000.0}),
            bench("test_classify_end_to_end", {"lines": 6000, "lines_per_s": 9_000.0}),
            bench(
                "test_mdb_reply_time_while_deciding_coins",
                {"mdb_reply_p99_ms": 6.5, "mdb_commands": 900},
            ),
        ],
    }


def accuracy_json() -> dict[str, object]:
    """What `coinval bench accuracy` writes, cut to the figures the summary reads."""

    def sim(lowest: float, highest: float) -> dict[str, object]:
        return {
            "per_cell": {"gb-100-2017|1": [100, 1.0], "gb-020-1982|3": [100, lowest]},
            "per_fake": {"euro-1": [200, 0.0], "ring-alloy-off": [200, highest]},
        }

    def k2(overall: float, lowest: float, highest: float) -> dict[str, object]:
        return {
            "decided": True,
            "genuine_acceptance": overall,
            "per_coin": {"gb-100-2017": [120, 1.0], "gb-050-1997": [120, lowest]},
            "per_family": {"euro-1": [100, 0.0], "mono-12-sided": [100, highest]},
        }

    return {
        "config": {"head": "seed:20261126", "teach_batches": [5, 6, 7, 8]},
        "measured": {"at": MEASURED_AT, "machine": "n1 (cpu)", "seconds": 1.0, "command": "x"},
        "methods": [
            {"name": "coinval", **sim(0.996, 0.0005)},
            {"name": "min/max windows", **sim(0.5, 0.5)},
            {"name": "Mahalanobis window", **sim(0.98, 0.02)},
        ],
        "k2": {
            "modes": [
                {
                    "mode": "launch",
                    "methods": [
                        {"name": "coinval", **k2(0.999, 0.9975, 0.0)},
                        {"name": "Mahalanobis window", **k2(0.97, 0.95, 0.01)},
                    ],
                },
                {
                    "mode": "circulation",
                    "methods": [
                        {"name": "coinval", **k2(float("nan"), 0.0, 0.0), "decided": False},
                        {"name": "Mahalanobis window", **k2(0.99, 0.985, 0.03)},
                    ],
                },
            ]
        },
    }
