"""Fixtures of the calibration service tests: simulated coins, a service with keys."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from calibration.app import create_app
from calibration.context import Context
from calibration.settings import Settings
from coinval.teach import teach
from sim.population import generate

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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings of a fresh store in a temporary folder."""
    return Settings(db=str(tmp_path / "store.db"), admin_key=SecretStr(ADMIN_KEY), sse_poll_s=0.02)


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


@pytest.fixture
def with_base(service: Service, base_profile_text: str) -> Service:
    """The service with the base profile imported and active on head A."""
    r = service.client.post(
        "/api/v1/profiles?activate=true", content=base_profile_text, headers=service.operator
    )
    assert r.status_code == 201, r.text
    return service


def api_server_command(store: Path, port: int) -> list[str]:
    """`python -m calibration` on a store and port, quiet: the tests' real server process."""
    return [
        sys.executable,
        "-m",
        "calibration",
        "--db",
        str(store),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
