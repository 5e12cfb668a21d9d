"""The service beside a running acceptor: adopt a profile, follow changes, record coins."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from calibration.domain import coins as coins_domain
from calibration.domain import events as events_domain
from calibration.domain import profiles as profiles_domain
from calibration.domain import teach as teach_domain
from calibration.errors import InvalidError
from calibration.hooks import ActiveConfig
from calibration.live import ConfigFollower, DecisionRecorder
from calibration.repository.events import EventFilter
from calibration.service import SERVE_ACTOR, CalibrationService
from calibration.settings import Settings
from coinval.decision import Decision
from coinval.engine import Engine
from coinval.legal_tender import now
from coinval.profile import Profile, loads
from coinval.signature import Signature
from sim.population import generate

from .conftest import ADMIN_KEY, HEAD


@pytest.fixture
def service(store_target: str) -> Iterator[CalibrationService]:
    yield CalibrationService.open(Settings(db=store_target, admin_key=SecretStr(ADMIN_KEY)))


@pytest.fixture
def base(base_profile_text: str) -> Profile:
    return loads(base_profile_text)


def coins(kind: str, n: int, seed: int = 7) -> list[Signature]:
    return list(generate(kind, n, head=HEAD, seed=seed).signatures())


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_adopt_imports_and_activates_once_then_serves_the_store(
    service: CalibrationService, base: Profile
) -> None:
    config, imported = service.adopt(base, note="serve start")
    assert imported and config.head == HEAD and config.version == 1
    assert config.profile.coins == base.coins
    coins_domain.set_inhibit(service.context, "k1", HEAD, "gb-200-1997", True)
    # The next start keeps the store's profile and its settings, not the file.
    again, imported = service.adopt(base)
    assert not imported and again.profile_id == config.profile_id
    assert "gb-200-1997" in again.profile.inhibited
    history = profiles_domain.history(service.context, HEAD, 10)
    assert [h["key_id"] for h in history] == [SERVE_ACTOR]


def test_adopt_refuses_a_profile_of_another_head(
    service: CalibrationService, base: Profile
) -> None:
    with pytest.raises(InvalidError, match="taught on head"):
        service.adopt(base, head="B")


def test_follower_gets_each_new_config_once_in_order(
    service: CalibrationService, base: Profile
) -> None:
    config, _ = service.adopt(base)
    seen: list[ActiveConfig] = []
    follower = ConfigFollower(service, HEAD, seen.append, revision=config.revision, poll_s=None)
    try:
        coins_domain.set_inhibit(service.context, "k1", HEAD, "gb-200-1997", True)
        assert len(seen) == 1 and "gb-200-1997" in seen[0].profile.inhibited
        coins_domain.set_master_inhibit(service.context, "k1", HEAD, True)
        assert seen[-1].master_inhibit and set(seen[-1].profile.inhibited) == set(base.coins)
        assert not follower.offer(seen[0])  # an older revision is ignored
        other = ActiveConfig("B", 1, 1, base, False, 10**6)
        assert not follower.offer(other)  # another head's
        assert [c.revision for c in seen] == sorted({c.revision for c in seen})
    finally:
        follower.close()
    coins_domain.set_master_inhibit(service.context, "k1", HEAD, False)
    assert len(seen) == 2  # closed: no more calls


def test_follower_sees_changes_made_by_another_process(
    service: CalibrationService, base: Profile, tmp_path: Path
) -> None:
    config, _ = service.adopt(base)
    seen: list[ActiveConfig] = []
    follower = ConfigFollower(service, HEAD, seen.append, revision=config.revision, poll_s=0.05)
    try:
        # Another service on the same store (e.g. `coinval api` beside serve): no subscription.
        other = CalibrationService.open(Settings(db=service.context.settings.db))
        coins_domain.set_inhibit(other.context, "k1", HEAD, "gb-050-1997", True)
        wait_for(lambda: seen)
        assert "gb-050-1997" in seen[0].profile.inhibited
    finally:
        follower.close()


def test_recorder_records_every_coin_and_feeds_live_sessions(
    service: CalibrationService, base: Profile
) -> None:
    config, _ = service.adopt(base)
    session = teach_domain.start(
        service.context, "k1", coin="gb-100-2017", head=HEAD, security="standard", live=True
    )
    signatures = coins("gb-200-1997", 3) + coins("gb-100-2017", 2)
    decisions = Engine(config.profile).decide_signatures(signatures, now())
    recorder = DecisionRecorder(service, HEAD)
    for sig, decision in zip(signatures, decisions, strict=True):
        recorder.submit(sig, decision)
    recorder.close()
    assert recorder.counts.recorded == 5 and recorder.counts.fed_live == 5
    assert recorder.counts.dropped == recorder.counts.failed == 0
    events = events_domain.page(service.context, EventFilter(head=HEAD), before=None, limit=50)
    items = events["items"]
    assert len(items) == 5
    assert {e["profile_id"] for e in items} == {config.profile_id}
    assert [e["reason"] for e in reversed(items)] == [d.reason for d in decisions]
    assert teach_domain.get(service.context, session["id"])["count"] == 5


class BlockedService:
    """A service whose store hangs until released (the recorder must not hold the loop)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def record_decision(self, *args: object, **kwargs: object) -> int:
        self.release.wait(5)
        self.calls += 1
        return self.calls

    def feed_live(self, head: str, signature: Signature) -> list[int]:
        return []


def test_recorder_never_blocks_the_coin_loop() -> None:
    store = BlockedService()
    recorder = DecisionRecorder(store, HEAD, max_queue=2)  # type: ignore[arg-type]
    sig = coins("gb-200-1997", 1)[0]
    decision = Decision(None, "gb-200-1997", True, "accepted")
    started = time.monotonic()
    for _ in range(10):
        recorder.submit(sig, decision)
    assert time.monotonic() - started < 1.0
    assert recorder.counts.dropped >= 7  # one in the thread, two queued, the rest dropped
    store.release.set()
    recorder.close()
    assert recorder.counts.recorded + recorder.counts.dropped == 10
