"""Events (filters, paging, live stream), stats, metrics, audit reading."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from calibration.domain.events import record_decision
from coinval.decision import Decision
from tests.calibration.conftest import HEAD, Service

API = "/api/v1"
T0 = dt.datetime(2024, 5, 1, 10, 15, tzinfo=dt.UTC)


def _record(svc: Service) -> None:
    plan = [
        (0, "gb-200-1997", "accepted"),
        (0, "gb-200-1997", "accepted"),
        (0, None, "counterfeit"),
        (1, "gb-050-1997", "inhibited"),
        (1, None, "unknown"),
        (25, "gb-200-1997", "accepted"),
        (25, None, "invalid"),
    ]
    for k, (hours, coin, reason) in enumerate(plan):
        record_decision(
            svc.ctx,
            head=HEAD,
            decision=Decision(f"c{k}", coin, reason == "accepted", reason),  # type: ignore[arg-type]
            at=T0 + dt.timedelta(hours=hours),
        )


def test_events_are_filtered_and_paged(service: Service) -> None:
    _record(service)
    c, h = service.client, service.viewer
    page = c.get(f"{API}/events?limit=3", headers=h).json()
    assert [e["signature_id"] for e in page["items"]] == ["c6", "c5", "c4"]
    page2 = c.get(f"{API}/events?limit=3&before={page['next_before']}", headers=h).json()
    assert [e["signature_id"] for e in page2["items"]] == ["c3", "c2", "c1"]
    page3 = c.get(f"{API}/events?limit=3&before={page2['next_before']}", headers=h).json()
    assert [e["signature_id"] for e in page3["items"]] == ["c0"] and page3["next_before"] is None
    accepted = c.get(f"{API}/events?reason=accepted&coin=gb-200-1997", headers=h).json()
    assert len(accepted["items"]) == 3
    window = c.get(
        f"{API}/events",
        params={"since": "2024-05-01T11:00:00Z", "until": "2024-05-02T00:00:00Z"},
        headers=h,
    ).json()
    assert [e["signature_id"] for e in window["items"]] == ["c4", "c3"]
    assert c.get(f"{API}/events?head=B", headers=h).json()["items"] == []


def test_stats_by_coin_reason_hour_and_day(service: Service) -> None:
    _record(service)
    c, h = service.client, service.viewer
    s = c.get(f"{API}/stats?bucket=hour", headers=h).json()
    assert s["total"] == 7 and s["by_reason"]["accepted"] == 3
    assert s["acceptance_rate"] == 3 / 7 and s["counterfeit_rate"] == 1 / 7
    assert s["by_coin"]["gb-200-1997"]["total"] == 3
    assert [b["bucket"] for b in s["by_bucket"]] == [
        "2024-05-01T10",
        "2024-05-01T11",
        "2024-05-02T11",
    ]
    days = c.get(f"{API}/stats?bucket=day&head={HEAD}", headers=h).json()["by_bucket"]
    assert [(b["bucket"], b["total"]) for b in days] == [("2024-05-01", 5), ("2024-05-02", 2)]
    empty = c.get(f"{API}/stats?head=B", headers=h).json()
    assert empty["total"] == 0 and empty["acceptance_rate"] is None


def test_prometheus_metrics(with_base: Service) -> None:
    _record(with_base)
    text = with_base.client.get("/metrics", headers=with_base.viewer).text
    assert 'coinval_decisions_total{head="A",coin="gb-200-1997",reason="accepted"} 3' in text
    assert 'coinval_active_profile_version{head="A"} 1' in text
    assert "# TYPE coinval_http_requests_total counter" in text
    assert 'route="/api/v1/profiles"' in text


def test_event_stream_through_testclient(service: Service) -> None:
    _record(service)
    r = service.client.get(
        f"{API}/events/stream?after=4&max_events=5&duration_s=1", headers=service.viewer
    )
    assert r.status_code == 200
    frames = [f for f in r.text.split("\n\n") if f.startswith("id: ")]
    ids = [int(f.split("\n")[0][4:]) for f in frames]
    assert ids == [5, 6, 7]
    data = json.loads(frames[0].split("data: ", 1)[1])
    assert data["reason"] == "unknown"
    # Last-Event-ID resumes after the given id.
    r = service.client.get(
        f"{API}/events/stream?max_events=1&duration_s=1",
        headers={**service.viewer, "Last-Event-ID": "6"},
    )
    assert "id: 7\n" in r.text


def test_audit_log_is_filtered_paged_and_read_only(with_base: Service) -> None:
    c = with_base.client
    c.put(
        f"{API}/heads/{HEAD}/coins/gb-200-1997/inhibit",
        json={"inhibited": True},
        headers=with_base.operator,
    )
    entries: dict[str, Any] = c.get(
        f"{API}/audit?action=coin.inhibited", headers=with_base.viewer
    ).json()
    (entry,) = entries["items"]
    assert entry["target"] == f"head:{HEAD}/coin:gb-200-1997"
    assert entry["before"] == {"inhibited": None, "legal_tender": None}
    assert entry["after"] == {"inhibited": 1, "legal_tender": None}
    assert entry["key_id"].startswith("k")
    for method in ("PUT", "DELETE", "PATCH", "POST"):
        assert c.request(method, f"{API}/audit", headers=with_base.admin).status_code == 405


def test_only_the_newest_events_keep_their_signature(
    with_base: Service, traffic: list[dict[str, Any]]
) -> None:
    with_base.ctx.settings.keep_event_signatures = 3
    r = with_base.client.post(
        f"{API}/heads/{HEAD}/classify", json=traffic[:8], headers=with_base.operator
    )
    assert r.status_code == 200
    items = with_base.client.get(f"{API}/events", headers=with_base.viewer).json()["items"]
    assert [e["has_signature"] for e in items] == [True] * 3 + [False] * 5
