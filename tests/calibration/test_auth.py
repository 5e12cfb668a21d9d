"""Keys and roles on every route: 401 without a key, 403 below the route's role."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from calibration.app import create_app, open_context
from calibration.domain.keys import ensure_admin_key
from calibration.errors import InvalidError
from calibration.settings import Settings
from tests.calibration.conftest import ADMIN_KEY, Service, bearer

API = "/api/v1"
ROLES = ("viewer", "operator", "admin")

# Every state-changing route: method, path, the lowest role that may call it, a valid body.
STATE_CHANGING: list[tuple[str, str, str, Any]] = [
    ("PUT", f"{API}/heads/A/coins/gb-200-1997/inhibit", "operator", {"inhibited": True}),
    (
        "PUT",
        f"{API}/heads/A/coins/gb-200-1997/legal-tender",
        "operator",
        {"legal_tender": "always"},
    ),
    ("PUT", f"{API}/heads/A/master-inhibit", "operator", {"master_inhibit": True}),
    ("POST", f"{API}/profiles", "operator", {"format": "coinval-profile"}),
    ("PUT", f"{API}/heads/A/active", "operator", {"profile_id": 1}),
    ("POST", f"{API}/heads/A/rollback", "operator", {}),
    ("POST", f"{API}/teach/sessions", "operator", {"coin": "gb-200-1997"}),
    ("POST", f"{API}/teach/sessions/1/signatures", "operator", []),
    ("POST", f"{API}/teach/sessions/1/commit", "operator", {}),
    ("POST", f"{API}/teach/sessions/1/abandon", "operator", None),
    ("POST", f"{API}/heads/A/classify", "operator", []),
    ("POST", f"{API}/keys", "admin", {"name": "x", "role": "viewer"}),
    ("DELETE", f"{API}/keys/k00000000", "admin", None),
    ("POST", f"{API}/fleet/events", "operator", {"events": []}),
    ("PUT", f"{API}/fleet/heads/A/model", "operator", {"model": "P1"}),
    ("POST", f"{API}/fleet/models/P1/activate", "operator", {"profile_id": 1}),
    ("POST", f"{API}/fleet/models/P1/rollback", "operator", None),
]

READS: list[tuple[str, str]] = [
    (f"{API}/coins", "viewer"),
    (f"{API}/heads", "viewer"),
    (f"{API}/heads/A/coins", "viewer"),
    (f"{API}/profiles", "viewer"),
    (f"{API}/profiles/1", "viewer"),
    (f"{API}/profiles/1/document", "viewer"),
    (f"{API}/profiles/1/diff/1", "viewer"),
    (f"{API}/heads/A/active", "viewer"),
    (f"{API}/heads/A/config", "viewer"),
    (f"{API}/heads/A/history", "viewer"),
    (f"{API}/teach/sessions", "viewer"),
    (f"{API}/teach/sessions/1", "viewer"),
    (f"{API}/teach/sessions/1/preview", "operator"),
    (f"{API}/fleet/summaries", "viewer"),
    (f"{API}/fleet/heads", "viewer"),
    (f"{API}/fleet/drift", "viewer"),
    (f"{API}/events", "viewer"),
    (f"{API}/events/stream?max_events=1&duration_s=0", "viewer"),
    (f"{API}/stats", "viewer"),
    (f"{API}/audit", "viewer"),
    (f"{API}/whoami", "viewer"),
    (f"{API}/keys", "admin"),
    ("/metrics", "viewer"),
]


def _template(path: str) -> str:
    return path.split("?")[0]


def test_the_tables_cover_every_route(service: Service) -> None:
    """A new route must be added to the tables above (and so get its auth test)."""
    import re

    def matches(template: str, path: str) -> bool:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        return re.match(pattern, _template(path)) is not None

    spec = service.client.get("/openapi.json").json()
    seen = 0
    for template, operations in spec["paths"].items():
        if template in ("/healthz", "/readyz"):
            continue
        for method in operations:
            seen += 1
            if method == "get":
                assert any(matches(template, p) for p, _ in READS), template
            else:
                assert any(
                    m == method.upper() and matches(template, p) for m, p, _, _ in STATE_CHANGING
                ), (method, template)
    assert seen == len(READS) + len(STATE_CHANGING)


@pytest.mark.parametrize(("method", "path", "role", "body"), STATE_CHANGING)
def test_state_changing_routes_need_their_role(
    service: Service, method: str, path: str, role: str, body: Any
) -> None:
    c = service.client
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    r = c.request(method, path, **kwargs)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    r = c.request(method, path, headers=bearer("cvk_not-a-key"), **kwargs)
    assert r.status_code == 401
    r = c.request(method, path, headers={"Authorization": "Basic dXNlcjpwYXNz"}, **kwargs)
    assert r.status_code == 401
    for lower in ROLES[: ROLES.index(role)]:
        r = c.request(method, path, headers=bearer(service.keys[lower]), **kwargs)
        assert r.status_code == 403, (lower, r.text)
        assert role in r.json()["detail"]
    allowed = c.request(method, path, headers=bearer(service.keys[role]), **kwargs)
    assert allowed.status_code not in (401, 403), allowed.text
    assert allowed.status_code < 500
    # Refused calls left no trace in the audit log.
    entries = c.get(f"{API}/audit", headers=service.admin).json()["items"]
    assert all(e["key_id"] != "viewer" for e in entries)


@pytest.mark.parametrize(("method", "path", "role", "body"), STATE_CHANGING)
def test_a_malformed_body_without_a_key_is_still_401(
    service: Service, method: str, path: str, role: str, body: Any
) -> None:
    r = service.client.request(
        method, path, content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401, r.text


@pytest.mark.parametrize(("path", "role"), READS)
def test_reads_need_a_key(service: Service, path: str, role: str) -> None:
    c = service.client
    assert c.get(path).status_code == 401
    for lower in ROLES[: ROLES.index(role)]:
        assert c.get(path, headers=bearer(service.keys[lower])).status_code == 403
    assert c.get(path, headers=bearer(service.keys[role])).status_code not in (401, 403)


def test_health_and_docs_are_public(service: Service) -> None:
    c = service.client
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").json()["status"] == "ready"
    spec = c.get("/openapi.json").json()
    assert f"{API}/teach/sessions/{{session_id}}/commit" in spec["paths"]
    assert c.get("/docs").status_code == 200


def test_metrics_can_be_made_public(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    app = create_app(settings.model_copy(update={"metrics_public": True}))
    with TestClient(app) as c:
        r = c.get("/metrics")
    assert r.status_code == 200 and "coinval_http_requests_total" in r.text


def test_keys_are_made_listed_and_revoked(service: Service) -> None:
    c = service.client
    r = c.post(
        f"{API}/keys", json={"name": "night shift", "role": "operator"}, headers=service.admin
    )
    made = r.json()
    assert made["key"].startswith("cvk_") and made["role"] == "operator"
    assert c.get(f"{API}/whoami", headers=bearer(made["key"])).json()["key_id"] == made["id"]
    listed = c.get(f"{API}/keys", headers=service.admin).json()
    assert all("key" not in k and "hash" not in k for k in listed)
    assert c.delete(f"{API}/keys/{made['id']}", headers=service.admin).status_code == 200
    assert c.get(f"{API}/whoami", headers=bearer(made["key"])).status_code == 401
    assert c.delete(f"{API}/keys/{made['id']}", headers=service.admin).status_code == 409
    # The last admin key cannot go.
    r = c.delete(f"{API}/keys/admin-env", headers=service.admin)
    assert r.status_code == 409 and "last admin" in r.json()["detail"]
    # Keys are stored hashed only.
    store = Path(service.ctx.settings.db)
    raw = b"".join(p.read_bytes() for p in store.parent.glob(store.name + "*"))
    for key in (made["key"], ADMIN_KEY, service.keys["operator"]):
        assert key.encode() not in raw
    actions = [e["action"] for e in c.get(f"{API}/audit", headers=service.admin).json()["items"]]
    assert actions.count("key.revoke") == 1 and "key.create" in actions


def test_first_admin_key_is_generated_and_shown_once(store_target: str) -> None:
    shown: list[str] = []
    settings = Settings(db=store_target)
    ctx = open_context(settings, announce=shown.append)
    assert len(shown) == 1 and shown[0].startswith("cvk_")
    open_context(settings, announce=shown.append)
    assert len(shown) == 1
    from calibration.domain.keys import authenticate

    principal = authenticate(ctx, shown[0])
    assert principal is not None and principal.role.value == "admin"


def test_a_short_admin_key_is_refused(store_target: str) -> None:
    settings = Settings(db=store_target)
    ctx = open_context(settings.model_copy(update={"admin_key": None}), announce=lambda k: None)
    with pytest.raises(InvalidError, match="at least"):
        ensure_admin_key(ctx, "short")


def test_no_key_reaches_the_logs(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = service.client
    c.get(f"{API}/whoami", headers=service.operator)
    c.get(f"{API}/whoami", headers=bearer("cvk_wrong-key-value"))
    c.post(f"{API}/profiles", content=b"{", headers=service.operator)
    text = caplog.text
    assert service.keys["operator"] not in text and "cvk_wrong-key-value" not in text


def test_cors_is_off_by_default(service: Service) -> None:
    r = service.client.options(
        f"{API}/coins",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in r.headers
