"""How decision cost grows with batch size and with trace length (pytest-benchmark).

Signatures already in arrays to decisions (``Engine.decide_codes``: features,
regions, inhibits).  Batch size sweeps 1 to 10,000 coins on head A's trace
lengths; trace length sweeps eddy traces of 64 to 4096 samples with rim
traces twice as long (128 to 8192), on a fixed batch, by resampling head A's
signatures (sensor heads themselves stop at 1024 and 4096 samples).

Each result's ``extra_info`` holds sizes and rates (numbers only);
``python -m coinval_eval.plots scaling BENCHMARK.json DIR`` turns them into a
table and a plot.  Nothing here asserts a time.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from coinval.batch import SignatureBatch
from coinval.engine import ACCEPTED, Engine
from sim.gauges import resampled

from .conftest import mixed

AT = dt.datetime(2017, 6, 1, 12, tzinfo=dt.UTC)
BATCH_SIZES = (1, 10, 100, 1_000, 10_000)
EDDY_LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096)
LENGTH_BATCH = 1_000


def _record(benchmark, batch: SignatureBatch, accepted: float) -> None:
    # Numbers only: benchmarks.report formats every extra_info value as one.
    n = len(batch)
    benchmark.extra_info.update(
        coins=n,
        eddy_samples=int(batch.eddy_lo.shape[1]),
        rim_samples=int(batch.rim.shape[1]),
        accepted_share=accepted,
    )
    if benchmark.stats is not None:  # None under --benchmark-disable
        median = benchmark.stats.stats.median
        benchmark.extra_info.update(coins_per_s=n / median, us_per_coin=1e6 * median / n)


@pytest.mark.parametrize("n", BATCH_SIZES)
def test_scaling_batch_size(benchmark, engine: Engine, n: int) -> None:
    """Decisions for batches of 1 to 10,000 coins at head A's trace lengths."""
    batch = mixed(n, seed=21)
    _, reason = benchmark(engine.decide_codes, batch, AT)
    _record(benchmark, batch, float(np.mean(reason == ACCEPTED)))


@pytest.fixture(scope="module")
def length_base() -> SignatureBatch:
    return mixed(LENGTH_BATCH, seed=23)


@pytest.mark.parametrize("eddy_samples", EDDY_LENGTHS)
def test_scaling_trace_length(
    benchmark, engine: Engine, length_base: SignatureBatch, eddy_samples: int
) -> None:
    """Decisions for a batch of 1,000 coins with eddy 64..4096 and rim 128..8192 samples."""
    batch = resampled(length_base, eddy_samples, 2 * eddy_samples)
    _, reason = benchmark(engine.decide_codes, batch, AT)
    _record(benchmark, batch, float(np.mean(reason == ACCEPTED)))
