"""POST /api/v1/fleet/events: an acceptor's batches stored once per idempotency key."""

from __future__ import annotations

from typing import Any

from calibration.db import latest_schema_version
from tests.calibration.conftest import Service

URL = "/api/v1/fleet/events"


def event(seq: int, *, acceptor: str = "acc-1", reason: str = "accepted") -> dict[str, Any]:
    """One acceptor event as the outbox sends it."""
    return {
        "key": f"{acceptor}:{seq}",
        "head": "A",
        "at": "2024-05-01T12:00:00.000000Z",
        "coin": "gb-100-2017" if reason == "accepted" else None,
        "reason": reason,
        "detail": None,
        "accepted": reason == "accepted",
    }


def fleet_events(service: Service) -> list[dict[str, Any]]:
    """Every stored fleet event, oldest first."""
    with service.ctx.db.transaction() as tx:
        return tx.fetchall(
            "SELECT idempotency_key, key_id, source, reason FROM events"
            " WHERE idempotency_key IS NOT NULL ORDER BY id"
        )


def test_new_then_duplicates_stored_once(service: Service) -> None:
    assert service.ctx.db.schema_version() == latest_schema_version(service.ctx.db.dialect) == 11
    first = [event(i) for i in range(1, 6)]
    r = service.client.post(URL, json={"events": first}, headers=service.operator)
    assert r.status_code == 200, r.text
    assert r.json()["new"] == 5 and r.json()["duplicates"] == 0
    # sent again after a crash, with two more: only the two are new
    again = [*first[3:], event(6), event(7, reason="counterfeit")]
    r = service.client.post(URL, json={"events": again}, headers=service.operator)
    assert r.status_code == 200, r.text
    assert (r.json()["new"], r.json()["duplicates"]) == (2, 2)
    rows = fleet_events(service)
    assert [row["idempotency_key"] for row in rows] == [f"acc-1:{i}" for i in range(1, 8)]
    operator_id = service.client.get("/api/v1/whoami", headers=service.operator).json()["key_id"]
    assert {row["key_id"] for row in rows} == {operator_id}
    assert {row["source"] for row in rows} == {"fleet"}
    # another acceptor's sequence 1 is its own event
    r = service.client.post(
        URL, json={"events": [event(1, acceptor="acc-2")]}, headers=service.operator
    )
    assert r.json()["new"] == 1
    # the events are ordinary events: paged, counted
    page = service.client.get("/api/v1/events?head=A&limit=1000", headers=service.viewer).json()
    assert len(page["items"]) == 8
    audit = service.client.get("/api/v1/audit?action=fleet.events", headers=service.admin)
    assert audit.status_code == 200, audit.text
    entries = [e for e in _items(audit.json()) if e["action"] == "fleet.events"]
    assert len(entries) == 3


def _items(reply: Any) -> list[dict[str, Any]]:
    return list(reply["items"] if isinstance(reply, dict) else reply)


def test_summaries_stored_once(service: Service) -> None:
    summary = {
        "key": "acc-1:summary:1",
        "head": "A",
        "coin": None,
        "reason": "counterfeit",
        "count": 40,
        "first_at": "2024-05-01T12:00:00Z",
        "last_at": "2024-05-01T13:00:00Z",
    }
    for expected in (1, 0):
        r = service.client.post(URL, json={"summaries": [summary]}, headers=service.operator)
        assert r.status_code == 200, r.text
        assert r.json()["summaries"] == {"new": expected, "duplicates": 1 - expected}
    totals = service.client.get("/api/v1/fleet/summaries", headers=service.viewer).json()
    assert totals == [{"head": "A", "coin": None, "reason": "counterfeit", "n": 40}]
    metrics = service.client.get("/metrics", headers=service.viewer).text
    line = 'coinval_fleet_summarised_events_total{head="A",coin="",reason="counterfeit"} 40'
    assert line in metrics.splitlines()


def test_roles(service: Service) -> None:
    body = {"events": [event(1)]}
    assert service.client.post(URL, json=body).status_code == 401
    assert service.client.post(URL, json=body, headers=service.viewer).status_code == 403
    assert service.client.post(URL, json=body, headers=service.admin).status_code == 200


def _refused(service: Service, body: Any, status: int, words: str) -> None:
    r = service.client.post(URL, json=body, headers=service.operator)
    assert r.status_code == status, r.text
    assert words in r.text, r.text
    assert fleet_events(service) == []


