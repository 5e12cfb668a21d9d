"""Bad bodies get 4xx with a clear message, never 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration.app import create_app
from calibration.settings import Settings
from tests.calibration.conftest import ADMIN_KEY, HEAD, TAUGHT, Service, bearer, signatures_json

API = "/api/v1"


@pytest.fixture(scope="module")
def good() -> list[dict[str, Any]]:
    return signatures_json(TAUGHT, 6, seed=11)


def _session(svc: Service) -> int:
    r = svc.client.post(
        f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=svc.operator
    )
    return int(r.json()["id"])


def test_bad_signatures_are_reported_by_index_and_the_rest_kept(
    with_base: Service, good: list[dict[str, Any]]
) -> None:
    sid = _session(with_base)
    body: list[Any] = [dict(s) for s in good]
    body[1]["eddy_hi"] = body[1]["eddy_hi"][:-1]
    body[3] = {"eddy_lo": "nope"}
    body[4]["temperature_c"] = True
    body.append(42)
    r = with_base.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=body, headers=with_base.operator
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["added"] == 3 and out["count"] == 3
    by_index = {p["index"]: p for p in out["rejected"]}
    assert set(by_index) == {1, 3, 4, 6}
    assert by_index[1]["field"] == "eddy_hi" and "same length" in by_index[1]["error"]
    assert by_index[3]["field"] == "eddy_lo"
    assert by_index[4]["error"] == "temperature_c: must be a number"
    assert by_index[6]["error"].startswith("$: ")


def test_json_lines_problems_name_the_line(with_base: Service, good: list[dict[str, Any]]) -> None:
    sid = _session(with_base)
    other_head = dict(good[2], head="Z")
    text = (
        "\n".join([json.dumps(good[0]), "{not json", json.dumps(good[1]), json.dumps(other_head)])
        + "\n"
    )
    r = with_base.client.post(
        f"{API}/teach/sessions/{sid}/signatures",
        content=text,
        headers={**with_base.operator, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    rejected = r.json()["rejected"]
    assert [(p["index"], p["line"]) for p in rejected] == [(1, 2), (3, 4)]
    assert "not valid JSON" in rejected[0]["error"]
    assert "head 'Z'" in rejected[1]["error"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "words"),
    [
        (b"[1, 2", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b"[]", "application/json", 400, "no signatures"),
        (b'"text"', "application/json", 400, "JSON array"),
        (b"[1, 2]", "application/json", 422, "none of the 2"),
        (b"a,b\n1,2", "text/csv", 415, "application/x-ndjson"),
        (b"\n", "application/x-ndjson", 400, "no signatures"),
    ],
)
def test_undecodable_uploads(
    with_base: Service, content: bytes, content_type: str, status: int, words: str
) -> None:
    sid = _session(with_base)
    r = with_base.client.post(
        f"{API}/teach/sessions/{sid}/signatures",
        content=content,
        headers={**with_base.operator, "Content-Type": content_type},
    )
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "content", "words"),
    [
        ("PUT", f"{API}/heads/A/coins/gb-200-1997/inhibit", b"nope", "JSON"),
        ("PUT", f"{API}/heads/A/coins/gb-200-1997/inhibit", b'{"inhibited": "maybe"}', "inhibited"),
        ("PUT", f"{API}/heads/A/coins/gb-200-1997/inhibit", b'{"inhibited": true, "x": 1}', "x"),
        (
            "PUT",
            f"{API}/heads/A/coins/gb-200-1997/legal-tender",
            b'{"legal_tender": "often"}',
            "legal_tender",
        ),
        ("PUT", f"{API}/heads/A/active", b'{"profile_id": "one"}', "profile_id"),
        ("POST", f"{API}/teach/sessions", b'{"head": "A"}', "coin"),
        (
            "POST",
            f"{API}/teach/sessions",
            b'{"coin": "gb-200-1997", "security": "max"}',
            "security",
        ),
        ("POST", f"{API}/profiles", b"{", "not valid JSON"),
        ("POST", f"{API}/profiles", b'{"format": "other"}', "not a coinval profile"),
        ("POST", f"{API}/keys", b'{"name": "x", "role": "root"}', "role"),
        ("POST", f"{API}/heads/bad%20head/rollback", b"{}", "not a valid name"),
    ],
)
def test_bad_bodies_get_clear_4xx(
    service: Service, method: str, path: str, content: bytes, words: str
) -> None:
    r = service.client.request(
        method,
        path,
        content=content,
        headers={**service.admin, "Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text
    assert words in json.dumps(r.json()), r.text


@pytest.mark.parametrize(
    "query",
    ["at=yesterday", "reason=lost", "since=2024-01-01T00:00:00", "limit=0", "bucket=week"],
)
def test_bad_query_values(with_base: Service, query: str) -> None:
    path = f"{API}/heads/{HEAD}/classify" if query.startswith("at") else f"{API}/events"
    if query.startswith("bucket"):
        path = f"{API}/stats"
    r = with_base.client.request(
        "POST" if "classify" in path else "GET",
        f"{path}?{query}",
        json=[],
        headers=with_base.operator,
    )
    assert r.status_code == 422, r.text
    assert query.split("=")[0] in r.text


def test_profile_of_another_head_is_refused(service: Service, base_profile_text: str) -> None:
    r = service.client.post(
        f"{API}/profiles?head=B", content=base_profile_text, headers=service.operator
    )
    assert r.status_code == 422 and "taught on head 'A'" in r.json()["detail"]


def test_classify_gives_invalid_decisions_with_the_rule(
    with_base: Service, good: list[dict[str, Any]]
) -> None:
    body: list[Any] = [good[0], {"id": "bad-1", "rim": []}, "x"]
    r = with_base.client.post(f"{API}/heads/{HEAD}/classify", json=body, headers=with_base.operator)
    assert r.status_code == 200, r.text
    d = r.json()["decisions"]
    assert d[1] == {
        "id": "bad-1",
        "coin": None,
        "accepted": False,
        "reason": "invalid",
        "detail": "eddy_lo: is required",
    }
    assert d[2]["reason"] == "invalid"
    r = with_base.client.post(f"{API}/heads/NONE/classify", json=body, headers=with_base.operator)
    assert r.status_code == 409 and "no active profile" in r.json()["detail"]


@pytest.fixture
def small(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"max_body_bytes": 4096}))
    with TestClient(app) as client:
        yield client


def test_oversized_bodies_get_413(small: TestClient) -> None:
    headers = bearer(ADMIN_KEY)
    big = b"[" + b"1," * 4000 + b"1]"
    r = small.post(
        f"{API}/profiles", content=big, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and "4096 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    r = small.post(
        f"{API}/profiles", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    r = small.post(
        f"{API}/profiles", content=b"{}", headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 422  # small bodies still reach the route


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)

FUZZED = [
    ("POST", f"{API}/heads/{HEAD}/classify"),
    ("POST", f"{API}/teach/sessions"),
    ("POST", f"{API}/teach/sessions/1/signatures"),
    ("POST", f"{API}/teach/sessions/1/commit"),
    ("POST", f"{API}/profiles"),
    ("PUT", f"{API}/heads/{HEAD}/coins/gb-200-1997/inhibit"),
    ("PUT", f"{API}/heads/{HEAD}/active"),
    ("POST", f"{API}/heads/{HEAD}/rollback"),
    ("POST", f"{API}/keys"),
]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(FUZZED),
    body=json_values,
    raw=st.binary(max_size=64),
    use_raw=st.booleans(),
)
def test_fuzzed_bodies_never_give_5xx(
    with_base: Service, route: tuple[str, str], body: Any, raw: bytes, use_raw: bool
) -> None:
    method, path = route
    content = raw if use_raw else json.dumps(body).encode()
    r = with_base.client.request(
        method,
        path,
        content=content,
        headers={**with_base.admin, "Content-Type": "application/json"},
    )
    assert r.status_code < 500, (route, content, r.text)
    assert "detail" in r.json() or r.status_code < 300


def test_an_imported_profile_with_a_broken_speed_block_is_refused_by_name(
    service: Service, base_profile_text: str
) -> None:
    doc = json.loads(base_profile_text)
    coin = next(iter(doc["coins"]))
    doc["coins"][coin]["speed"]["min_log_mm_s"] = 9.0  # above its own mean
    r = service.client.post(f"{API}/profiles", content=json.dumps(doc), headers=service.operator)
    assert r.status_code == 422, r.text
    assert f"coins.{coin}.speed" in r.json()["detail"]
