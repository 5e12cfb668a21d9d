"""Keys checked a moment ago: kept only while valid, forgotten on revoke."""

from __future__ import annotations

from pydantic import SecretStr

from calibration.app import open_context
from calibration.domain.keys import Role, authenticate, create_key, revoke_key
from calibration.recent_keys import MAX_KEYS, RecentKeys
from calibration.settings import Settings
from tests.calibration.conftest import ADMIN_KEY, Service, bearer

API = "/api/v1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_kept_for_its_time_only() -> None:
    clock = FakeClock()
    recent: RecentKeys[str] = RecentKeys(ttl_s=1.0, clock=clock)
    recent.put("d1", "alice")
    assert recent.get("d1") == "alice" and recent.get("d2") is None
    clock.now = 0.99
    assert recent.get("d1") == "alice"
    clock.now = 1.0
    assert recent.get("d1") is None


def test_memory_stays_bounded() -> None:
    recent: RecentKeys[int] = RecentKeys()
    for i in range(MAX_KEYS * 3):
        recent.put(str(i), i)
    assert len(recent._known) <= MAX_KEYS
    assert recent.get(str(MAX_KEYS * 3 - 1)) == MAX_KEYS * 3 - 1


def test_a_key_revoked_here_is_refused_on_the_next_request(service: Service) -> None:
    c = service.client
    made = c.post(f"{API}/keys", json={"name": "n", "role": "viewer"}, headers=service.admin).json()
    for _ in range(3):  # now it is a recently checked key
        assert c.get(f"{API}/heads", headers=bearer(made["key"])).status_code == 200
    assert c.delete(f"{API}/keys/{made['id']}", headers=service.admin).status_code == 200
    assert c.get(f"{API}/heads", headers=bearer(made["key"])).status_code == 401


def test_a_key_revoked_by_another_process_is_refused_after_the_recheck(
    store_target: str,
) -> None:
    settings = Settings(db=store_target, admin_key=SecretStr(ADMIN_KEY))
    here = open_context(settings, announce=lambda k: None)
    there = open_context(settings, announce=lambda k: None)  # another process on the store
    clock = FakeClock()
    here.recent_keys = RecentKeys(ttl_s=1.0, clock=clock)
    made = create_key(there, "admin-env", name="n", role=Role.viewer)
    assert authenticate(here, made["key"]) is not None
    revoke_key(there, "admin-env", made["id"])
    assert authenticate(here, made["key"]) is not None  # within the recheck window
    clock.now = 1.0
    assert authenticate(here, made["key"]) is None
    assert authenticate(here, "cvk_" + "x" * 43) is None  # unknown keys are never kept