def test_bad_batches_refused_whole(service: Service) -> None:
    good = event(1)
    _refused(service, {"events": [good, {**good, "accepted": "yes"}]}, 422, "accepted")
    _refused(service, {"events": [good, {**good, "at": "2024-05-01T12:00:00"}]}, 422, "at")
    _refused(service, {"events": [{**good, "seq": 3}]}, 422, "seq")
    _refused(service, {"events": [good, {**event(2), "key": 7}]}, 422, "key")
    _refused(service, {"events": [good, dict(good)]}, 422, "already item 0 of this batch")
    _refused(service, {"events": [good, {**event(2), "reason": "odd"}]}, 422, "reason must be")
    _refused(service, {"events": [{**good, "head": "no such head!"}]}, 422, "not a valid name")
    _refused(service, {"events": [{**good, "key": ""}]}, 422, "key")
    _refused(service, [good], 422, "")
    many = {"events": [event(i) for i in range(service.ctx.settings.fleet_max_events + 1)]}
    _refused(service, many, 413, "at most 1000 per request")


def test_unknown_head_is_taken(service: Service) -> None:
    """A fleet's acceptors may serve heads the central store has no profile for."""
    r = service.client.post(
        URL, json={"events": [{**event(1), "head": "far-away-7"}]}, headers=service.operator
    )
    assert r.status_code == 200 and r.json()["new"] == 1


def test_written_in_bounded_transactions(service: Service) -> None:
    service.ctx.settings.write_batch_rows = 100
    r = service.client.post(
        URL, json={"events": [event(i) for i in range(450)]}, headers=service.operator
    )
    assert r.status_code == 200 and r.json()["new"] == 450
    audit = service.client.get("/api/v1/audit?action=fleet.events", headers=service.admin)
    entries = [e for e in _items(audit.json()) if e["action"] == "fleet.events"]
    assert len(entries) >= 3  # one per write transaction, each at most 100 rows
    assert sum(e["after"]["new_events"] for e in entries) == 450


def test_rollups_count_each_new_event_once(service: Service) -> None:
    """A batch goes in as one statement (PostgreSQL counts its rollups per statement):
    the hourly, daily and total rollups equal a recount of the events, duplicates and
    all, across hours and heads."""

    def batch(seqs: range, head: str) -> list[dict[str, Any]]:
        out = []
        for i in seqs:
            e = event(i, acceptor=head, reason="accepted" if i % 3 else "counterfeit")
            e["head"] = head
            e["at"] = f"2024-05-01T{10 + i % 4:02d}:00:00.000000Z"
            out.append(e)
        return out

    for seqs, head in ((range(1, 40), "A"), (range(20, 60), "A"), (range(1, 30), "B")):
        r = service.client.post(URL, json={"events": batch(seqs, head)}, headers=service.operator)
        assert r.status_code == 200, r.text
    with service.ctx.db.transaction() as tx:
        recount = tx.fetchall(
            "SELECT head, SUBSTR(at, 1, 13) AS hour, COALESCE(coin, '') AS coin, reason,"
            " COUNT(*) AS n FROM events GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        )
        hourly = tx.fetchall(
            "SELECT head, hour, coin, reason, n FROM event_counts WHERE n > 0 ORDER BY 1, 2, 3, 4"
        )
        totals = tx.fetchall("SELECT SUM(n) AS n, SUM(refused) AS refused FROM event_totals")
        daily = tx.fetchall("SELECT SUM(n) AS n FROM event_counts_daily")
    assert [dict(r) for r in hourly] == [dict(r) for r in recount]
    assert sum(int(r["n"]) for r in recount) == 59 + 29
    assert int(totals[0]["n"]) == int(daily[0]["n"]) == 59 + 29
    refused = sum(int(r["n"]) for r in recount if r["reason"] != "accepted")
    assert int(totals[0]["refused"]) == refused


def test_texts_are_stored_as_sent_and_a_lone_surrogate_is_refused(service: Service) -> None:
    odd = {**event(1), "detail": 'quote " back\\slash \u00e9\u20ac \U0001f4b7 tab\t', "coin": "c'1"}
    r = service.client.post(URL, json={"events": [odd]}, headers=service.operator)
    assert r.status_code == 200, r.text
    with service.ctx.db.transaction() as tx:
        row = tx.fetchone("SELECT detail, coin, accepted, at FROM events WHERE head = 'A'")
    assert row == {
        "detail": odd["detail"],
        "coin": "c'1",
        "accepted": 1,
        "at": "2024-05-01T12:00:00.000000Z",
    }
    # JSON may carry a lone surrogate (\ud800), which no store can keep as text
    body = b'{"events": [{"key": "acc-1:2", "head": "A", "at": "2024-05-01T12:00:00Z",'
    body += b' "coin": null, "reason": "unknown", "detail": "\\ud800", "accepted": false}]}'
    r = service.client.post(
        URL, content=body, headers={**service.operator, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert "events.0.detail" in r.json()["detail"]
    assert len(fleet_events(service)) == 1
