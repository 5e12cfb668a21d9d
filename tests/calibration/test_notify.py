"""Processes sharing a PostgreSQL store hear each other: the bell, revoked keys, a lost LISTEN.

Two :class:`Notifier` objects on one real database stand for two worker
processes (each has its own connections, as a process would).  Their key
caches never expire here (a clock that stands still), so a key forgotten
was forgotten because it was told to be, not because its time ran out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from calibration.bell import EventBell
from calibration.notify import LISTENER_NAME, Notifier
from calibration.pg_side import SideConnections
from calibration.recent_keys import RecentKeys
from tests.calibration.postgres import Server

#: The most a test waits for something that comes in milliseconds (a bound, not a measure).
PATIENCE_S = 20.0


@dataclass
class Peer:
    """One stand-in process: its notifier, bell and key cache."""

    notifier: Notifier
    bell: EventBell
    keys: RecentKeys[str]


@pytest.fixture
def database(pg_server: Server) -> Iterator[str]:
    url = pg_server.create()
    yield url
    pg_server.drop(url)


@pytest.fixture
def peers(database: str) -> Iterator[Callable[[], Peer]]:
    with ExitStack() as stack:

        def make() -> Peer:
            bell = EventBell()
            keys: RecentKeys[str] = RecentKeys(ttl_s=1.0, clock=lambda: 0.0)
            side = SideConnections(database)
            stack.callback(side.close)
            # A revoke waits for answers this long at most: a test that passes
            # only because the wait ran out would take that long, and says so.
            notifier = Notifier(database, side, bell, lambda: keys, ack_wait_s=PATIENCE_S)
            notifier.start()
            stack.callback(notifier.stop)
            assert notifier.wait_listening(PATIENCE_S)
            return Peer(notifier, bell, keys)

        yield make


def _eventually(condition: Callable[[], bool]) -> bool:
    done = threading.Event()
    for _ in range(int(PATIENCE_S / 0.01)):
        if condition():
            return True
        done.wait(0.01)
    return condition()


def test_a_key_revoked_in_one_process_is_forgotten_by_every_other_before_the_revoke_returns(
    peers: Callable[[], Peer],
) -> None:
    here, there, third = peers(), peers(), peers()
    for peer in (here, there, third):
        peer.keys.put("digest", "alice")
    here.keys.forget_all()  # what revoke_key does once the revoke is committed
    assert here.keys.get("digest") is None
    # Not "within a moment": already, when forget_all returned.
    assert there.keys.get("digest") is None and third.keys.get("digest") is None


def test_the_revoke_returns_because_everyone_answered(peers: Callable[[], Peer]) -> None:
    here, _, _ = peers(), peers(), peers()
    assert here.notifier.key_revoked() is True


def test_a_lookup_that_began_before_a_revoke_is_not_kept() -> None:
    keys: RecentKeys[str] = RecentKeys(ttl_s=1.0, clock=lambda: 0.0)
    assert keys.get("digest") is None  # a miss: this thread now reads the store ...
    keys.forget_here()  # ... while another process revokes a key and says so
    keys.put("digest", "alice")  # what it read may be from before the revoke
    assert keys.get("digest") is None
    keys.put("digest", "alice")  # a lookup begun after the revoke is kept
    assert keys.get("digest") == "alice"


def test_events_written_in_one_process_ring_the_bell_of_the_others(
    peers: Callable[[], Peer],
) -> None:
    here, there = peers(), peers()
    before = there.bell.rings
    here.notifier.events_written()
    assert here.bell.rings > 0  # at once, here
    assert _eventually(lambda: there.bell.rings > before)


def test_a_lost_listening_connection_comes_back_and_forgets_what_it_may_have_missed(
    peers: Callable[[], Peer], database: str
) -> None:
    here = peers()
    here.keys.put("digest", "alice")
    rings = here.bell.rings
    with psycopg.connect(database, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (LISTENER_NAME,),
        ).fetchall()
    assert killed == [(True,)]
    assert _eventually(lambda: here.bell.rings > rings and here.notifier.listening)
    assert here.keys.get("digest") is None
    # and it hears again
    there = peers()
    before = here.bell.rings
    there.notifier.events_written()
    assert _eventually(lambda: here.bell.rings > before)


def test_the_bell_loses_no_ring_and_close_ends_every_wait() -> None:
    async def scenario() -> list[Any]:
        bell = EventBell()
        seen = bell.rings
        bell.ring()  # rang between the look and the wait: the wait returns at once
        await asyncio.wait_for(bell.wait(seen, timeout=3600), PATIENCE_S)
        waiting = [asyncio.create_task(bell.wait(bell.rings, timeout=3600)) for _ in range(3)]
        await asyncio.sleep(0)
        threading.Thread(target=bell.close).start()  # from another thread, as a signal would
        return await asyncio.wait_for(asyncio.gather(*waiting), PATIENCE_S)

    assert asyncio.run(scenario()) == [None, None, None]


def test_a_notifier_stopped_and_started_again_hears_again(
    peers: Callable[[], Peer], database: str
) -> None:
    here, there = peers(), peers()
    here.notifier.stop()
    here.notifier.events_written()  # stopped: rings here, sends nothing, does not fail
    here.notifier.start()
    assert here.notifier.wait_listening(PATIENCE_S)
    before = here.bell.rings
    there.notifier.events_written()
    assert _eventually(lambda: here.bell.rings > before)


def test_an_app_started_again_after_a_stop_serves_streams_and_counts_again(database: str) -> None:
    from pydantic import SecretStr

    from calibration.app import create_app
    from calibration.peers import Peers
    from calibration.settings import Settings
    from tests.calibration.conftest import ADMIN_KEY

    settings = Settings(
        db=database, admin_key=SecretStr(ADMIN_KEY), workers=3, key_requests_per_s=1000
    )
    app = create_app(settings)
    peers: Peers = app.state.peers
    try:
        for _ in range(2):
            peers.start()
            assert not peers.bell.closed
            assert peers.notifier is not None and peers.notifier.wait_listening(PATIENCE_S)
            assert peers.limits.shared and peers.limits.spend("k1") is None
            peers.stop()
            assert peers.bell.closed
        with psycopg.connect(database) as conn:  # both starts counted in the store
            row = conn.execute(
                "SELECT sum(n) FROM coinval_rate_counts WHERE bucket = 'key:k1'"
            ).fetchone()
        assert row is not None and row[0] >= 2
    finally:
        app.state.ctx.db.close()


def test_the_routes_that_record_events_ring_the_bell(
    tmp_path: Any, base_profile_text: str, traffic: list[dict[str, Any]]
) -> None:
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from calibration.app import create_app
    from calibration.settings import Settings
    from tests.calibration.conftest import ADMIN_KEY, bearer

    app = create_app(Settings(db=str(tmp_path / "s.db"), admin_key=SecretStr(ADMIN_KEY)))
    bell: EventBell = app.state.peers.bell
    admin = bearer(ADMIN_KEY)
    event = {
        "key": "acc-1:1",
        "head": "A",
        "at": "2026-01-01T00:00:00Z",
        "coin": None,
        "reason": "unknown",
        "accepted": False,
    }
    with TestClient(app) as client:
        r = client.post("/api/v1/profiles?activate=true", content=base_profile_text, headers=admin)
        assert r.status_code == 201, r.text
        rings = bell.rings
        assert client.get("/api/v1/events", headers=admin).status_code == 200
        assert bell.rings == rings  # a read rings nothing
        r = client.post("/api/v1/fleet/events", json={"events": [event]}, headers=admin)
        assert r.status_code == 200, r.text
        assert bell.rings == rings + 1
        r = client.post("/api/v1/heads/A/classify", json=traffic[:2], headers=admin)
        assert r.status_code == 200, r.text
        assert bell.rings == rings + 2
        r = client.post("/api/v1/heads/B/classify", json=traffic[:2], headers=admin)
        assert r.status_code == 409  # refused: nothing recorded, no ring
        assert bell.rings == rings + 2
    app.state.ctx.db.close()
