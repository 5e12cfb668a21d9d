"""Every recorded decision names the key that sent it; back-dating needs backfill (issue 18)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.calibration.conftest import HEAD, TAUGHT, Service

API = "/api/v1"


def _whoami(svc: Service, headers: dict[str, str]) -> str:
    return str(svc.client.get(f"{API}/whoami", headers=headers).json()["key_id"])


def _events(svc: Service) -> list[dict[str, Any]]:
    r = svc.client.get(f"{API}/events?head={HEAD}&limit=1000", headers=svc.viewer)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_classified_events_carry_the_key_and_are_audited(
    with_base: Service, traffic: list[dict[str, Any]]
) -> None:
    svc = with_base
    r = svc.client.post(f"{API}/heads/{HEAD}/classify", json=traffic[:5], headers=svc.operator)
    assert r.status_code == 200, r.text
    key_id = _whoami(svc, svc.operator)
    events = _events(svc)
    assert len(events) == 5
    assert {e["key_id"] for e in events} == {key_id}
    audit = svc.client.get(f"{API}/audit?action=events.record", headers=svc.viewer).json()
    entries = audit["items"] if isinstance(audit, dict) else audit
    assert len(entries) == 1 and entries[0]["key_id"] == key_id
    assert entries[0]["after"]["events"] == 5


def test_back_dated_recording_needs_the_backfill_flag(
    with_base: Service, traffic: list[dict[str, Any]]
) -> None:
    svc = with_base
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat()
    r = svc.client.post(
        f"{API}/heads/{HEAD}/classify", params={"at": old}, json=traffic[:3], headers=svc.operator
    )
    assert r.status_code == 422, r.text
    assert "backfill=true" in r.json()["detail"]
    assert _events(svc) == []

    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    r = svc.client.post(
        f"{API}/heads/{HEAD}/classify",
        params={"at": future},
        json=traffic[:3],
        headers=svc.operator,
    )
    assert r.status_code == 422, r.text

    # only deciding as of then is no change: allowed
    r = svc.client.post(
        f"{API}/heads/{HEAD}/classify",
        params={"at": old, "record": "false"},
        json=traffic[:3],
        headers=svc.operator,
    )
    assert r.status_code == 200, r.text
    assert _events(svc) == []

    r = svc.client.post(
        f"{API}/heads/{HEAD}/classify",
        params={"at": old, "backfill": "true"},
        json=traffic[:3],
        headers=svc.operator,
    )
    assert r.status_code == 200, r.text
    events = _events(svc)
    assert len(events) == 3 and all(e["at"][:10] == old[:10] for e in events)
    audit = svc.client.get(f"{API}/audit?action=events.backfill", headers=svc.viewer).json()
    entries = audit["items"] if isinstance(audit, dict) else audit
    assert len(entries) == 1 and entries[0]["key_id"] == _whoami(svc, svc.operator)
    assert entries[0]["after"]["backfill"] is True


def test_a_viewer_cannot_backfill(with_base: Service, traffic: list[dict[str, Any]]) -> None:
    r = with_base.client.post(
        f"{API}/heads/{HEAD}/classify?backfill=true", json=traffic[:1], headers=with_base.viewer
    )
    assert r.status_code == 403


def test_uploaded_teach_samples_name_the_key(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    svc = with_base
    sid = svc.client.post(
        f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=svc.operator
    ).json()["id"]
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[TAUGHT][:4], headers=svc.operator
    )
    assert r.status_code == 200, r.text
    with svc.ctx.db.transaction() as tx:
        rows = tx.fetchall("SELECT key_id FROM teach_samples WHERE session_id = ?", (sid,))
    assert [row["key_id"] for row in rows] == [_whoami(svc, svc.operator)] * 4
