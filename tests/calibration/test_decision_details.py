"""Every decision the classify route refuses says why in words, inhibited ones included."""

from __future__ import annotations

from typing import Any

from tests.calibration.conftest import BASE_COINS, HEAD, Service, signatures_json

API = "/api/v1"


def _decide(svc: Service, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = svc.client.post(
        f"{API}/heads/{HEAD}/classify?record=false", json=body, headers=svc.operator
    )
    assert r.status_code == 200, r.text
    decisions: list[dict[str, Any]] = r.json()["decisions"]
    return decisions


def test_each_refusal_and_inhibited_decision_carries_a_detail(with_base: Service) -> None:
    svc = with_base
    two, fifty = BASE_COINS
    # more than a gate's batch of coins too: the vectorised path must say why as well
    body = signatures_json(two, 80, seed=21) + signatures_json(fifty, 4, seed=21)
    body += signatures_json("mono-12-sided", 4, seed=21)
    r = svc.client.put(
        f"{API}/heads/{HEAD}/coins/{two}/inhibit", json={"inhibited": True}, headers=svc.operator
    )
    assert r.status_code == 200 and r.json()["inhibited"] is True, r.text
    r = svc.client.put(
        f"{API}/heads/{HEAD}/coins/{fifty}/legal-tender",
        json={"legal_tender": "never"},
        headers=svc.operator,
    )
    assert r.status_code == 200, r.text
    decisions = _decide(svc, body)
    refused = [d for d in decisions if not d["accepted"]]
    assert len(refused) == len(body)
    assert all(isinstance(d.get("detail"), str) and d["detail"] for d in refused), refused
    by_coin = {d["coin"]: d["detail"] for d in refused if d["reason"] == "inhibited"}
    assert by_coin[two] == f"{two} is inhibited by the operator"
    assert by_coin[fifty] == f"{fifty} is refused by an operator override"
    # the master inhibit refuses every coin, each with its reason
    r = svc.client.put(
        f"{API}/heads/{HEAD}/master-inhibit", json={"master_inhibit": True}, headers=svc.operator
    )
    assert r.status_code == 200, r.text
    r = svc.client.put(
        f"{API}/heads/{HEAD}/coins/{two}/inhibit", json={"inhibited": False}, headers=svc.operator
    )
    assert r.status_code == 200 and r.json()["inhibited"] is False, r.text
    decisions = _decide(svc, body[:3])
    assert [d["reason"] for d in decisions] == ["inhibited"] * 3
    assert all(d["detail"] == f"{two} is inhibited by the operator" for d in decisions)
