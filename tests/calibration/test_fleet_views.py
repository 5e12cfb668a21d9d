"""Fleet views: acceptors naming themselves in batches, heads' models, rates, drift."""

from __future__ import annotations

import datetime as dt
from typing import Any

from calibration.repository import fleet_heads, rollups
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


HEADS = "/api/v1/fleet/heads"
DRIFT = "/api/v1/fleet/drift"


def post_events(service: Service, events: list[dict[str, Any]], **acceptor: Any) -> None:
    """Store events through the fleet route, in batches it takes."""
    for start in range(0, len(events), 500):
        body: dict[str, Any] = {"events": events[start : start + 500]}
        if acceptor:
            body["acceptor"] = acceptor
        r = service.client.post(EVENTS, json=body, headers=service.operator)
        assert r.status_code == 200, r.text
        assert r.json()["new"] == len(body["events"])


def many(
    head: str,
    at: str,
    n: int,
    *,
    reason: str = "accepted",
    coin: str = "gb-100-2017",
    tag: str = "",
) -> list[dict[str, Any]]:
    """``n`` events of one kind on ``head`` at ``at``, keys unique per (head, at, reason, tag)."""
    return [
        event(f"{head}:{at}:{reason}:{coin}:{tag}:{i}", head, at=at, reason=reason, coin=coin)
        for i in range(n)
    ]


def test_rates_and_coins_per_hour_from_known_events(with_base: Service) -> None:
    service = with_base
    at_clock(service, NOW)  # 2024-05-01 12:30 UTC
    post_events(
        service,
        [
            *many("A", "2024-05-01T12:10:00Z", 2),  # this hour
            *many("A", "2024-05-01T11:05:00Z", 3),  # the last whole hour
            *many("A", "2024-05-01T11:59:59Z", 1, reason="counterfeit"),
            *many("A", "2024-04-30T20:00:00Z", 4, coin="gb-050-1997"),
            *many("A", "2024-04-30T20:00:00Z", 1, reason="inhibited", coin="gb-050-1997"),
            *many("A", "2024-04-29T14:00:00Z", 6, reason="unknown"),  # in 48 h, not in 24 h
            *many("A", "2024-04-29T12:59:59Z", 7, reason="unknown"),  # in 72 h only
        ],
        id="acc-A",
        model="CV-200",
        profile_version=1,
    )
    r = service.client.get(HEADS, headers=service.viewer)
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["window"] == {
        "hours": 24,
        "since": "2024-04-30T13:00:00.000000Z",
        "until": "2024-05-01T13:00:00.000000Z",
    }
    assert reply["last_hour"]["since"] == "2024-05-01T11:00:00.000000Z"
    (a,) = reply["items"]
    assert a["head"] == "A" and a["model"] == "CV-200" and a["acceptor_id"] == "acc-A"
    assert (a["active_version"], a["running_version"], a["runs_active"]) == (1, 1, True)
    assert a["last_seen"] == "2024-05-01T12:30:00.000000Z"
    assert (a["coins_per_hour"], a["coins_this_hour"]) == (4, 2)
    # 24 h: 2 + 3 + 1 counterfeit + 4 + 1 inhibited
    assert (a["total"], a["accepted"], a["refused"]) == (11, 9, 2)
    assert a["acceptance_rate"] == 9 / 11 and a["refusal_rate"] == 2 / 11
    assert a["by_coin"] == {
        "(none)": {
            "total": 1,
            "accepted": 0,
            "refused": 1,
            "acceptance_rate": 0.0,
            "refusal_rate": 1.0,
        },
        "gb-050-1997": {
            "total": 5,
            "accepted": 4,
            "refused": 1,
            "acceptance_rate": 0.8,
            "refusal_rate": 0.2,
        },
        "gb-100-2017": {
            "total": 5,
            "accepted": 5,
            "refused": 0,
            "acceptance_rate": 1.0,
            "refusal_rate": 0.0,
        },
    }
    # 48 h reads a whole day from the daily counts and the hours around it
    for hours, total in ((48, 17), (72, 24), (2, 6), (1, 2)):
        (a,) = service.client.get(f"{HEADS}?hours={hours}", headers=service.viewer).json()["items"]
        assert a["total"] == total, hours


def test_a_head_without_traffic_or_acceptor_is_listed_with_nothing_measured(
    with_base: Service,
) -> None:
    (a,) = service_items(with_base, HEADS)
    assert a["head"] == "A" and a["active_version"] == 1
    assert a["model"] is None and a["running_version"] is None and a["runs_active"] is None
    assert (a["total"], a["coins_per_hour"], a["acceptance_rate"], a["by_coin"]) == (0, 0, None, {})


