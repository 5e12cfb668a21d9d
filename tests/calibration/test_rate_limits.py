"""Rate limits: refused keys per client address, requests per key; in memory and shared.

The shared counts are tested on a real PostgreSQL server: three limiters with
connections of their own stand for three workers; then a real
``coinval api --workers 3`` is driven over many connections.  Windows are
clock seconds and minutes, so a burst that crosses one is allowed the limit
once per window it touched: the tests count the windows from the server's clock
before and after, rather than assume the burst fits in one.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from calibration.app import create_app
from calibration.pg_side import SideConnections
from calibration.rate_limits import (
    MemoryCounter,
    PostgresCounter,
    RateLimits,
    Refusal,
    Ticket,
)
from calibration.settings import Settings
from tests.calibration.conftest import ADMIN_KEY, bearer, free_port
from tests.calibration.postgres import Server

API = "/api/v1"
WORKER = "x-coinval-worker"


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _limits(clock: FakeClock, *, failures: int = 0, per_s: int = 0) -> RateLimits:
    return RateLimits(
        MemoryCounter(clock), auth_failures_per_min=failures, key_requests_per_s=per_s
    )


# -- in memory ------------------------------------------------------------------------


def test_an_address_has_its_refused_keys_checked_up_to_the_limit_then_none_that_minute() -> None:
    clock = FakeClock(120.0)
    limits = _limits(clock, failures=3)
    for _ in range(3):
        ticket = limits.before_key_check("10.0.0.1")
        assert isinstance(ticket, Ticket)
        limits.key_was_refused(ticket)
    clock.now = 150.0
    refused = limits.before_key_check("10.0.0.1")
    assert isinstance(refused, Refusal)
    assert refused.retry_after_s == 30
    assert "10.0.0.1" in refused.message and "COINVAL_AUTH_FAILURES_PER_MIN" in refused.message
    assert "3 a minute" in refused.message
    assert isinstance(limits.before_key_check("10.0.0.2"), Ticket)  # another address
    clock.now = 180.0  # the next minute
    assert isinstance(limits.before_key_check("10.0.0.1"), Ticket)


def test_valid_keys_checks_running_and_refusals_do_not_count_as_refused() -> None:
    limits = _limits(FakeClock(), failures=2)
    # A fleet behind one address starting at once: many checks running together
    # (each key valid) must not be refused for want of a bad key.
    tickets = [limits.before_key_check("10.0.0.1") for _ in range(100)]
    assert all(isinstance(t, Ticket) for t in tickets)
    for _ in range(2):
        ticket = limits.before_key_check("10.0.0.1")
        assert isinstance(ticket, Ticket)
        limits.key_was_refused(ticket)
    # Past the limit: refused, and the refusals themselves do not count (the
    # address is not held past its minute however often it asks).
    for _ in range(50):
        assert isinstance(limits.before_key_check("10.0.0.1"), Refusal)
    count = limits.counter.add("auth:10.0.0.1", 60, 0)
    assert count.n == 2


def test_a_key_has_its_budget_each_second() -> None:
    clock = FakeClock(7.25)
    limits = _limits(clock, per_s=4)
    assert [limits.spend("k1") for _ in range(4)] == [None] * 4
    refused = limits.spend("k1")
    assert isinstance(refused, Refusal) and refused.retry_after_s == 1
    assert "k1" in refused.message and "budget of 4 requests a second" in refused.message
    assert limits.spend("k2") is None  # keys are counted apart
    clock.now = 8.0
    assert limits.spend("k1") is None


def test_limits_of_zero_are_off() -> None:
    limits = _limits(FakeClock())
    assert all(isinstance(limits.before_key_check("a"), Ticket) for _ in range(1000))
    assert all(limits.spend("k") is None for _ in range(1000))


# -- through the app, one process --------------------------------------------------------


def _app(tmp_path: Path, clock: FakeClock, *, failures: int = 30, per_s: int = 0) -> Any:
    settings = Settings(
        db=str(tmp_path / "s.db"),
        admin_key=SecretStr(ADMIN_KEY),
        auth_failures_per_min=failures,
        key_requests_per_s=per_s,
    )
    app = create_app(settings)
    app.state.peers.limits.counter = MemoryCounter(clock)  # windows that do not move on their own
    return app


def test_429_after_the_refused_keys_of_an_address_even_for_a_valid_key(tmp_path: Path) -> None:
    clock = FakeClock(600.0)
    app = _app(tmp_path, clock, failures=3)
    with TestClient(app) as client:
        made = client.post(
            f"{API}/keys", json={"name": "v", "role": "viewer"}, headers=bearer(ADMIN_KEY)
        ).json()
        for n in range(3):
            r = client.get(f"{API}/heads", headers=bearer(f"cvk_guess-{n}"))
            assert r.status_code == 401
        assert client.get(f"{API}/heads").status_code == 401  # no key: no check, not counted
        clock.now = 617.5
        r = client.get(f"{API}/heads", headers=bearer("cvk_guess-3"))
        assert r.status_code == 429
        assert r.headers["retry-after"] == "43" and r.json()["retry_after_s"] == 43
        assert "COINVAL_AUTH_FAILURES_PER_MIN" in r.json()["detail"]
        # A key never checked in this process is not checked now either: 429, not 200.
        r = client.get(f"{API}/heads", headers=bearer(made["key"]))
        assert r.status_code == 429
        clock.now = 660.0  # the next minute
        assert client.get(f"{API}/heads", headers=bearer(made["key"])).status_code == 200
    app.state.ctx.db.close()


def test_429_past_a_keys_budget_says_when_to_retry(tmp_path: Path) -> None:
    clock = FakeClock(30.0)
    app = _app(tmp_path, clock, per_s=5)
    with TestClient(app) as client:
        statuses = [
            client.get(f"{API}/whoami", headers=bearer(ADMIN_KEY)).status_code for _ in range(6)
        ]
        assert statuses == [200] * 5 + [429]
        r = client.get(f"{API}/whoami", headers=bearer(ADMIN_KEY))
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.json() == {
            "detail": "key admin-env is over its budget of 5 requests a second "
            "(COINVAL_KEY_REQUESTS_PER_S): try again in 1 s",
            "retry_after_s": 1,
        }
        clock.now = 31.0
        assert client.get(f"{API}/whoami", headers=bearer(ADMIN_KEY)).status_code == 200
    app.state.ctx.db.close()


# -- shared through PostgreSQL -------------------------------------------------------------


@pytest.fixture
def database(pg_server: Server) -> Iterator[str]:
    url = pg_server.create()
    yield url
    pg_server.drop(url)


def _server_seconds(url: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
    assert row is not None
    return float(row[0])


def _windows(start: float, end: float, size: int) -> int:
    """How many windows of ``size`` seconds the span start..end touched."""
    return int(end // size) - int(start // size) + 1


def _in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _workers(database: str, stack: ExitStack, *, failures: int, per_s: int) -> list[RateLimits]:
    """Three limiters with connections of their own, as three worker processes have."""
    counters = []
    for _ in range(3):
        side = SideConnections(database)
        stack.callback(side.close)
        counters.append(PostgresCounter(side))
    # Each worker makes the table at start, here all three at once.
    _in_threads([counter.prepare for counter in counters])
    return [
        RateLimits(c, auth_failures_per_min=failures, key_requests_per_s=per_s, workers=3)
        for c in counters
    ]


def _spend_all(limits: RateLimits, times: int) -> int:
    return sum(limits.spend("k1") is None for _ in range(times))


def _check_all(limits: RateLimits, times: int) -> int:
    """Checks of ``times`` bad keys; how many were let through to be checked."""
    checked = 0
    for _ in range(times):
        ticket = limits.before_key_check("10.9.8.7")
        if isinstance(ticket, Ticket):
            checked += 1
            limits.key_was_refused(ticket)
    return checked


def test_three_workers_share_one_budget(database: str) -> None:
    budget = 30
    with ExitStack() as stack:
        workers = _workers(database, stack, failures=0, per_s=budget)
        start = _server_seconds(database)
        served = _in_threads([functools.partial(_spend_all, w, 100) for w in workers])
        end = _server_seconds(database)
    seconds = _windows(start, end, 1)
    assert 1 <= sum(served) <= budget * seconds, (served, seconds)


def test_three_workers_share_one_count_of_refused_keys(database: str) -> None:
    limit = 5
    with ExitStack() as stack:
        workers = _workers(database, stack, failures=limit, per_s=0)
        start = _server_seconds(database)
        checked = _in_threads([functools.partial(_check_all, w, 10) for w in workers])
        end = _server_seconds(database)
    minutes = _windows(start, end, 60)
    # Checks running at once in the three workers may each pass the count they read:
    # at most two more than the limit per window.
    assert limit <= sum(checked) <= (limit + len(workers) - 1) * minutes, checked


# -- a real `coinval api --workers 3` ----------------------------------------------------------


@pytest.fixture(scope="module")
def limited_server(pg_server: Server) -> Iterator[tuple[str, str]]:
    """3 workers on PostgreSQL with 5 refused keys a minute and 10 requests a second a key."""
    url = pg_server.create()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    env.update(
        COINVAL_ADMIN_KEY=ADMIN_KEY,
        COINVAL_AUTH_FAILURES_PER_MIN="5",
        COINVAL_KEY_REQUESTS_PER_S="10",
    )
    command = [sys.executable, "-m", "coinval_cli", "api", "--db", url, "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", "3", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base)
        yield base, url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pg_server.drop(url)


def _wait_ready(proc: subprocess.Popen[bytes], base: str) -> None:
    with httpx.Client(base_url=base, timeout=5) as c:
        for _ in range(1200):
            if proc.poll() is not None:
                raise AssertionError(f"the server exited with {proc.returncode}")
            try:
                if c.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                threading.Event().wait(0.05)
    raise AssertionError("the server did not become ready")


def _from(address: str, base: str) -> httpx.Client:
    """A client whose connections leave from ``address`` (a loopback address of its own,
    so its refused keys are counted apart from the other tests')."""
    return httpx.Client(
        base_url=base, timeout=30, transport=httpx.HTTPTransport(local_address=address)
    )


def test_refused_keys_from_one_address_are_limited_across_all_workers(
    limited_server: tuple[str, str],
) -> None:
    base, url = limited_server
    start = _server_seconds(url)
    answers: list[httpx.Response] = []
    for n in range(24):
        with _from("127.0.0.7", base) as c:  # a new connection: any worker
            answers.append(c.get(f"{API}/heads", headers=bearer(f"cvk_guess-{n}")))
    minutes = _windows(start, _server_seconds(url), 60)
    statuses = Tally(r.status_code for r in answers)
    assert set(statuses) <= {401, 429}
    assert 5 <= statuses[401] <= 5 * minutes, statuses
    refused = [r for r in answers if r.status_code == 429]
    assert refused
    for r in refused:
        assert 1 <= int(r.headers["retry-after"]) == r.json()["retry_after_s"] <= 60
        assert "127.0.0.7" in r.json()["detail"]
    # The count was shared: more than one worker answered, and none let more through.
    assert len({r.headers[WORKER] for r in answers}) > 1
    # Another address is not held up by this one.
    with _from("127.0.0.8", base) as c:
        assert c.get(f"{API}/heads", headers=bearer("cvk_guess")).status_code == 401


def test_a_keys_budget_holds_in_total_across_all_workers(limited_server: tuple[str, str]) -> None:
    base, url = limited_server
    with httpx.Client(base_url=base, timeout=30) as c:
        made = c.post(
            f"{API}/keys", json={"name": "acceptor", "role": "viewer"}, headers=bearer(ADMIN_KEY)
        ).json()
    key = bearer(made["key"])

    def burst() -> list[httpx.Response]:
        out = []
        for _ in range(8):
            with httpx.Client(base_url=base, timeout=30) as c:  # a new connection: any worker
                out += [c.get(f"{API}/whoami", headers=key) for _ in range(5)]
        return out

    start = _server_seconds(url)
    answers = [r for each in _in_threads([burst, burst, burst]) for r in each]
    seconds = _windows(start, _server_seconds(url), 1)
    statuses = Tally(r.status_code for r in answers)
    assert set(statuses) <= {200, 429}
    assert 1 <= statuses[200] <= 10 * seconds, (statuses, seconds)
    assert len({r.headers[WORKER] for r in answers}) > 1
    for r in answers:
        if r.status_code == 429:
            assert r.headers["retry-after"] == "1"
            detail = r.json()["detail"]
            assert made["id"] in detail and "COINVAL_KEY_REQUESTS_PER_S" in detail
