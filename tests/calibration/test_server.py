"""Against a real uvicorn server on a free loopback port, in a thread of the test."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from calibration.hooks import ActiveConfig
from calibration.service import ApiServer, CalibrationService
from calibration.settings import Settings
from coinval.decision import Decision
from coinval.signature import parse_signature
from tests.calibration.conftest import ADMIN_KEY, HEAD, SECOND, TAUGHT, bearer

API = "/api/v1"


@dataclass
class Live:
    service: CalibrationService
    server: ApiServer
    url: str
    operators: list[dict[str, str]]
    viewer: dict[str, str]


@pytest.fixture
def live(store_target: str, base_profile_text: str) -> Iterator[Live]:
    settings = Settings(db=store_target, admin_key=SecretStr(ADMIN_KEY), sse_poll_s=0.02)
    service = CalibrationService.open(settings)
    server = service.start_api("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.port}"
    admin = bearer(ADMIN_KEY)
    keys = []
    with httpx.Client(base_url=url, timeout=30) as c:
        for name, role in (("alice", "operator"), ("bob", "operator"), ("eve", "viewer")):
            r = c.post(f"{API}/keys", json={"name": name, "role": role}, headers=admin)
            keys.append(bearer(r.json()["key"]))
        r = c.post(f"{API}/profiles?activate=true", content=base_profile_text, headers=keys[0])
        assert r.status_code == 201, r.text
    try:
        yield Live(service, server, url, keys[:2], keys[2])
    finally:
        server.stop()


def _upload_session(c: httpx.Client, who: dict[str, str], coin: str, sigs: list[Any]) -> int:
    r = c.post(f"{API}/teach/sessions", json={"coin": coin, "head": HEAD}, headers=who)
    assert r.status_code == 201, r.text
    sid = int(r.json()["id"])
    r = c.post(f"{API}/teach/sessions/{sid}/signatures", json=sigs, headers=who)
    assert r.status_code == 200, r.text
    return sid


def test_recalibration_over_real_http(
    live: Live, teach_sets: dict[str, list[Any]], traffic: list[dict[str, Any]]
) -> None:
    heard: list[ActiveConfig] = []
    live.service.subscribe(heard.append)
    op = live.operators[0]
    new_pounds = [t for t in traffic if t["id"].startswith(TAUGHT)]
    with httpx.Client(base_url=live.url, timeout=60) as c:
        sid = _upload_session(c, op, TAUGHT, teach_sets[TAUGHT])
        preview = c.get(f"{API}/teach/sessions/{sid}/preview", headers=op)
        assert preview.status_code == 200 and preview.json()["coins"][-1] == TAUGHT
        r = c.post(f"{API}/teach/sessions/{sid}/commit", json={"activate": True}, headers=op)
        assert r.status_code == 200, r.text
        assert heard[-1].version == 2 and TAUGHT in heard[-1].profile.coins
        r = c.post(f"{API}/heads/{HEAD}/classify", json=new_pounds, headers=op)
        assert {d["coin"] for d in r.json()["decisions"]} == {TAUGHT}
        r = c.post(f"{API}/heads/{HEAD}/rollback", headers=op)
        assert r.status_code == 200 and heard[-1].version == 1
        r = c.post(f"{API}/heads/{HEAD}/classify", json=new_pounds, headers=op)
        assert {d["reason"] for d in r.json()["decisions"]} == {"unknown"}
        assert c.post(f"{API}/heads/{HEAD}/rollback", headers=live.viewer).status_code == 403


def test_two_operators_committing_at_once(live: Live, teach_sets: dict[str, list[Any]]) -> None:
    alice, bob = live.operators
    with httpx.Client(base_url=live.url, timeout=60) as c:
        sessions = [
            (alice, _upload_session(c, alice, TAUGHT, teach_sets[TAUGHT])),
            (bob, _upload_session(c, bob, SECOND, teach_sets[SECOND])),
        ]
    barrier = threading.Barrier(len(sessions))
    results: list[httpx.Response] = []

    def commit(who: dict[str, str], sid: int) -> None:
        with httpx.Client(base_url=live.url, timeout=60) as c:
            barrier.wait()
            results.append(
                c.post(f"{API}/teach/sessions/{sid}/commit", json={"activate": True}, headers=who)
            )

    threads = [threading.Thread(target=commit, args=s) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    versions = sorted(r.json()["profile"]["version"] for r in results)
    assert versions == [2, 3]
    with httpx.Client(base_url=live.url, timeout=60) as c:
        active = c.get(f"{API}/heads/{HEAD}/active", headers=live.viewer).json()
        assert active["version"] == 3
        # Neither commit was lost: the last version holds both new coins.
        assert {TAUGHT, SECOND} <= set(active["coins"])
        # Committing one session twice at once: exactly one wins.
        sid = _upload_session(c, alice, TAUGHT, teach_sets[TAUGHT])
    results.clear()
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=commit, args=(who, sid)) for who in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 409]


def test_live_decisions_stream_as_server_sent_events(
    live: Live, teach_sets: dict[str, list[Any]]
) -> None:
    received: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=live.url, timeout=30) as c,
            c.stream(
                "GET",
                f"{API}/events/stream?after=0&max_events=2&duration_s=20",
                headers=live.viewer,
            ) as r,
        ):
            assert r.headers["content-type"].startswith("text/event-stream")
            ready.set()
            for line in r.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[len("data: ") :]))

    listener = threading.Thread(target=listen)
    listener.start()
    assert ready.wait(20)
    sig = parse_signature(teach_sets[SECOND][0])
    for reason in ("unknown", "counterfeit"):
        live.service.record_decision(
            HEAD,
            Decision(sig.id, None, False, reason),
            at=dt.datetime.now(dt.UTC),
            signature=sig,
        )
    listener.join(30)
    assert [e["reason"] for e in received] == ["unknown", "counterfeit"]
    assert received[0]["signature_id"] == sig.id and received[0]["profile_id"] == 1