def service_items(service: Service, url: str) -> list[dict[str, Any]]:
    r = service.client.get(url, headers=service.viewer)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_paging_covers_every_head_once(with_base: Service) -> None:
    service = with_base
    at_clock(service, NOW)
    # heads from three places: a profile (A), decisions only, acceptor reports
    post_events(service, [event(f"k:{h}", h) for h in ("B1", "B2", "B3", "Z9")])
    post_events(service, [event(f"m:{h}", h) for h in ("M1", "M2", "B2")], id="acc", model="CV-7")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        url = f"{HEADS}?limit=2" + (f"&after={after}" if after else "")
        reply = service.client.get(url, headers=service.viewer).json()
        seen += [item["head"] for item in reply["items"]]
        pages += 1
        after = reply["next_after"]
        if after is None:
            break
    assert seen == ["A", "B1", "B2", "B3", "M1", "M2", "Z9"]
    assert pages == 4
    # a model's heads only, paged the same way
    first = service.client.get(f"{HEADS}?model=CV-7&limit=2", headers=service.viewer).json()
    assert [i["head"] for i in first["items"]] == ["B2", "M1"]
    rest = service.client.get(
        f"{HEADS}?model=CV-7&limit=2&after={first['next_after']}", headers=service.viewer
    ).json()
    assert [i["head"] for i in rest["items"]] == ["M2"] and rest["next_after"] is None


def refusals(head: str, at: str, total: int, refused: int, tag: str) -> list[dict[str, Any]]:
    """``total`` decisions on ``head`` at ``at``, ``refused`` of them counterfeits."""
    return [
        *many(head, at, total - refused, tag=tag),
        *many(head, at, refused, reason="counterfeit", tag=tag),
    ]


def expected_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """The pooled two-proportion z, worked out here on its own."""
    p = (x1 + x2) / (n1 + n2)
    return float((x1 / n1 - x2 / n2) / (p * (1 - p) * (1 / n1 + 1 / n2)) ** 0.5)


def test_drift_flags_the_head_whose_refusals_rose_and_not_the_steady_one(
    service: Service,
) -> None:
    at_clock(service, NOW)
    baseline_at, recent_at = "2024-04-27T10:00:00Z", "2024-05-01T09:00:00Z"
    post_events(
        service,
        [
            *refusals("STEADY", baseline_at, 100, 10, "b"),
            *refusals("STEADY", recent_at, 50, 5, "r"),
            *refusals("RISEN", baseline_at, 100, 10, "b"),
            *refusals("RISEN", recent_at, 50, 30, "r"),
            *refusals("NEW", recent_at, 20, 20, "r"),  # nothing to compare with
            *refusals("OLD", "2024-04-01T10:00:00Z", 20, 20, "o"),  # before both windows
        ],
    )
    r = service.client.get(DRIFT, headers=service.viewer)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["recent"]["since"] == "2024-04-30T13:00:00.000000Z"
    assert d["baseline"] == {
        "hours": 168,
        "since": "2024-04-23T13:00:00.000000Z",
        "until": "2024-04-30T13:00:00.000000Z",
    }
    assert (d["heads_tested"], d["heads_untested"], d["flagged"]) == (2, 1, 1)
    (risen,) = d["heads"]
    assert risen["head"] == "RISEN" and risen["direction"] == "up"
    assert risen["recent"] == {"total": 50, "refused": 30, "refusal_rate": 0.6}
    assert risen["baseline"] == {"total": 100, "refused": 10, "refusal_rate": 0.1}
    assert abs(risen["z"] - expected_z(30, 50, 10, 100)) < 1e-9
    assert risen["z"] > 4
    # the fleet's line for decisions without a coin (counterfeits) rose, on one head
    by_coin = {line["coin"]: line for line in d["fleet"]["by_coin"]}
    none = by_coin["(none)"]
    assert none["recent"]["refused"] == 55 and none["baseline"]["refused"] == 20
    assert none["recent"]["by_reason"]["counterfeit"] == 55
    assert none["recent"]["refused_share"] == 55 / 120
    assert abs(none["z"] - expected_z(55, 120, 20, 200)) < 1e-9
    assert none["heads_up"] == 1
    assert "gb-100-2017" not in by_coin  # never refused: nothing to say about refusals
    assert d["fleet"]["all"]["recent"] == {"total": 120, "refused": 55, "refusal_rate": 55 / 120}
    # a stricter threshold flags nothing; a falling rate is flagged "down"
    assert service.client.get(f"{DRIFT}?z=7", headers=service.viewer).json()["flagged"] == 0
    post_events(service, refusals("FELL", baseline_at, 100, 60, "b"))
    post_events(service, refusals("FELL", recent_at, 100, 5, "r"))
    d = service.client.get(DRIFT, headers=service.viewer).json()
    assert [(h["head"], h["direction"]) for h in d["heads"]] == [("FELL", "down"), ("RISEN", "up")]
    assert (d["flagged_up"], d["flagged_down"]) == (1, 1)
    # a model's heads only
    post_events(service, [event("m:1", "RISEN")], id="acc", model="CV-9")
    d = service.client.get(f"{DRIFT}?model=CV-9", headers=service.viewer).json()
    assert d["heads_tested"] == 1 and [h["head"] for h in d["heads"]] == ["RISEN"]


