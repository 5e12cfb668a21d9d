"""Group actions on every head of a model: activate a version, roll back; all or none."""

from __future__ import annotations

import json
from typing import Any

import pytest

from calibration.domain import fleet_groups
from calibration.errors import ConflictError
from calibration.hooks import ActiveConfig
from tests.calibration.conftest import Service

EVENTS = "/api/v1/fleet/events"
ACTIVATE = "/api/v1/fleet/models/{model}/activate"
ROLLBACK = "/api/v1/fleet/models/{model}/rollback"


def report(service: Service, model: str, *heads: str) -> None:
    """An acceptor of ``model`` reports one coin on each of ``heads``."""
    events = [
        {
            "key": f"acc-{model}:{head}",
            "head": head,
            "at": "2024-05-01T12:00:00Z",
            "coin": "gb-200-1997",
            "reason": "accepted",
            "detail": None,
            "accepted": True,
        }
        for head in heads
    ]
    body = {"events": events, "acceptor": {"id": f"acc-{model}", "model": model}}
    r = service.client.post(EVENTS, json=body, headers=service.operator)
    assert r.status_code == 200, r.text


def active(service: Service, head: str) -> dict[str, Any]:
    r = service.client.get(f"/api/v1/heads/{head}/active", headers=service.viewer)
    assert r.status_code == 200, r.text
    return dict(r.json())


def versions(service: Service, head: str) -> list[int]:
    r = service.client.get(f"/api/v1/profiles?head={head}", headers=service.viewer)
    return sorted(int(p["version"]) for p in r.json())


def audit_entries(service: Service, prefix: str = "") -> list[dict[str, Any]]:
    r = service.client.get("/api/v1/audit?limit=500", headers=service.admin)
    return [e for e in r.json()["items"] if e["action"].startswith(prefix)]


def second_version(service: Service, base_profile_text: str) -> int:
    """A second version of head A's profile (a coin inhibited in the document); its id."""
    doc = json.loads(base_profile_text)
    doc["inhibited"] = ["gb-050-1997"]
    r = service.client.post("/api/v1/profiles", content=json.dumps(doc), headers=service.operator)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.fixture
def fleet(with_base: Service) -> Service:
    """Heads A (with the base profile active), B and C, all of model CV-200; D of CV-300."""
    report(with_base, "CV-200", "A", "B", "C")
    report(with_base, "CV-300", "D")
    return with_base


