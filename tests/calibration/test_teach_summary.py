"""Teach progress is kept, not recomputed per viewer; a session's samples are capped (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from calibration.app import create_app
from calibration.domain import teach as teach_domain
from calibration.service import CalibrationService
from calibration.settings import Settings
from coinval.signature import parse_signature
from coinval.teach import teach
from tests.calibration.conftest import (
    ADMIN_KEY,
    HEAD,
    SECOND,
    TAUGHT,
    Service,
    bearer,
    make_keys,
)

API = "/api/v1"


def _start(client: TestClient, who: dict[str, str], **extra: Any) -> int:
    r = client.post(
        f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD, **extra}, headers=who
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_progress_is_read_from_the_kept_summary(
    with_base: Service,
    teach_sets: dict[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = with_base
    sid = _start(svc.client, svc.operator)
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[TAUGHT], headers=svc.operator
    )
    assert r.status_code == 200, r.text
    computed = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()

    def no_reading(*_: object) -> None:
        raise AssertionError("a viewer made the samples be read again")

    monkeypatch.setattr(teach_domain, "_samples", no_reading)
    for _ in range(3):
        r = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer)
        assert r.status_code == 200, r.text
        assert r.json() == computed
    assert computed["count"] == 24 and computed["ready"] is True
    assert "summary" not in computed and "summary_count" not in computed


def test_a_live_coin_makes_the_summary_computed_again_once(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    svc = with_base
    sid = _start(svc.client, svc.operator, live=True)
    svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[TAUGHT][:20], headers=svc.operator
    )
    assert svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()["count"] == 20
    teach_domain.feed_live(svc.ctx, HEAD, parse_signature(teach_sets[TAUGHT][20]))
    out = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()
    assert out["count"] == 21
    assert out["temperature_c"] is not None


@pytest.fixture
def capped(
    store_target: str, base_profile_text: str
) -> Iterator[tuple[TestClient, dict[str, str], CalibrationService]]:
    settings = Settings(db=store_target, admin_key=SecretStr(ADMIN_KEY), max_session_samples=10)
    service = CalibrationService.open(settings)
    with TestClient(create_app(context=service.context)) as client:
        operator = bearer(make_keys(client)["operator"])
        r = client.post(f"{API}/profiles", content=base_profile_text, headers=operator)
        assert r.status_code == 201, r.text  # teach needs a head with a profile
        yield client, operator, service


def test_a_session_holds_at_most_the_configured_samples(
    capped: tuple[TestClient, dict[str, str], CalibrationService],
    teach_sets: dict[str, list[dict[str, Any]]],
) -> None:
    client, operator, service = capped
    coins = teach_sets[TAUGHT]
    sid = _start(client, operator, live=True)
    r = client.post(f"{API}/teach/sessions/{sid}/signatures", json=coins[:11], headers=operator)
    assert r.status_code == 409, r.text
    assert "at most 10" in r.json()["detail"]
    r = client.post(f"{API}/teach/sessions/{sid}/signatures", json=coins[:8], headers=operator)
    assert r.status_code == 200, r.text
    r = client.post(f"{API}/teach/sessions/{sid}/signatures", json=coins[8:11], headers=operator)
    assert r.status_code == 409, r.text
    r = client.post(f"{API}/teach/sessions/{sid}/signatures", json=coins[8:10], headers=operator)
    assert r.status_code == 200 and r.json()["count"] == 10
    assert service.feed_live(HEAD, parse_signature(coins[12])) == []  # full: not fed
    assert client.get(f"{API}/teach/sessions/{sid}", headers=operator).json()["count"] == 10


def test_the_sample_count_is_kept_by_the_store_not_counted(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    """Schema 5: a trigger keeps ``sample_count``, whoever writes the sample; a poll reads it."""
    svc = with_base
    sid = _start(svc.client, svc.operator)
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[TAUGHT], headers=svc.operator
    )
    assert r.status_code == 200, r.text
    n = len(teach_sets[TAUGHT])
    with svc.ctx.db.transaction(write=True) as tx:
        text = tx.fetchone("SELECT signature FROM teach_samples WHERE session_id = ?", (sid,))
        assert text is not None
        tx.execute(  # a row written outside the repository is counted too
            "INSERT INTO teach_samples (session_id, signature, source, added_at)"
            " VALUES (?, ?, 'upload', '2024-01-01T00:00:00.000000Z')",
            (sid, text["signature"]),
        )
        kept = tx.fetchone("SELECT sample_count FROM teach_sessions WHERE id = ?", (sid,))
    assert kept == {"sample_count": n + 1}
    got = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    body = got.json()
    assert body["count"] == n + 1
    assert "sample_count" not in body and "summary" not in body
    listed = svc.client.get(f"{API}/teach/sessions", headers=svc.viewer).json()
    assert [s["count"] for s in listed if s["id"] == sid] == [n + 1]


def test_an_upload_never_reads_the_sessions_signatures_again(
    with_base: Service,
    teach_sets: dict[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Schema 6: the summary is made from the features each sample gave as it came in."""
    svc = with_base
    sid = _start(svc.client, svc.operator)
    coins = teach_sets[TAUGHT]
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=coins[:12], headers=svc.operator
    )
    assert r.status_code == 200, r.text

    def no_reading(*_: object) -> None:
        raise AssertionError("the session's signatures were read again")

    monkeypatch.setattr(teach_domain, "_samples", no_reading)
    monkeypatch.setattr(teach_domain.sigs, "from_text", no_reading)
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=coins[12:], headers=svc.operator
    )
    assert r.status_code == 200, r.text
    out = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()
    assert out["count"] == len(coins) and out["ready"] is True
    assert out["spread"]["diameter_mm"]["measured"] == len(coins)