def test_drift_windows_are_the_parameters(service: Service) -> None:
    at_clock(service, NOW)
    # refusals rose an hour ago: a 2-hour window sees it against the 22 hours before
    post_events(service, refusals("H", "2024-05-01T02:00:00Z", 200, 2, "b"))
    post_events(service, refusals("H", "2024-05-01T11:30:00Z", 40, 30, "r"))
    short = service.client.get(f"{DRIFT}?hours=2&baseline_hours=22", headers=service.viewer)
    assert short.json()["flagged"] == 1
    # a 24-hour window holds both: nothing in the baseline, nothing tested
    wide = service.client.get(f"{DRIFT}?hours=24&baseline_hours=24", headers=service.viewer)
    assert (wide.json()["heads_tested"], wide.json()["flagged"]) == (0, 0)


def test_bad_view_parameters_are_4xx_naming_them(service: Service) -> None:
    for url, status, words in (
        (f"{HEADS}?hours=0", 422, "hours"),
        (f"{HEADS}?hours=100000", 422, "hours"),
        (f"{HEADS}?hours=x", 422, "hours"),
        (f"{HEADS}?limit=0", 422, "limit"),
        (f"{HEADS}?limit=501", 422, "limit"),
        (f"{HEADS}?after={'x' * 65}", 422, "after"),
        (f"{HEADS}?model=bad%20model", 422, "model"),
        (f"{HEADS}?model=NOPE", 404, "NOPE"),
        (f"{DRIFT}?baseline_hours=-1", 422, "baseline_hours"),
        (f"{DRIFT}?z=0", 422, "z"),
        (f"{DRIFT}?z=nan", 422, "z"),
        (f"{DRIFT}?z=inf", 422, "z"),
        (f"{DRIFT}?limit=1001", 422, "limit"),
        (f"{DRIFT}?model=NOPE", 404, "no head has model 'NOPE'"),
    ):
        r = service.client.get(url, headers=service.viewer)
        assert r.status_code == status, (url, r.text)
        assert words in r.text, (url, r.text)
    assert service.client.get(HEADS).status_code == 401


MODEL = "/api/v1/fleet/heads/{head}/model"


def test_an_operator_sets_and_drops_a_heads_model(with_base: Service) -> None:
    service = with_base
    at_clock(service, NOW)
    post_events(service, [event("k:1", "A")], id="acc", model="CV-200")
    r = service.client.put(MODEL.format(head="A"), json={"model": "CV-X"}, headers=service.operator)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "head": "A",
        "model": "CV-X",
        "model_source": "operator",
        "reported_model": "CV-200",
    }
    (a,) = service_items(service, f"{HEADS}?model=CV-X")
    assert a["head"] == "A" and a["model_source"] == "operator"
    r = service.client.put(MODEL.format(head="A"), json={"model": None}, headers=service.operator)
    assert r.status_code == 200 and r.json()["model"] == "CV-200"
    entries = service.client.get(
        "/api/v1/audit?action=fleet.head.model", headers=service.admin
    ).json()["items"]
    assert [(e["target"], e["before"]["model"], e["after"]["model"]) for e in entries] == [
        ("head:A", "CV-X", "CV-200"),
        ("head:A", "CV-200", "CV-X"),
    ]


def test_bad_model_requests_are_4xx(with_base: Service) -> None:
    service = with_base
    url = MODEL.format(head="A")
    for body, words in (
        ({"model": "has space"}, "model"),
        ({"model": ""}, "model"),
        ({"model": 5}, "model"),
        ({}, "model"),
        ({"model": "M", "extra": 1}, "extra"),
    ):
        r = service.client.put(url, json=body, headers=service.operator)
        assert r.status_code == 422, (body, r.text)
        assert words in r.text
    r = service.client.put(
        MODEL.format(head="NOWHERE"), json={"model": "M"}, headers=service.operator
    )
    assert r.status_code == 404 and "NOWHERE" in r.json()["detail"]
    r = service.client.put(
        MODEL.format(head="bad head!"), json={"model": "M"}, headers=service.operator
    )
    assert r.status_code == 422 and "not a valid name" in r.json()["detail"]
    assert service.client.put(url, json={"model": "M"}, headers=service.viewer).status_code == 403
    with service.ctx.db.transaction() as tx:
        assert tx.fetchall("SELECT head FROM fleet_heads") == []