def test_activate_puts_the_version_on_every_head_of_the_model_once(fleet: Service) -> None:
    told: list[ActiveConfig] = []
    fleet.ctx.subscribers.subscribe(told.append)
    before_audit = len(audit_entries(fleet))
    r = fleet.client.post(
        ACTIVATE.format(model="CV-200"), json={"profile_id": 1}, headers=fleet.operator
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert [h["head"] for h in result["heads"]] == ["A", "B", "C"]
    assert result["heads"][0]["before"] == {"profile_id": 1, "version": 1}
    assert result["heads"][1]["before"] is None
    assert result["heads"][1]["after"]["copied"] is True
    for head in ("B", "C"):
        meta = active(fleet, head)
        assert meta["head"] == head and meta["version"] == 1
        assert meta["parent_id"] == 1 and meta["source"] == "fleet"
        doc = fleet.client.get(f"/api/v1/profiles/{meta['id']}/document", headers=fleet.viewer)
        assert doc.json()["head"] == head
    # another model's head is untouched
    assert fleet.client.get("/api/v1/heads/D/active", headers=fleet.viewer).status_code == 404
    # one audit entry for the whole group, naming the model, heads, versions
    new = audit_entries(fleet)[: len(audit_entries(fleet)) - before_audit]
    assert [e["action"] for e in new] == ["fleet.model.activate"]
    (entry,) = new
    assert entry["target"] == "model:CV-200"
    assert entry["before"]["heads"] == {"A": {"profile_id": 1, "version": 1}, "B": None, "C": None}
    assert set(entry["after"]["heads"]) == {"A", "B", "C"}
    assert entry["after"]["heads"]["B"]["version"] == 1
    # every head's subscribers were told, after the commit
    assert sorted(c.head for c in told) == ["A", "B", "C"]
    # doing it again makes no second copy
    r = fleet.client.post(
        ACTIVATE.format(model="CV-200"), json={"profile_id": 1}, headers=fleet.operator
    )
    assert r.status_code == 200
    assert [h["after"]["copied"] for h in r.json()["heads"]] == [False, False, False]
    assert versions(fleet, "B") == [1]


def test_rollback_takes_every_head_back_or_none(fleet: Service, base_profile_text: str) -> None:
    activate = ACTIVATE.format(model="CV-200")
    assert fleet.client.post(activate, json={"profile_id": 1}, headers=fleet.operator).is_success
    # B and C have had one version only: they cannot roll back, so nobody does
    r = fleet.client.post(ROLLBACK.format(model="CV-200"), headers=fleet.operator)
    assert r.status_code == 409, r.text
    assert "B, C" in r.json()["detail"] and "nothing was rolled back" in r.json()["detail"]
    assert [e["head"] for e in r.json()["errors"]] == ["B", "C"]
    assert active(fleet, "A")["version"] == 1
    assert audit_entries(fleet, "fleet.model.rollback") == []
    v2 = second_version(fleet, base_profile_text)
    r = fleet.client.post(activate, json={"profile_id": v2}, headers=fleet.operator)
    assert r.status_code == 200, r.text
    assert {h: active(fleet, h)["version"] for h in "ABC"} == {"A": 2, "B": 2, "C": 2}
    assert active(fleet, "B")["inhibited"] == ["gb-050-1997"]
    told: list[ActiveConfig] = []
    fleet.ctx.subscribers.subscribe(told.append)
    r = fleet.client.post(ROLLBACK.format(model="CV-200"), headers=fleet.operator)
    assert r.status_code == 200, r.text
    assert {h: active(fleet, h)["version"] for h in "ABC"} == {"A": 1, "B": 1, "C": 1}
    assert active(fleet, "B")["inhibited"] == []
    assert sorted(c.head for c in told) == ["A", "B", "C"]
    (entry,) = audit_entries(fleet, "fleet.model.rollback")
    assert entry["target"] == "model:CV-200"
    assert entry["before"]["heads"]["C"]["version"] == 2
    assert entry["after"]["heads"]["C"]["version"] == 1
    history = fleet.client.get("/api/v1/heads/C/history", headers=fleet.viewer).json()
    assert [h["kind"] for h in history] == ["model-rollback", "model-activate", "model-activate"]


def test_activate_is_all_or_none(fleet: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    real = fleet_groups.activate_in

    def fail_on_c(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if args[2] == "C":
            raise ConflictError("head 'C' refused (test)")
        return real(*args, **kwargs)

    monkeypatch.setattr(fleet_groups, "activate_in", fail_on_c)
    r = fleet.client.post(
        ACTIVATE.format(model="CV-200"), json={"profile_id": 1}, headers=fleet.operator
    )
    assert r.status_code == 409 and "'C'" in r.json()["detail"]
    # B's copy and activation, made before C failed, were rolled back with it
    assert versions(fleet, "B") == []
    assert fleet.client.get("/api/v1/heads/A/history", headers=fleet.viewer).json()[0]["kind"] == (
        "activate"
    )
    assert audit_entries(fleet, "fleet.model") == []


def test_bad_group_requests_are_4xx_naming_the_problem(fleet: Service) -> None:
    c, op = fleet.client, fleet.operator
    r = c.post(ACTIVATE.format(model="CV-999"), json={"profile_id": 1}, headers=op)
    assert r.status_code == 404 and "CV-999" in r.json()["detail"]
    assert "CV-200" in r.json()["detail"]  # the models heads do have
    r = c.post(ROLLBACK.format(model="CV-999"), headers=op)
    assert r.status_code == 404 and "CV-999" in r.json()["detail"]
    r = c.post(ACTIVATE.format(model="CV-200"), json={"profile_id": 999}, headers=op)
    assert r.status_code == 404 and "999" in r.json()["detail"]
    for body, words in (
        ({"profile_id": 0}, "profile_id"),
        ({"profile_id": "1"}, "profile_id"),
        ({"profile_id": 2**63}, "profile_id"),
        ({}, "profile_id"),
        ({"profile_id": 1, "heads": ["A"]}, "heads"),
        ([1], "body"),
    ):
        r = c.post(ACTIVATE.format(model="CV-200"), json=body, headers=op)
        assert r.status_code == 422, (body, r.text)
        assert words in r.text, (body, r.text)
    r = c.post(ACTIVATE.format(model="bad model"), json={"profile_id": 1}, headers=op)
    assert r.status_code == 422 and "model" in r.text
    r = c.post(ROLLBACK.format(model="x" * 65), headers=op)
    assert r.status_code == 422 and "model" in r.text
    # a viewer may look, not act
    assert c.post(ROLLBACK.format(model="CV-200"), headers=fleet.viewer).status_code == 403
    r = c.post(ACTIVATE.format(model="CV-200"), json={"profile_id": 1}, headers=fleet.viewer)
    assert r.status_code == 403
    assert audit_entries(fleet, "fleet.model") == []
    assert versions(fleet, "B") == []