def test_progress_names_the_strays_the_commits_teach_drops(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    svc = with_base
    strays = [dict(o, id=f"stray-{i}") for i, o in enumerate(teach_sets[SECOND][:2])]
    coins = [dict(o, id=f"coin-{i}") for i, o in enumerate(teach_sets[TAUGHT])]
    mixed = coins[:10] + strays[:1] + coins[10:] + strays[1:]
    sid = _start(svc.client, svc.operator)
    r = svc.client.post(f"{API}/teach/sessions/{sid}/signatures", json=mixed, headers=svc.operator)
    assert r.status_code == 200, r.text
    out = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()
    _, report = teach({TAUGHT: [parse_signature(o) for o in mixed]}, head=HEAD)
    assert out["outliers"] == report.dropped[TAUGHT] == ["stray-0", "stray-1"]
    assert out["ready"] is True
    assert any("dropped 2 coin(s)" in w for w in out["warnings"])


def test_progress_refuses_a_file_of_another_coin_as_the_teach_would(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    svc = with_base
    sid = _start(svc.client, svc.operator)
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[SECOND], headers=svc.operator
    )
    assert r.status_code == 200, r.text
    out = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()
    assert out["ready"] is False
    assert out["problem"].startswith(f"teach refused: {TAUGHT}: this does not look like")
    r = svc.client.post(f"{API}/teach/sessions/{sid}/commit", headers=svc.operator)
    assert r.status_code == 422 and "does not look like" in r.json()["detail"]


def test_samples_stored_without_features_get_them_once(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    """A store migrated from schema 5 has samples without features: filled on first need."""
    svc = with_base
    sid = _start(svc.client, svc.operator)
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[TAUGHT], headers=svc.operator
    )
    assert r.status_code == 200, r.text
    before = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()
    with svc.ctx.db.transaction(write=True) as tx:
        tx.execute(
            "UPDATE teach_samples SET features = NULL, signature_id = NULL WHERE session_id = ?",
            (sid,),
        )
        tx.execute("UPDATE teach_sessions SET summary = NULL WHERE id = ?", (sid,))
    after = svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()
    assert after == before
    with svc.ctx.db.transaction() as tx:
        empty = tx.fetchone(
            "SELECT COUNT(*) AS n FROM teach_samples WHERE session_id = ? AND features IS NULL",
            (sid,),
        )
    assert empty == {"n": 0}
