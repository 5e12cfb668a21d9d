"""A process killed (SIGKILL) while committing leaves the old or the new profile, never half."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from calibration.context import Context
from calibration.db import open_database
from calibration.domain import profiles as profiles_domain
from calibration.domain import teach as teach_domain
from calibration.settings import Settings
from coinval.profile import loads
from tests.calibration.conftest import (
    ADMIN_KEY,
    BASE_COINS,
    HEAD,
    SECOND,
    TAUGHT,
    bearer,
    free_port,
    start_server,
)

CHILD = Path(__file__).with_name("crash_child.py")
API = "/api/v1"


def _context(path: Path | str) -> Context:
    return Context(db=open_database(path), settings=Settings(db=str(path)))


def _consistent(path: Path | str) -> dict[str, Any]:
    """Check every invariant a crash must not break; the active profile's facts."""
    ctx = _context(path)
    with ctx.db.transaction() as tx:
        if ctx.db.dialect == "sqlite":
            assert tx.fetchone("PRAGMA integrity_check") == {"integrity_check": "ok"}
        head = tx.fetchone("SELECT * FROM heads WHERE head = ?", (HEAD,))
        last = tx.fetchone(
            "SELECT profile_id FROM activations WHERE head = ? ORDER BY id DESC LIMIT 1", (HEAD,)
        )
        sessions = tx.fetchall("SELECT * FROM teach_sessions")
        taught = tx.fetchall("SELECT id FROM profiles WHERE source = 'teach'")
    assert head is not None and last is not None
    assert head["active_profile_id"] == last["profile_id"]
    committed = {s["result_profile_id"] for s in sessions if s["state"] == "committed"}
    assert all(s["result_profile_id"] is None for s in sessions if s["state"] != "committed")
    assert committed == {r["id"] for r in taught}
    profile = loads(profiles_domain.get_document(ctx, int(head["active_profile_id"])))
    config = ctx.active(HEAD)
    assert config is not None
    return {"profile_id": config.profile_id, "version": config.version, "coins": profile.coins}


def _prepare(path: Path | str, base_profile_text: str, teach_sets: dict[str, list[Any]]) -> int:
    ctx = _context(path)
    profiles_domain.import_profile(ctx, "setup", base_profile_text, activate=True)
    session = teach_domain.start(ctx, "setup", head=HEAD, coin=TAUGHT)
    body = "\n".join(__import__("json").dumps(s) for s in teach_sets[TAUGHT]).encode()
    teach_domain.add_upload(ctx, "setup", session["id"], body, "application/x-ndjson")
    return int(session["id"])


@pytest.mark.parametrize(("mode", "expected_version"), [("during", 1), ("after", 2)])
def test_sigkill_during_or_after_a_commit(
    store_target: str,
    base_profile_text: str,
    teach_sets: dict[str, list[Any]],
    mode: str,
    expected_version: int,
) -> None:
    store = store_target
    sid = _prepare(store, base_profile_text, teach_sets)
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(store), str(sid), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == ("IN-COMMIT" if mode == "during" else "DONE")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    state = _consistent(store)
    assert state["version"] == expected_version
    if expected_version == 1:
        assert state["coins"] == list(BASE_COINS)
        assert teach_domain.get(_context(store), sid)["state"] == "open"
    else:
        assert state["coins"] == [*BASE_COINS, TAUGHT]


def test_sigkill_of_a_real_server_under_concurrent_commits(
    store_target: str, base_profile_text: str, teach_sets: dict[str, list[Any]]
) -> None:
    store = store_target
    port = free_port()
    proc = start_server(store, port)
    url = f"http://127.0.0.1:{port}"
    admin = bearer(ADMIN_KEY)
    done = threading.Event()
    successes: list[int] = []
    committed: list[int] = []  # sessions whose commit was acknowledged (200)
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            assert (
                c.post(
                    f"{API}/profiles?activate=true", content=base_profile_text, headers=admin
                ).status_code
                == 201
            )
            assert (
                c.post(f"{API}/profiles", content=base_profile_text, headers=admin).status_code
                == 201
            )
            sessions = []
            for coin in (TAUGHT, SECOND) * 3:
                r = c.post(
                    f"{API}/teach/sessions", json={"coin": coin, "head": HEAD}, headers=admin
                )
                sid = r.json()["id"]
                c.post(
                    f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[coin], headers=admin
                )
                sessions.append(sid)

        def committer(ids: list[int]) -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                for sid in ids:
                    try:
                        r = c.post(
                            f"{API}/teach/sessions/{sid}/commit",
                            json={"activate": True},
                            headers=admin,
                        )
                        successes.append(r.status_code)
                        if r.status_code == 200:
                            committed.append(sid)
                    except httpx.TransportError:
                        return

        def activator() -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                k = 0
                while not done.is_set():
                    try:
                        r = c.put(
                            f"{API}/heads/{HEAD}/active",
                            json={"profile_id": 1 + k % 2},
                            headers=admin,
                        )
                        successes.append(r.status_code)
                    except httpx.TransportError:
                        return
                    k += 1

        threads = [
            threading.Thread(target=committer, args=(sessions[0::2],)),
            threading.Thread(target=committer, args=(sessions[1::2],)),
            threading.Thread(target=activator),
        ]
        for t in threads:
            t.start()
        # Killed once changes are being acknowledged, at least one of them a commit (the
        # activator alone answers six times before a commit's first 200).
        while (len(successes) < 6 or not committed) and any(t.is_alive() for t in threads[:2]):
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done.set()
    for t in threads:
        t.join(30)
    assert all(code == 200 for code in successes), successes
    state = _consistent(store)
    assert set(BASE_COINS) <= set(state["coins"])
    # No acknowledged change is lost: every commit answered 200 is in the store.
    assert committed
    ctx = _context(store)
    for sid in committed:
        session = teach_domain.get(ctx, sid)
        assert session["state"] == "committed" and session["result_profile_id"] is not None
    # The store opens again and serves.
    proc = start_server(store, port)
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.get(f"{API}/heads/{HEAD}/active", headers=admin)
            assert r.status_code == 200 and r.json()["id"] == state["profile_id"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
