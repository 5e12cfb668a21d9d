"""Fixtures of the calibration service tests: simulated coins, a service with keys."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from calibration.app import create_app
from calibration.context import Context
from calibration.settings import Settings
from coinval.teach import teach
from sim.population import generate
from tests.calibration.postgres import PostgresUnavailableError, Server, throwaway_cluster

ADMIN_KEY = "test-admin-key-0123456789abcdef"
HEAD = "A"
BASE_COINS = ("gb-200-1997", "gb-050-1997")
TAUGHT = "gb-100-2017"
SECOND = "gb-020-1982"


def signatures_json(kind: str, n: int, *, seed: int, head: str = HEAD) -> list[dict[str, Any]]:
    """n simulated signatures of one kind, as spec JSON objects."""
    out = []
    for sig in generate(kind, n, head=head, seed=seed).signatures():
        obj = sig.to_json_dict()
        obj["head"] = head
        out.append(obj)
    return out


@pytest.fixture(scope="session")
def teach_sets() -> dict[str, list[dict[str, Any]]]:
    """Genuine coins to teach, per coin, on head A."""
    return {coin: signatures_json(coin, 24, seed=1) for coin in (TAUGHT, SECOND)}


@pytest.fixture(scope="session")
def traffic() -> list[dict[str, Any]]:
    """Mixed live traffic: 4 each of the base coins, the new pound, a 20p and a counterfeit."""
    kinds = [*BASE_COINS, TAUGHT, SECOND, "mono-12-sided"]
    out = [obj for kind in kinds for obj in signatures_json(kind, 4, seed=9)]
    return out


@pytest.fixture(scope="session")
def base_profile_text() -> str:
    """A profile of head A knowing the two base coins, as `coinval teach` writes it."""
    samples = {coin: generate(coin, 24, head=HEAD, seed=3).signatures() for coin in BASE_COINS}
    profile, _ = teach(samples, head=HEAD)
    return profile.dumps()


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(key: str) -> dict[str, str]:
    """The Authorization header of a key."""
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Service:
    """A service under test: its client, context and one key per role."""

    client: TestClient
    ctx: Context
    admin: dict[str, str]
    operator: dict[str, str]
    viewer: dict[str, str]
    keys: dict[str, str]


def make_keys(client: TestClient) -> dict[str, str]:
    """An operator and a viewer key, made by the admin."""
    keys = {"admin": ADMIN_KEY}
    for role in ("operator", "viewer"):
        r = client.post(
            "/api/v1/keys", json={"name": role, "role": role}, headers=bearer(ADMIN_KEY)
        )
        assert r.status_code == 201, r.text
        keys[role] = r.json()["key"]
    return keys


STORE_KINDS = ("sqlite", "postgres")
"""The stores every test of a store runs against."""


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """A PostgreSQL server for the run: ``COINVAL_TEST_PG_URL``, else a throwaway
    cluster of this run's own; the tests that need one skip, saying why, without."""
    with ExitStack() as stack:
        url = os.environ.get("COINVAL_TEST_PG_URL")
        try:
            if not url:
                url = stack.enter_context(throwaway_cluster())
            server = Server(url)
            server.prepare()
        except (PostgresUnavailableError, OSError) as exc:
            pytest.skip(f"PostgreSQL is not available: {exc}")
        except Exception as exc:  # psycopg's own errors: a server named but not usable
            pytest.skip(f"PostgreSQL at {url} is not usable: {type(exc).__name__}: {exc}")
        yield server


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store the test runs against: each test of a store runs on both."""
    return str(request.param)


@pytest.fixture
def new_store(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], str]]:
    """Makes fresh stores of the test's kind: ``new_store(name)`` gives a SQLite
    file in the test's folder, or a new PostgreSQL database (dropped afterwards)."""
    made: list[str] = []
    server: Server | None = None

    def make(name: str = "store") -> str:
        nonlocal server
        if store_kind == "sqlite":
            return str(tmp_path / f"{name}.db")
        if server is None:
            server = request.getfixturevalue("pg_server")
        made.append(server.create())
        return made[-1]

    yield make
    for url in made:
        assert server is not None
        server.drop(url)


