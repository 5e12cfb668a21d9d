"""Body formats (issue 18): a wrong Content-Type is 415 on every route with a body,
checked after the key and before the body; a JSON null is not an optional body."""

from __future__ import annotations

from typing import cast

import pytest
from starlette.routing import compile_path

from calibration.app import create_app
from calibration.guard import AuthFirst, GuardedRoute
from calibration.settings import Settings
from tests.calibration.conftest import HEAD, TAUGHT, Service

API = "/api/v1"

#: Every route that takes a body, with a body it would take (ids and names that exist or not).
BODY_ROUTES = {
    ("PUT", f"{API}/heads/{{head}}/coins/{{coin}}/inhibit"): b'{"inhibited": true}',
    ("PUT", f"{API}/heads/{{head}}/coins/{{coin}}/legal-tender"): b'{"legal_tender": "always"}',
    ("PUT", f"{API}/heads/{{head}}/master-inhibit"): b'{"master_inhibit": true}',
    ("POST", f"{API}/profiles"): b"{}",
    ("PUT", f"{API}/heads/{{head}}/active"): b'{"profile_id": 1}',
    ("POST", f"{API}/heads/{{head}}/rollback"): b"{}",
    ("POST", f"{API}/teach/sessions"): b'{"coin": "gb-100-2017"}',
    ("POST", f"{API}/teach/sessions/{{session_id}}/signatures"): b"[]",
    ("POST", f"{API}/teach/sessions/{{session_id}}/commit"): b"{}",
    ("POST", f"{API}/heads/{{head}}/classify"): b"[]",
    ("POST", f"{API}/keys"): b'{"name": "x", "role": "viewer"}',
    ("POST", f"{API}/fleet/events"): b'{"events": []}',
    ("PUT", f"{API}/fleet/heads/{{head}}/model"): b'{"model": "P1"}',
    ("POST", f"{API}/fleet/models/{{model}}/activate"): b'{"profile_id": 1}',
}


def _url(template: str) -> str:
    return template.format(head=HEAD, coin=TAUGHT, session_id=1, model="P1")


def test_the_list_is_every_route_with_a_body(settings: Settings) -> None:
    app = create_app(settings)
    (guard,) = [m for m in app.user_middleware if m.cls is AuthFirst]
    routes = cast(list[GuardedRoute], guard.kwargs["routes"])
    found = {
        (method, route.pattern.pattern)
        for route in routes
        if route.media_types is not None
        for method in route.methods
    }
    assert found == {(method, _pattern(template)) for method, template in BODY_ROUTES}


def _pattern(template: str) -> str:
    return compile_path(template)[0].pattern


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", "text/csv"])
@pytest.mark.parametrize(("method", "template"), sorted(BODY_ROUTES))
def test_a_wrong_content_type_is_415_everywhere(
    service: Service, method: str, template: str, kind: str
) -> None:
    body = BODY_ROUTES[(method, template)]
    r = service.client.request(
        method, _url(template), content=body, headers={**service.admin, "Content-Type": kind}
    )
    assert r.status_code == 415, r.text
    assert kind in r.json()["detail"] and "application/json" in r.json()["detail"]


@pytest.mark.parametrize(("method", "template"), sorted(BODY_ROUTES))
def test_no_key_or_a_low_role_comes_before_the_content_type(
    service: Service, method: str, template: str
) -> None:
    url = _url(template)
    r = service.client.request(method, url, content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 401, r.text
    r = service.client.request(
        method, url, content=b"x", headers={**service.viewer, "Content-Type": "text/plain"}
    )
    assert r.status_code == 403, r.text


@pytest.mark.parametrize(("method", "template"), sorted(BODY_ROUTES))
def test_json_with_parameters_or_no_content_type_is_taken(
    service: Service, method: str, template: str
) -> None:
    body = BODY_ROUTES[(method, template)]
    for headers in ({"Content-Type": "application/json; charset=utf-8"}, {}):
        r = service.client.request(
            method, _url(template), content=body, headers={**service.admin, **headers}
        )
        assert r.status_code not in (415, 400), r.text
        assert not (r.status_code == 422 and r.json()["detail"].startswith("body: Input")), r.text


def test_upload_routes_take_json_lines_too(with_base: Service) -> None:
    r = with_base.client.post(
        f"{API}/heads/{HEAD}/classify?record=false",
        content=b"{}\n",
        headers={**with_base.operator, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    r = with_base.client.put(
        f"{API}/heads/{HEAD}/master-inhibit",
        content=b'{"master_inhibit": true}',
        headers={**with_base.operator, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 415, r.text


def test_routes_without_a_body_ignore_the_content_type(service: Service) -> None:
    r = service.client.get(
        f"{API}/whoami", headers={**service.viewer, "Content-Type": "text/plain"}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "path", [f"{API}/heads/{HEAD}/rollback", f"{API}/teach/sessions/{{sid}}/commit"]
)
def test_a_json_null_body_is_refused_where_the_body_may_be_left_out(
    with_base: Service, path: str
) -> None:
    client, op = with_base.client, with_base.operator
    r = client.post(f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=op)
    sid = r.json()["id"]
    url = path.format(sid=sid)
    for body in (b"null", b" null\n"):
        r = client.post(url, content=body, headers={**op, "Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert "null" in r.json()["detail"] and len(r.json()["errors"]) == 1
    # no body at all is still the defaults: the route's own answer, not a body error
    r = client.post(url, headers=op)
    assert r.status_code in (409, 422), r.text
    assert "body" not in r.json()["detail"], r.text
    # and the refused null changed nothing
    history = client.get(f"{API}/heads/{HEAD}/history", headers=op).json()
    assert [h["kind"] for h in history] == ["activate"]
