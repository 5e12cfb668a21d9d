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