@pytest.fixture
def store_target(new_store: Callable[[str], str]) -> str:
    """A fresh store of the test's kind: a SQLite file path or a PostgreSQL URL."""
    return new_store("store")


@pytest.fixture
def settings(store_target: str) -> Settings:
    """Settings of a fresh store (SQLite in a temporary folder, or PostgreSQL)."""
    return Settings(db=store_target, admin_key=SecretStr(ADMIN_KEY), sse_poll_s=0.02)


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    """A fresh service with admin, operator and viewer keys."""
    app = create_app(settings)
    with TestClient(app) as client:
        keys = make_keys(client)
        yield Service(
            client=client,
            ctx=app.state.ctx,
            admin=bearer(keys["admin"]),
            operator=bearer(keys["operator"]),
            viewer=bearer(keys["viewer"]),
            keys=keys,
        )
    app.state.ctx.db.close()


@pytest.fixture
def with_base(service: Service, base_profile_text: str) -> Service:
    """The service with the base profile imported and active on head A."""
    r = service.client.post(
        "/api/v1/profiles?activate=true", content=base_profile_text, headers=service.operator
    )
    assert r.status_code == 201, r.text
    return service


def api_server_command(store: Path | str, port: int) -> list[str]:
    """`coinval api` on a store and port, quiet: the tests' real server process."""
    return [
        sys.executable,
        "-m",
        "coinval_cli",
        "api",
        "--db",
        str(store),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def start_server(
    store: Path | str, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`coinval api` as its own process, once it answers /readyz."""
    proc = subprocess.Popen(
        api_server_command(store, port),
        env={**os.environ, "COINVAL_ADMIN_KEY": ADMIN_KEY, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
        for _ in range(600):
            if proc.poll() is not None:
                raise AssertionError(f"the server exited with {proc.returncode}")
            try:
                if c.get("/readyz").status_code == 200:
                    return proc
            except httpx.TransportError:
                time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server did not become ready")


@dataclass
class RealServer:
    """A real `coinval api` process on loopback, with an operator and a viewer key."""

    proc: subprocess.Popen[bytes]
    url: str
    admin: dict[str, str]
    operator: dict[str, str]
    viewer: dict[str, str]

    def rss(self) -> int:
        """The server's resident memory now, in bytes."""
        return _status_kb(self.proc.pid, "VmRSS") * 1024

    def reset_peak(self) -> None:
        """Start the peak-RSS count afresh (Linux: clear_refs 5)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def peak(self) -> int:
        """The server's peak resident memory since :meth:`reset_peak`, in bytes."""
        return _status_kb(self.proc.pid, "VmHWM") * 1024


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


@contextmanager
def real_server(
    store: Path | str, base_profile_text: str, env: dict[str, str] | None = None
) -> Iterator[RealServer]:
    """A real server over ``store`` with head A's base profile active."""
    port = free_port()
    proc = start_server(store, port, env)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            keys = {}
            for role in ("operator", "viewer"):
                r = c.post(
                    "/api/v1/keys", json={"name": role, "role": role}, headers=bearer(ADMIN_KEY)
                )
                assert r.status_code == 201, r.text
                keys[role] = bearer(r.json()["key"])
            r = c.post(
                "/api/v1/profiles?activate=true",
                content=base_profile_text,
                headers=keys["operator"],
            )
            assert r.status_code == 201, r.text
        yield RealServer(proc, url, bearer(ADMIN_KEY), keys["operator"], keys["viewer"])
    finally:
        proc.kill()
        proc.wait()


def open_teach_session(srv: RealServer) -> int:
    """A teach session for TAUGHT on HEAD on a real server; its id."""
    r = httpx.post(
        f"{srv.url}/api/v1/teach/sessions",
        json={"coin": TAUGHT, "head": HEAD},
        headers=srv.operator,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])
