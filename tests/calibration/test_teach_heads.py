"""Teach sessions only on heads the store has a profile for; the preview's distances explained."""

from __future__ import annotations

from typing import Any

from calibration.repository import teach as teach_repo
from tests.calibration.conftest import HEAD, TAUGHT, Service

API = "/api/v1"


def _audit_actions(svc: Service) -> list[str]:
    items = svc.client.get(f"{API}/audit", headers=svc.admin).json()["items"]
    return [e["action"] for e in items]


def test_a_session_on_a_head_without_a_profile_is_refused_naming_the_heads_there(
    with_base: Service,
) -> None:
    svc = with_base
    r = svc.client.post(
        f"{API}/teach/sessions", json={"coin": TAUGHT, "head": "head7"}, headers=svc.operator
    )
    assert r.status_code == 404, r.text
    detail = r.json()["detail"]
    assert "'head7' has no profile" in detail
    assert f"heads with a profile: {HEAD}." in detail
    assert "POST /api/v1/profiles" in detail
    # nothing was opened, and nothing audited
    assert svc.client.get(f"{API}/teach/sessions", headers=svc.viewer).json() == []
    assert "teach.start" not in _audit_actions(svc)
    # the head of the profile is taken
    r = svc.client.post(
        f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=svc.operator
    )
    assert r.status_code == 201, r.text


def test_an_empty_store_says_no_head_has_a_profile(service: Service) -> None:
    r = service.client.post(
        f"{API}/teach/sessions", json={"coin": TAUGHT}, headers=service.operator
    )
    assert r.status_code == 404, r.text
    assert "no head has a profile here yet" in r.json()["detail"]


def test_a_head_known_only_from_an_operator_setting_has_no_profile_to_teach_into(
    service: Service,
) -> None:
    svc = service
    r = svc.client.put(
        f"{API}/heads/B/master-inhibit", json={"master_inhibit": True}, headers=svc.operator
    )
    assert r.status_code == 200, r.text
    r = svc.client.post(
        f"{API}/teach/sessions", json={"coin": TAUGHT, "head": "B"}, headers=svc.operator
    )
    assert r.status_code == 404 and "'B' has no profile" in r.json()["detail"], r.text


def test_an_upload_to_an_older_session_on_a_head_without_a_profile_is_refused(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    svc = with_base
    # A session opened before heads had to exist, as such a store holds it.
    with svc.ctx.db.transaction(write=True) as tx:
        row = teach_repo.insert_session(
            tx,
            head="head7",
            coin=TAUGHT,
            security="standard",
            live=False,
            base_profile_id=None,
            note=None,
            at="2024-01-01T00:00:00.000000Z",
            by="test",
        )
    sigs = [dict(s, head="head7") for s in teach_sets[TAUGHT][:6]]
    r = svc.client.post(
        f"{API}/teach/sessions/{row['id']}/signatures", json=sigs, headers=svc.operator
    )
    assert r.status_code == 404, r.text
    assert (
        f"'head7' has no profile in this store; heads with a profile: {HEAD}."
        in (r.json()["detail"])
    )


def test_the_preview_leaves_out_distances_that_do_not_exist_and_says_why(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]]
) -> None:
    svc = with_base
    r = svc.client.post(
        f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=svc.operator
    )
    sid = r.json()["id"]
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/signatures", json=teach_sets[TAUGHT], headers=svc.operator
    )
    assert r.status_code == 200, r.text
    preview = svc.client.get(f"{API}/teach/sessions/{sid}/preview", headers=svc.operator).json()
    others = {o["coin"]: o for o in preview["other_coins"]}
    assert set(others) == {"gb-200-1997", "gb-050-1997"}
    for other in others.values():
        assert None not in other.values(), other
        assert other["conflict"] is False
    # A round £2's centre never shows the new pound's twelve edges: no distance, a reason.
    round_two = others["gb-200-1997"]
    assert "its_centre_deviation" not in round_two
    assert (
        "12 edges and alternate-side milling the new gb-100-2017 region requires"
        in (round_two["apart"])
    )
    assert round_two["closest_sample_deviation"] > 1  # a round region takes any edge: a number
    # The seven-sided 50p's region needs seven edges: no session pound can be inside it.
    fifty = others["gb-050-1997"]
    assert "closest_sample_deviation" not in fifty
    assert (
        "none of the session's coins shows the 7 edges gb-050-1997's region requires"
        in (fifty["apart"])
    )
