"""The engine: one coin at the gate is decided as a batch would decide it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from coinval.batch import SignatureBatch
from coinval.engine import Engine
from coinval.profile import Profile
from coinval.signature import Signature
from coinval.teach import teach
from sim.population import generate

HEAD = "D"  # a simulated head whose board reports loss traces
AT = dt.datetime(2020, 6, 1, 12, tzinfo=dt.UTC)  # the round pound is no longer legal tender
TAUGHT = ("gb-100-2017", "gb-100-1983", "gb-010-2012", "gb-020-1982")


@pytest.fixture(scope="module")
def profile() -> Profile:
    samples = {
        c: generate(c, 25, head=HEAD, seed=7, wear=0.5, dirt=0.5).signatures() for c in TAUGHT
    }
    taught, _ = teach(samples, head=HEAD)
    # The 20p inhibited by the operator, the 10p refused by an override.
    return taught.with_settings(
        inhibited=frozenset({"gb-020-1982"}), legal_tender_override={"gb-010-2012": False}
    )


def _population() -> list[Signature]:
    """Genuine coins of other batches, counterfeits, look-alikes and coins without loss traces."""
    out: list[Signature] = []
    for i, kind in enumerate(
        (*TAUGHT, "gb-200-1997", "ring-alloy-off", "plain-edge-12-sided", "euro-1", "steel-washer")
    ):
        batch = generate(kind, 8, head=HEAD, seed=20 + i, batch=1, temperature_c=(-10.0, 45.0))
        out.extend(batch.signatures())
    without_loss = generate("gb-100-2017", 4, head=HEAD, seed=40)
    out.extend(
        dataclasses.replace(s, eddy_lo_loss=None, eddy_hi_loss=None)
        for s in without_loss.signatures()
    )
    return out


def test_one_coin_is_decided_as_in_a_batch(profile: Profile) -> None:
    engine = Engine(profile)
    coins = _population()
    one_by_one = [engine.decide(s, AT) for s in coins]
    assert {d.reason for d in one_by_one} == {
        "accepted",
        "inhibited",
        "counterfeit",
        "unknown",
        "invalid",
    }
    # A batch of each coin alone, and the whole population (batches of over 64
    # coins, split by loss traces or none, go the array path).
    alone = [engine.decide_batch(SignatureBatch.from_signatures([s]), AT)[0] for s in coins]
    assert one_by_one == alone
    assert one_by_one == engine.decide_signatures(coins, AT)
    inhibited = {d.detail for d in one_by_one if d.reason == "inhibited"}
    assert inhibited == {
        "gb-020-1982 is inhibited by the operator",
        "gb-010-2012 is refused by an operator override",
        "gb-100-1983 is not legal tender since 2017-10-15",
    }