def rollup_rows(service: Service) -> dict[str, list[dict[str, Any]]]:
    """Every non-zero row of every rollup, in key order."""
    tables = {
        "event_counts": "head, hour, coin, reason",
        "event_counts_daily": "head, day, coin, reason",
        "event_totals": "head, hour",
        "event_totals_daily": "head, day",
        "event_counts_block": "head, block, coin, reason",
        "event_totals_block": "head, block",
        "fleet_counts": "hour, coin, reason",
        "fleet_counts_daily": "day, coin, reason",
    }
    with service.ctx.db.transaction() as tx:
        return {
            table: tx.fetchall(f"SELECT * FROM {table} WHERE n <> 0 ORDER BY {key}")
            for table, key in tables.items()
        }


def test_rebuilt_rollups_are_the_counts_of_the_events(service: Service) -> None:
    at_clock(service, NOW)
    post_events(
        service,
        [
            *refusals("H1", "2024-04-27T10:00:00Z", 30, 4, "a"),
            *refusals("H1", "2024-05-01T11:00:00Z", 12, 3, "b"),
            *refusals("H2", "2024-05-01T12:00:00Z", 9, 9, "c"),
        ],
    )
    with service.ctx.db.transaction(write=True) as tx:  # the triggers follow changes too
        tx.execute("UPDATE events SET reason = 'unknown', coin = NULL WHERE id = 1")
        tx.execute("DELETE FROM events WHERE id = 2")
    kept = rollup_rows(service)  # as the triggers keep them
    view = service.client.get(f"{HEADS}?hours=168", headers=service.viewer).json()["items"]
    # a load that bypassed the triggers: the rollups are wrong or missing
    with service.ctx.db.transaction(write=True) as tx:
        tx.execute("DELETE FROM event_counts WHERE head = 'H1'")
        tx.execute("UPDATE event_counts_daily SET n = n + 5")
        tx.execute("DELETE FROM event_totals WHERE head = 'H2'")
        tx.execute("UPDATE event_totals_daily SET refused = 0")
        tx.execute("DELETE FROM fleet_counts WHERE coin = 'a'")
        tx.execute("UPDATE event_counts_block SET n = n + 2 WHERE head = 'H1'")
        tx.execute("UPDATE fleet_counts_daily SET n = n + 1")
        tx.execute(
            "INSERT INTO event_counts (head, hour, coin, reason, n)"
            " VALUES ('GHOST', '2024-05-01T10', '', 'unknown', 3)"
        )
    assert rollup_rows(service) != kept
    with service.ctx.db.transaction(write=True) as tx:
        counted = rollups.rebuild_rollups(tx)
    assert rollup_rows(service) == kept
    assert counted == {table: len(rows) for table, rows in kept.items()}
    # the totals are one row per head and hour (day), whatever the coins and reasons
    assert kept["event_totals"] == [
        {"head": "H1", "hour": "2024-04-27T10", "n": 29, "refused": 5},
        {"head": "H1", "hour": "2024-05-01T11", "n": 12, "refused": 3},
        {"head": "H2", "hour": "2024-05-01T12", "n": 9, "refused": 9},
    ]
    again = service.client.get(f"{HEADS}?hours=168", headers=service.viewer).json()["items"]
    assert again == view
    # the fleet's rollups are the per-head ones summed over heads
    for fleet, per_head, unit in (
        ("fleet_counts", "event_counts", "hour"),
        ("fleet_counts_daily", "event_counts_daily", "day"),
    ):
        summed: dict[tuple[str, str, str], int] = {}
        for row in kept[per_head]:
            key = (row[unit], row["coin"], row["reason"])
            summed[key] = summed.get(key, 0) + row["n"]
        assert {(r[unit], r["coin"], r["reason"]): r["n"] for r in kept[fleet]} == summed


def test_nul_characters_are_refused_not_stored(service: Service) -> None:
    """PostgreSQL cannot store a NUL in text: a 422 naming the field, on both stores."""
    for body, words in (
        ({"events": [event("a\u0000b", "H1")]}, "events[0].key"),
        ({"events": [{**event("k", "H1"), "detail": "x\u0000"}]}, "events[0].detail"),
        ({"events": [event("k", "H1")], "acceptor": {"id": "a\u0000"}}, "acceptor.id"),
    ):
        r = service.client.post(EVENTS, json=body, headers=service.operator)
        assert r.status_code == 422, r.text
        assert words in r.json()["detail"], r.text
    for url in (f"{HEADS}?after=a%00", "/api/v1/fleet/summaries?head=a%00"):
        r = service.client.get(url, headers=service.viewer)
        assert r.status_code == 422, (url, r.text)
    assert fleet_row(service, "H1") is None
