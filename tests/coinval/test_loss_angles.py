"""Loss angles (signature v1.1): read where the coin stands clear of the noise,
left out where a channel all but loses it, never switched off by the loss trace."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from coinval.batch import SignatureBatch
from coinval.engine import Engine
from coinval.features import FEATURE_NAMES, LOSS_ANGLES, extract
from coinval.teach import teach
from sim.population import generate

HEAD = "D"  # a simulated head whose board reports loss traces
AT = dt.datetime(2017, 6, 1, 12, tzinfo=dt.UTC)
ANGLES = [FEATURE_NAMES.index(name) for name in LOSS_ANGLES]


def _with_loss(batch: SignatureBatch, lo: np.ndarray, hi: np.ndarray) -> SignatureBatch:
    return dataclasses.replace(batch, eddy_lo_loss=lo, eddy_hi_loss=hi)


def test_a_loss_trace_of_noise_gives_a_phase_far_from_the_coins_not_none() -> None:
    """The floor under which a phase counts as unread comes from the reactive trace:
    a loss trace that is itself noise (or garbage) must be judged, not left out."""
    batch = generate("gb-100-2017", 40, head=HEAD, seed=3, wear=0.5, dirt=0.5)
    assert batch.has_loss and batch.eddy_lo_loss is not None and batch.eddy_hi_loss is not None
    clean = extract(batch).values[:, ANGLES]
    assert np.isfinite(clean).all()
    rng = np.random.default_rng(4)
    scale = 3.0 * np.abs(batch.eddy_lo_loss).max()
    noisy = _with_loss(
        batch,
        rng.normal(0.0, scale, batch.eddy_lo_loss.shape),
        rng.normal(0.0, scale, batch.eddy_hi_loss.shape),
    )
    angles = extract(noisy).values[:, ANGLES]
    assert np.isfinite(angles).all()
    assert (np.abs(angles - clean).max(axis=1) > 0.2).mean() > 0.9


def test_a_teach_keeps_coins_whose_weak_channel_reads_no_phase_and_v1_coins_are_invalid() -> None:
    samples = {
        c: generate(c, 30, head=HEAD, seed=5, wear=0.5, dirt=0.5).signatures()
        for c in ("gb-100-2017", "gb-010-2012")
    }
    # A few 10p whose high channel reads no phase: not strays of the teach file.
    feats = extract(SignatureBatch.from_signatures(samples["gb-010-2012"])).values[:, ANGLES]
    profile, report = teach(samples, head=HEAD)
    assert not report.dropped.get("gb-010-2012"), (report.dropped, np.isnan(feats).sum())
    assert profile.requires_loss
    engine = Engine(profile)
    v1 = dataclasses.replace(
        generate("gb-100-2017", 5, head=HEAD, seed=6), eddy_lo_loss=None, eddy_hi_loss=None
    )
    index, reason = engine.decide_codes(v1, AT)
    assert (index == -1).all()
    assert {r.reason for r in engine.decide_batch(v1, AT)} == {"invalid"}
    assert set(reason.tolist()) == {4}  # REASONS.index("invalid")
