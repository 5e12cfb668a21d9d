"""Property-based run of every operation in the service's OpenAPI schema (schemathesis).

Each operation gets requests generated from its schema (valid and invalid
parameters and bodies), sent to the ASGI app in process with an admin key, on
a store that has a profile, an open teach session and events.  Whatever
comes in, the answer is never a 5xx.

A few examples per operation here (``make test``); ``make api-fuzz`` runs many
more (``COINVAL_FUZZ_EXAMPLES``).  The live stream is left out: a generated
``duration_s`` would hold a test open for minutes (its parameters are checked
in ``test_events``).

Schemathesis' own pytest loader (``schemathesis.pytest.from_fixture``) does
not run under pytest 9 (it writes ``node._nodeid``), so each operation is a
plain parametrised test driving the operation's hypothesis strategy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error

from calibration.app import create_app
from calibration.settings import Settings

from .conftest import ADMIN_KEY, HEAD, STORE_KINDS, TAUGHT, Service, bearer, make_keys
from .postgres import Server

EXAMPLES = int(os.environ.get("COINVAL_FUZZ_EXAMPLES", "4"))
METHODS = ("get", "put", "post", "delete", "patch")
SKIPPED = ("/api/v1/events/stream",)

pytestmark = pytest.mark.timeout(900)


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the app's schema, but the live stream."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(db=os.path.join(folder, "schema.db"), admin_key=SecretStr(ADMIN_KEY))
        paths = create_app(settings).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, item in sorted(paths.items())
        for method in item
        if method in METHODS and path not in SKIPPED
    ]


OPERATIONS = _operations()


@pytest.fixture(scope="module", params=STORE_KINDS)
def populated(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    base_profile_text: str,
    traffic: list[dict[str, Any]],
) -> Iterator[Service]:
    """One service per store for the module: a profile, recorded events and an open
    teach session.

    Shared by every operation (what one operation changes, another may meet:
    more states explored, and one store set up instead of thirty).
    """
    server: Server | None = None
    if request.param == "sqlite":
        store = str(tmp_path_factory.mktemp("fuzz") / "store.db")
    else:
        server = request.getfixturevalue("pg_server")
        store = server.create()
    app = create_app(Settings(db=store, admin_key=SecretStr(ADMIN_KEY)))
    with TestClient(app) as client:
        keys = make_keys(client)
        operator = bearer(keys["operator"])
        r = client.post(
            "/api/v1/profiles?activate=true", content=base_profile_text, headers=operator
        )
        assert r.status_code == 201, r.text
        r = client.post(f"/api/v1/heads/{HEAD}/classify", json=traffic[:8], headers=operator)
        assert r.status_code == 200, r.text
        r = client.post(
            "/api/v1/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=operator
        )
        assert r.status_code == 201, r.text
        yield Service(
            client=client,
            ctx=app.state.ctx,
            admin=bearer(ADMIN_KEY),
            operator=operator,
            viewer=bearer(keys["viewer"]),
            keys=keys,
        )
    app.state.ctx.db.close()
    if server is not None:
        server.drop(store)


def test_every_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 30
    assert ("PUT", "/api/v1/heads/{head}/coins/{coin}/inhibit") in OPERATIONS


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_operation_answers_5xx(populated: Service, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", populated.client.app)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def no_server_error(case: Any) -> None:
        response = case.call(headers=populated.admin)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        case.validate_response(response, checks=[not_a_server_error])

    no_server_error()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/profiles?offset=9223372036854775808",
        "/api/v1/profiles/9223372036854775808",
        "/api/v1/profiles/1/diff/99999999999999999999",
        "/api/v1/teach/sessions/9223372036854775808",
        "/api/v1/events?before=99999999999999999999",
        "/api/v1/audit?before=99999999999999999999",
        "/api/v1/stats?since=9999-12-31T23:00:00-05:00",
        "/api/v1/events?until=0001-01-01T00:00:00%2B01:00",
        "/api/v1/audit?since=0001-01-01T00:00:00%2B01:00",
        "/api/v1/audit?until=2024-01-01T00:00:00",
    ],
)
def test_out_of_range_ids_and_moments_are_refused_not_failed(populated: Service, url: str) -> None:
    r = populated.client.get(url, headers=populated.admin)
    assert r.status_code == 422, r.text


def test_classify_at_a_moment_out_of_range_is_refused(
    populated: Service, traffic: list[dict[str, Any]]
) -> None:
    r = populated.client.post(
        f"/api/v1/heads/{HEAD}/classify?at=9999-12-31T23:59:59-12:00",
        json=traffic[:1],
        headers=populated.admin,
    )
    assert r.status_code == 422, r.text
    assert "at is out of range" in r.json()["detail"]
