"""A whole recalibration through the API, and inhibits reaching decisions at once."""

from __future__ import annotations

import json
from typing import Any

from calibration.hooks import ActiveConfig
from coinval.profile import loads
from tests.calibration.conftest import BASE_COINS, HEAD, SECOND, TAUGHT, Service

API = "/api/v1"


def decide(svc: Service, signatures: list[dict[str, Any]], **params: Any) -> list[dict[str, Any]]:
    r = svc.client.post(
        f"{API}/heads/{HEAD}/classify", json=signatures, params=params, headers=svc.operator
    )
    assert r.status_code == 200, r.text
    return r.json()["decisions"]


def reasons(decisions: list[dict[str, Any]]) -> list[str]:
    return [f"{d['reason']}:{d['coin']}" if d["coin"] else d["reason"] for d in decisions]


def start_session(svc: Service, coin: str, **extra: Any) -> int:
    r = svc.client.post(
        f"{API}/teach/sessions", json={"coin": coin, "head": HEAD, **extra}, headers=svc.operator
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_whole_recalibration(
    with_base: Service,
    teach_sets: dict[str, list[dict[str, Any]]],
    traffic: list[dict[str, Any]],
    base_profile_text: str,
) -> None:
    svc = with_base
    c = svc.client
    new_pounds = [t for t in traffic if t["id"].startswith(TAUGHT)]
    # Before: the new pound is not taught; traffic is recorded with its signatures.
    assert set(reasons(decide(svc, new_pounds))) == {"unknown"}
    decide(svc, traffic)

    sid = start_session(svc, TAUGHT)
    upload = teach_sets[TAUGHT]
    r = c.post(f"{API}/teach/sessions/{sid}/signatures", json=upload[:12], headers=svc.operator)
    assert r.status_code == 200 and r.json()["count"] == 12
    lines = "\n".join(json.dumps(s) for s in upload[12:]) + "\n"
    r = c.post(
        f"{API}/teach/sessions/{sid}/signatures",
        content=lines,
        headers={**svc.operator, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "added": len(upload) - 12,
        "rejected": [],
        "count": len(upload),
        "with_loss_traces": 0,
    }

    progress = c.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()
    assert progress["count"] == len(upload) and progress["ready"] is True
    assert progress["edge_counts"] == {"12": len(upload)}
    assert "diameter_mm" in progress["spread"]

    preview = c.get(f"{API}/teach/sessions/{sid}/preview", headers=svc.operator).json()
    assert preview["coins"] == [*BASE_COINS, TAUGHT]
    assert preview["self"]["inside_new_region"] >= len(upload) - 2
    assert {o["coin"] for o in preview["other_coins"]} == set(BASE_COINS)
    assert not any(o["conflict"] for o in preview["other_coins"])
    replay = preview["replay"]
    assert replay["events"] == len(new_pounds) + len(traffic)
    assert replay["candidate"].get(f"accepted:{TAUGHT}", 0) >= 4
    assert replay["changed"] >= 4

    # Preview changed nothing.
    assert c.get(f"{API}/heads/{HEAD}/active", headers=svc.viewer).json()["version"] == 1

    r = c.post(f"{API}/teach/sessions/{sid}/commit", json={}, headers=svc.operator)
    assert r.status_code == 200, r.text
    new = r.json()["profile"]
    assert new["version"] == 2 and new["parent_id"] == 1 and new["coins"][-1] == TAUGHT
    assert c.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()["state"] == "committed"
    # Committed but not active yet.
    assert set(reasons(decide(svc, new_pounds))) == {"unknown"}

    r = c.put(f"{API}/heads/{HEAD}/active", json={"profile_id": new["id"]}, headers=svc.operator)
    assert r.status_code == 200, r.text
    assert set(reasons(decide(svc, new_pounds))) == {f"accepted:{TAUGHT}"}
    fakes = [t for t in traffic if t["id"].startswith("mono-12-sided")]
    assert not any(d["accepted"] for d in decide(svc, fakes))

    # Export is the `coinval teach` format; the base coins' regions are untouched.
    exported = c.get(f"{API}/profiles/{new['id']}/document", headers=svc.viewer)
    assert exported.status_code == 200
    profile = loads(exported.content)
    assert profile.coins == [*BASE_COINS, TAUGHT]
    base = json.loads(base_profile_text)
    assert json.loads(exported.content)["coins"]["gb-200-1997"] == base["coins"]["gb-200-1997"]
    diff = c.get(f"{API}/profiles/1/diff/{new['id']}", headers=svc.viewer).json()
    assert diff["coins_added"] == [TAUGHT] and diff["coins_changed"] == {}

    r = c.post(f"{API}/heads/{HEAD}/rollback", headers=svc.operator)
    assert r.status_code == 200, r.text
    assert r.json()["active"]["version"] == 1
    assert set(reasons(decide(svc, new_pounds))) == {"unknown"}
    history = c.get(f"{API}/heads/{HEAD}/history", headers=svc.viewer).json()
    assert [h["kind"] for h in history] == ["rollback", "activate", "activate"]

    actions = [e["action"] for e in c.get(f"{API}/audit", headers=svc.viewer).json()["items"]]
    for expected in (
        "profile.import",
        "teach.start",
        "teach.samples",
        "teach.commit",
        "profile.teach",
        "head.activate",
        "head.rollback",
    ):
        assert expected in actions


def test_rollback_to_a_named_version_and_refusals(
    with_base: Service, base_profile_text: str
) -> None:
    c, op = with_base.client, with_base.operator
    for _ in range(2):
        r = c.post(f"{API}/profiles?activate=true", content=base_profile_text, headers=op)
        assert r.status_code == 201
    assert c.get(f"{API}/heads/{HEAD}/active", headers=op).json()["version"] == 3
    r = c.post(f"{API}/heads/{HEAD}/rollback", json={"version": 3}, headers=op)
    assert r.status_code == 409 and "not earlier" in r.json()["detail"]
    r = c.post(f"{API}/heads/{HEAD}/rollback", json={"version": 9}, headers=op)
    assert r.status_code == 404
    r = c.post(f"{API}/heads/{HEAD}/rollback", json={"version": 1}, headers=op)
    assert r.status_code == 200 and r.json()["active"]["version"] == 1
    r = c.post(f"{API}/heads/B/rollback", headers=op)
    assert r.status_code == 409


def test_inhibits_reach_decisions_and_subscribers_at_once(
    with_base: Service, traffic: list[dict[str, Any]]
) -> None:
    svc = with_base
    c = svc.client
    heard: list[ActiveConfig] = []
    svc.ctx.subscribers.subscribe(heard.append)
    twos = [t for t in traffic if t["id"].startswith("gb-200-1997")]
    assert set(reasons(decide(svc, twos))) == {"accepted:gb-200-1997"}

    r = c.put(
        f"{API}/heads/{HEAD}/coins/gb-200-1997/inhibit",
        json={"inhibited": True},
        headers=svc.operator,
    )
    assert r.status_code == 200, r.text
    assert set(reasons(decide(svc, twos))) == {"inhibited:gb-200-1997"}
    assert "gb-200-1997" in heard[-1].profile.inhibited
    state = c.get(f"{API}/heads/{HEAD}/coins", headers=svc.viewer).json()
    two = next(x for x in state["coins"] if x["id"] == "gb-200-1997")
    assert two["inhibited"] is True and two["enabled_now"] is False and two["position"] == 1

    c.put(
        f"{API}/heads/{HEAD}/coins/gb-200-1997/inhibit",
        json={"inhibited": False},
        headers=svc.operator,
    )
    assert set(reasons(decide(svc, twos))) == {"accepted:gb-200-1997"}

    r = c.put(
        f"{API}/heads/{HEAD}/master-inhibit", json={"master_inhibit": True}, headers=svc.operator
    )
    assert r.status_code == 200
    assert heard[-1].master_inhibit is True
    assert {d["reason"] for d in decide(svc, traffic)} <= {"inhibited", "unknown", "counterfeit"}
    c.put(
        f"{API}/heads/{HEAD}/master-inhibit", json={"master_inhibit": False}, headers=svc.operator
    )
    assert set(reasons(decide(svc, twos))) == {"accepted:gb-200-1997"}

    # Settings survive activation of another version.
    c.put(
        f"{API}/heads/{HEAD}/coins/gb-050-1997/inhibit",
        json={"inhibited": True},
        headers=svc.operator,
    )
    fifties = [t for t in traffic if t["id"].startswith("gb-050-1997")]
    r = c.post(f"{API}/heads/{HEAD}/rollback", headers=svc.operator)
    assert r.status_code == 409  # nothing earlier yet
    assert set(reasons(decide(svc, fifties))) == {"inhibited:gb-050-1997"}


def test_legal_tender_override(with_base: Service, teach_sets: dict[str, Any]) -> None:
    svc = with_base
    c = svc.client
    sid = start_session(svc, "gb-100-1983")
    from tests.calibration.conftest import signatures_json

    round_pounds = signatures_json("gb-100-1983", 20, seed=4)
    c.post(f"{API}/teach/sessions/{sid}/signatures", json=round_pounds, headers=svc.operator)
    r = c.post(f"{API}/teach/sessions/{sid}/commit", json={"activate": True}, headers=svc.operator)
    assert r.status_code == 200, r.text
    probe = signatures_json("gb-100-1983", 3, seed=5)
    assert set(reasons(decide(svc, probe, at="2017-10-14T12:00:00+01:00", record="false"))) == {
        "accepted:gb-100-1983"
    }
    assert set(reasons(decide(svc, probe, at="2017-10-16T12:00:00+01:00", record="false"))) == {
        "inhibited:gb-100-1983"
    }
    r = c.put(
        f"{API}/heads/{HEAD}/coins/gb-100-1983/legal-tender",
        json={"legal_tender": "always"},
        headers=svc.operator,
    )
    assert r.status_code == 200
    assert set(reasons(decide(svc, probe, at="2017-10-16T12:00:00+01:00", record="false"))) == {
        "accepted:gb-100-1983"
    }
    c.put(
        f"{API}/heads/{HEAD}/coins/gb-100-1983/legal-tender",
        json={"legal_tender": "never"},
        headers=svc.operator,
    )
    assert set(reasons(decide(svc, probe, at="2017-10-14T12:00:00+01:00", record="false"))) == {
        "inhibited:gb-100-1983"
    }


def test_teach_session_lifecycle_and_refusals(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    svc = with_base
    c = svc.client
    sid = start_session(svc, SECOND)
    r = c.post(f"{API}/teach/sessions/{sid}/commit", headers=svc.operator)
    assert r.status_code == 422 and "at least 5" in r.json()["detail"]
    # The wrong coin's file is refused at commit with the core's reason.
    c.post(
        f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[TAUGHT][:10], headers=svc.operator
    )
    progress = c.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()
    assert progress["ready"] is False and "does not look like" in progress["problem"]
    r = c.post(f"{API}/teach/sessions/{sid}/commit", headers=svc.operator)
    assert r.status_code == 422 and "teach refused" in r.json()["detail"]
    r = c.post(f"{API}/teach/sessions/{sid}/abandon", headers=svc.operator)
    assert r.status_code == 200 and r.json()["state"] == "abandoned"
    for path, body in (("signatures", teach_sets[SECOND]), ("commit", {}), ("abandon", None)):
        r = c.post(f"{API}/teach/sessions/{sid}/{path}", json=body, headers=svc.operator)
        assert r.status_code == 409, (path, r.text)
    assert c.get(f"{API}/teach/sessions/999", headers=svc.viewer).status_code == 404
    r = c.post(f"{API}/teach/sessions", json={"coin": "gb-999-2099"}, headers=svc.operator)
    assert r.status_code == 404 and "unknown coin id" in r.json()["detail"]
    listed = c.get(f"{API}/teach/sessions?state=abandoned", headers=svc.viewer).json()
    assert [s["id"] for s in listed] == [sid]


def test_live_teach_and_recorded_decisions(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    from calibration.service import CalibrationService
    from coinval.engine import Engine
    from coinval.signature import parse_signature

    svc = with_base
    service = CalibrationService(svc.ctx)
    sid = start_session(svc, TAUGHT, live=True)
    for obj in teach_sets[TAUGHT][:8]:
        assert service.feed_live(HEAD, parse_signature(obj)) == [sid]
    assert svc.client.get(f"{API}/teach/sessions/{sid}", headers=svc.viewer).json()["count"] == 8

    config = service.active(HEAD)
    assert config is not None and config.version == 1
    sig = parse_signature(teach_sets[TAUGHT][0])
    decision = Engine(config.profile).decide_signatures(
        [sig], __import__("datetime").datetime.now(__import__("datetime").UTC)
    )[0]
    event_id = service.record_decision(HEAD, decision, signature=sig)
    page = svc.client.get(f"{API}/events", headers=svc.viewer).json()
    assert page["items"][0]["id"] == event_id and page["items"][0]["has_signature"] is True


def test_importing_a_profile_of_the_allowance_engine_is_refused_with_teach_again(
    service: Service, base_profile_text: str
) -> None:
    fresh = service.client.post(
        f"{API}/profiles", content=base_profile_text, headers=service.operator
    )
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["warnings"] == []
    doc = json.loads(base_profile_text)
    doc["schema_version"] = 2
    r = service.client.post(f"{API}/profiles", content=json.dumps(doc), headers=service.operator)
    assert r.status_code in (400, 422), r.text
    assert "teach again" in r.text
