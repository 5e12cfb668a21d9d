"""Fleet views: acceptors naming themselves in batches, heads' models, rates, drift."""

from __future__ import annotations

import datetime as dt
from typing import Any

from calibration.repository import fleet_heads
from tests.calibration.conftest import Service

EVENTS = "/api/v1/fleet/events"
NOW = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)


def at_clock(service: Service, moment: dt.datetime) -> None:
    """The service's clock stopped at ``moment``."""
    service.ctx.clock = lambda: moment


def event(
    key: str,
    head: str,
    *,
    at: str = "2024-05-01T12:00:00Z",
    reason: str = "accepted",
    coin: str | None = "gb-100-2017",
) -> dict[str, Any]:
    """One acceptor event."""
    return {
        "key": key,
        "head": head,
        "at": at,
        "coin": coin if reason in ("accepted", "inhibited") else None,
        "reason": reason,
        "detail": None,
        "accepted": reason == "accepted",
    }


def fleet_row(service: Service, head: str) -> dict[str, Any] | None:
    with service.ctx.db.transaction() as tx:
        return fleet_heads.get(tx, head)


def test_a_batch_naming_its_acceptor_records_its_heads(service: Service) -> None:
    at_clock(service, NOW)
    body = {
        "events": [event("acc-1:1", "H1"), event("acc-1:2", "H2")],
        "summaries": [
            {
                "key": "acc-1:summary:1",
                "head": "H3",
                "coin": None,
                "reason": "counterfeit",
                "count": 3,
                "first_at": "2024-05-01T11:00:00Z",
                "last_at": "2024-05-01T11:30:00Z",
            }
        ],
        "acceptor": {"id": "acc-1", "model": "CV-200", "profile_version": 4},
    }
    r = service.client.post(EVENTS, json=body, headers=service.operator)
    assert r.status_code == 200, r.text
    assert r.json()["new"] == 3
    for head in ("H1", "H2", "H3"):
        row = fleet_row(service, head)
        assert row is not None
        assert (row["acceptor_id"], row["model"], row["model_source"]) == (
            "acc-1",
            "CV-200",
            "acceptor",
        )
        assert row["running_version"] == 4
        assert row["last_seen"] == "2024-05-01T12:30:00.000000Z"
    # the batch's audit entry names the acceptor and the heads it was seen with
    audit = service.client.get("/api/v1/audit?action=fleet.events", headers=service.admin)
    (entry,) = audit.json()["items"]
    assert entry["after"]["acceptor"] == {
        "id": "acc-1",
        "model": "CV-200",
        "profile_version": 4,
        "heads": ["H1", "H2", "H3"],
    }


def test_a_later_batch_moves_last_seen_and_keeps_what_it_does_not_say(service: Service) -> None:
    at_clock(service, NOW)
    first = {
        "events": [event("acc-1:1", "H1")],
        "acceptor": {"id": "acc-1", "model": "CV-200", "profile_version": 4},
    }
    assert service.client.post(EVENTS, json=first, headers=service.operator).status_code == 200
    at_clock(service, NOW + dt.timedelta(minutes=5))
    # the same batch again (a lost reply): all duplicates, but the acceptor was heard from
    again = {"events": first["events"], "acceptor": {"id": "acc-9"}}
    r = service.client.post(EVENTS, json=again, headers=service.operator)
    assert r.status_code == 200 and r.json()["duplicates"] == 1
    row = fleet_row(service, "H1")
    assert row is not None
    assert row["last_seen"] == "2024-05-01T12:35:00.000000Z"
    assert row["acceptor_id"] == "acc-9"
    assert (row["model"], row["running_version"]) == ("CV-200", 4)
    third = {
        "events": [event("acc-9:2", "H1")],
        "acceptor": {"id": "acc-9", "model": "CV-300", "profile_version": 5},
    }
    assert service.client.post(EVENTS, json=third, headers=service.operator).status_code == 200
    row = fleet_row(service, "H1")
    assert row is not None and (row["model"], row["running_version"]) == ("CV-300", 5)


def test_an_operators_model_is_not_overridden_by_an_acceptor(service: Service) -> None:
    at_clock(service, NOW)
    with service.ctx.db.transaction(write=True) as tx:
        fleet_heads.set_model(tx, "H1", "CV-OPS", service.ctx.now())
    body = {"events": [event("acc-1:1", "H1")], "acceptor": {"id": "acc-1", "model": "CV-200"}}
    assert service.client.post(EVENTS, json=body, headers=service.operator).status_code == 200
    row = fleet_row(service, "H1")
    assert row is not None
    assert (row["model"], row["model_source"], row["reported_model"]) == (
        "CV-OPS",
        "operator",
        "CV-200",
    )
    with service.ctx.db.transaction(write=True) as tx:  # the operator's dropped: the acceptor's
        fleet_heads.set_model(tx, "H1", None, service.ctx.now())
    row = fleet_row(service, "H1")
    assert row is not None and (row["model"], row["model_source"]) == ("CV-200", "acceptor")


def test_a_batch_without_acceptor_records_no_head(service: Service) -> None:
    r = service.client.post(
        EVENTS, json={"events": [event("acc-1:1", "H1")]}, headers=service.operator
    )
    assert r.status_code == 200
    assert r.json() == {
        "received": 1,
        "new": 1,
        "duplicates": 0,
        "events": {"new": 1, "duplicates": 0},
        "summaries": {"new": 0, "duplicates": 0},
    }
    assert fleet_row(service, "H1") is None


def test_bad_acceptors_refuse_the_batch(service: Service) -> None:
    good = event("acc-1:1", "H1")
    for acceptor, words in (
        ({"id": ""}, "acceptor.id"),
        ({"id": "x" * 65}, "acceptor.id"),
        ({"id": 7}, "acceptor.id"),
        ({"id": "a", "model": "CV 200"}, "acceptor.model"),
        ({"id": "a", "model": "x" * 65}, "acceptor.model"),
        ({"id": "a", "profile_version": 0}, "acceptor.profile_version"),
        ({"id": "a", "profile_version": 2**31}, "acceptor.profile_version"),
        ({"id": "a", "profile_version": "3"}, "acceptor.profile_version"),
        ({"id": "a", "site": "north"}, "acceptor.site"),
        ("acc-1", "acceptor"),
    ):
        r = service.client.post(
            EVENTS, json={"events": [good], "acceptor": acceptor}, headers=service.operator
        )
        assert r.status_code == 422, (acceptor, r.text)
        locs = [".".join(str(p) for p in e["loc"][1:]) for e in r.json()["errors"]]
        assert any(loc.startswith(words) for loc in locs), (acceptor, locs)
    assert fleet_row(service, "H1") is None
    with service.ctx.db.transaction() as tx:
        assert tx.fetchall("SELECT id FROM events") == []
