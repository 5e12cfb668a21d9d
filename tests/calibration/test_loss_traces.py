"""Signatures with loss traces (contract v1.1) everywhere the service takes signatures.

Teach uploads (JSON and JSON Lines), classify, live coins: each is accepted,
validated with the core's rule (both or neither, as long as ``eddy_lo``),
stored in the store with its loss traces and read back with them.  v1
signatures, and rows an older store wrote before v1.1, keep working beside them.

The checks read the store directly (SQLite's file or the PostgreSQL database,
on a connection of their own), so they see what a restart would see, not what
the code chooses to return.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import SecretStr

from calibration.db import open_database
from calibration.domain.signatures import from_text, to_text
from calibration.service import CalibrationService
from calibration.settings import Settings
from coinval.decision import Decision
from coinval.signature import parse_signature
from tests.calibration.conftest import ADMIN_KEY, HEAD, TAUGHT, Service, bearer, signatures_json

API = "/api/v1"
#: Fewer than the core's MIN_COINS: progress then reads and measures the
#: samples without teaching, so these checks do not depend on the classifier.
FEW = 4


def with_loss(obj: dict[str, Any], seed: int) -> dict[str, Any]:
    """``obj`` with loss traces: a fixed fraction of each eddy trace, a little noise."""
    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(obj["eddy_lo"]), np.asarray(obj["eddy_hi"])
    return obj | {
        "eddy_lo_loss": (0.35 * lo + rng.normal(0, 0.5, lo.size)).tolist(),
        "eddy_hi_loss": (0.6 * hi + rng.normal(0, 0.5, hi.size)).tolist(),
    }


@pytest.fixture(scope="module")
def v1() -> list[dict[str, Any]]:
    return signatures_json(TAUGHT, 8, seed=21)


@pytest.fixture(scope="module")
def v11(v1: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [with_loss(obj, seed=i) for i, obj in enumerate(v1)]


def store_rows(db: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows straight from the store (a new connection of its own), each stored
    signature decoded from its text."""
    store = open_database(db)
    try:
        with store.transaction() as tx:
            rows = tx.fetchall(sql, params)
    finally:
        store.close()
    for row in rows:
        if row.get("signature") is not None:
            row["signature"] = json.loads(row["signature"])
    return rows


def assert_same_traces(stored: dict[str, Any], sent: dict[str, Any]) -> None:
    for field in ("eddy_lo", "eddy_hi", "rim", "eddy_lo_loss", "eddy_hi_loss"):
        assert (field in stored) == (field in sent), field
        if field in sent:
            assert stored[field] == sent[field], field  # exact: floats round-trip as text


def start(svc: Service, *, live: bool = False) -> int:
    r = svc.client.post(
        f"{API}/teach/sessions",
        json={"coin": TAUGHT, "head": HEAD, "live": live},
        headers=svc.operator,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def upload(svc: Service, sid: int, body: list[Any] | str) -> dict[str, Any]:
    if isinstance(body, str):
        r = svc.client.post(
            f"{API}/teach/sessions/{sid}/signatures",
            content=body,
            headers={**svc.operator, "Content-Type": "application/x-ndjson"},
        )
    else:
        r = svc.client.post(
            f"{API}/teach/sessions/{sid}/signatures", json=body, headers=svc.operator
        )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def ndjson(objs: list[Any]) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


# -- teach uploads ---------------------------------------------------------------------


def test_a_json_upload_keeps_the_loss_traces_in_the_store(
    with_base: Service, settings: Settings, v1: list[dict[str, Any]], v11: list[dict[str, Any]]
) -> None:
    sid = start(with_base)
    sent = [v11[0], v1[1], v11[2]]
    out = upload(with_base, sid, sent)
    assert out == {"added": 3, "rejected": [], "count": 3, "with_loss_traces": 2}
    rows = store_rows(
        settings.db, "SELECT signature FROM teach_samples WHERE session_id = ? ORDER BY id", sid
    )
    assert len(rows) == 3
    for row, obj in zip(rows, sent, strict=True):
        assert_same_traces(row["signature"], obj)
    # ... and the service reads them back as v1.1 and v1 signatures.
    texts = [
        json.dumps(row["signature"])
        for row in store_rows(settings.db, "SELECT signature FROM teach_samples ORDER BY id")
    ]
    assert [from_text(t).has_loss for t in texts] == [True, False, True]


def test_a_json_lines_upload_reports_loss_trace_problems_by_line(
    with_base: Service, settings: Settings, v1: list[dict[str, Any]], v11: list[dict[str, Any]]
) -> None:
    sid = start(with_base)
    half = {k: v for k, v in v11[1].items() if k != "eddy_hi_loss"}
    longer = v11[2] | {"eddy_lo_loss": [*v11[2]["eddy_lo_loss"], 1.0]}
    shorter = v11[3] | {"eddy_hi_loss": v11[3]["eddy_hi_loss"][:-1]}
    not_numbers = v11[4] | {"eddy_lo_loss": [None] * len(v11[4]["eddy_lo"])}
    a_string = v11[5] | {"eddy_hi_loss": "0.5"}
    nulls = v1[6] | {"eddy_lo_loss": None, "eddy_hi_loss": None}  # JSON null is "absent"
    text = ndjson([v11[0], half, longer, shorter, not_numbers, a_string, nulls, v1[7]])
    text = text.replace("\n", "\n\n", 1)  # a blank line: skipped, but the lines still count
    out = upload(with_base, sid, text)
    assert (out["added"], out["count"], out["with_loss_traces"]) == (3, 3, 1)
    problems = [(p["index"], p["line"], p["field"]) for p in out["rejected"]]
    assert problems == [
        (1, 3, "eddy_hi_loss"),
        (2, 4, "eddy_lo_loss"),
        (3, 5, "eddy_hi_loss"),
        (4, 6, "eddy_lo_loss"),
        (5, 7, "eddy_hi_loss"),
    ]
    errors = [p["error"] for p in out["rejected"]]
    assert errors[0] == "eddy_hi_loss: is required when eddy_lo_loss is given (both or neither)"
    assert errors[1].startswith("eddy_lo_loss: must have the same length as eddy_lo")
    assert "sample 0 is not a number" in errors[3]
    rows = store_rows(
        settings.db, "SELECT signature FROM teach_samples WHERE session_id = ? ORDER BY id", sid
    )
    assert_same_traces(rows[0]["signature"], v11[0])
    assert_same_traces(rows[1]["signature"], v1[6])  # the nulls were not stored as traces
    assert_same_traces(rows[2]["signature"], v1[7])


def test_progress_of_a_mixed_session_counts_and_measures_loss_traces(
    with_base: Service, v1: list[dict[str, Any]], v11: list[dict[str, Any]]
) -> None:
    sid = start(with_base)
    upload(with_base, sid, [v11[0], v11[1], v1[2]])
    r = with_base.client.get(f"{API}/teach/sessions/{sid}", headers=with_base.viewer)
    assert r.status_code == 200, r.text
    progress = r.json()
    assert (progress["count"], progress["with_loss_traces"]) == (3, 2)
    assert progress["ready"] is False  # fewer than the core needs: not taught yet
    for name, entry in progress["spread"].items():
        # Each feature over the coins that measured it; none is NaN (JSON has none).
        assert 0 <= entry["measured"] <= 3, name
        assert (entry["median"] is None) == (entry["measured"] == 0), name


def test_rows_an_older_store_wrote_still_read(
    with_base: Service, settings: Settings, v1: list[dict[str, Any]], v11: list[dict[str, Any]]
) -> None:
    # Rows written before v1.1, as the store kept them then: v1 text, no loss keys.
    sid = start(with_base)
    old = [to_text(parse_signature(obj)) for obj in v1[:2]]
    assert all("loss" not in text for text in old)
    store = open_database(settings.db)
    try:
        with store.transaction(write=True) as tx:
            for text in old:
                tx.execute(
                    "INSERT INTO teach_samples (session_id, signature, source, added_at)"
                    " VALUES (?, ?, 'upload', '2024-01-01T00:00:00.000000Z')",
                    (sid, text),
                )
    finally:
        store.close()
    upload(with_base, sid, [v11[2]])  # a v1.1 head's coin joins them
    r = with_base.client.get(f"{API}/teach/sessions/{sid}", headers=with_base.viewer)
    assert r.status_code == 200, r.text
    assert (r.json()["count"], r.json()["with_loss_traces"]) == (3, 1)
    assert [from_text(t).has_loss for t in old] == [False, False]


# -- classify --------------------------------------------------------------------------------


def test_classify_takes_loss_traces_and_records_them(
    with_base: Service, settings: Settings, v1: list[dict[str, Any]], v11: list[dict[str, Any]]
) -> None:
    svc = with_base
    half = {k: v for k, v in v11[3].items() if k != "eddy_lo_loss"}
    body = [v11[0], v1[1], half]
    r = svc.client.post(f"{API}/heads/{HEAD}/classify", json=body, headers=svc.operator)
    assert r.status_code == 200, r.text
    decisions = r.json()["decisions"]
    assert [d["id"] for d in decisions] == [o["id"] for o in body]
    # A profile taught without loss traces decides v1.1 signatures like any other.
    assert decisions[0]["reason"] != "invalid", decisions[0]
    assert decisions[2]["reason"] == "invalid"
    assert decisions[2]["detail"].startswith("eddy_lo_loss: is required when eddy_hi_loss")
    # JSON Lines too.
    r = svc.client.post(
        f"{API}/heads/{HEAD}/classify",
        content=ndjson([v11[4]]),
        headers={**svc.operator, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["decisions"][0]["reason"] != "invalid"

    rows = store_rows(settings.db, "SELECT signature_id, reason, signature FROM events ORDER BY id")
    assert [row["signature_id"] for row in rows] == [
        v11[0]["id"],
        v1[1]["id"],
        half["id"],
        v11[4]["id"],
    ]
    assert_same_traces(rows[0]["signature"], v11[0])
    assert_same_traces(rows[1]["signature"], v1[1])
    assert rows[2]["signature"] is None  # an invalid signature is not kept
    assert_same_traces(rows[3]["signature"], v11[4])
    r = svc.client.get(f"{API}/events?head={HEAD}", headers=svc.viewer)
    assert r.status_code == 200 and all(e["has_signature"] for e in r.json()["items"][:1])


# -- live coins (coinval serve) ------------------------------------------------------------


def test_live_coins_keep_their_loss_traces(
    with_base: Service, settings: Settings, v11: list[dict[str, Any]]
) -> None:
    svc = with_base
    sid = start(svc, live=True)
    service = CalibrationService(svc.ctx)
    signature = parse_signature(v11[5])
    decision = Decision(signature.id, None, False, "unknown", "resembles nothing taught")
    event_id = service.record_decision(HEAD, decision, signature=signature)
    assert service.feed_live(HEAD, signature) == [sid]
    (event,) = store_rows(settings.db, "SELECT signature FROM events WHERE id = ?", event_id)
    assert_same_traces(event["signature"], v11[5])
    (sample,) = store_rows(
        settings.db, "SELECT signature, source FROM teach_samples WHERE session_id = ?", sid
    )
    assert sample["source"] == "live"
    assert_same_traces(sample["signature"], v11[5])


# -- a real server, and the store after a restart ----------------------------------------------


@pytest.fixture
def store(store_target: str) -> Settings:
    return Settings(db=store_target, admin_key=SecretStr(ADMIN_KEY))


def test_loss_traces_survive_a_real_server_and_a_restart(
    store: Settings, base_profile_text: str, v1: list[dict[str, Any]], v11: list[dict[str, Any]]
) -> None:
    admin = bearer(ADMIN_KEY)
    sent = [v11[0], v1[1], v11[2]]
    service = CalibrationService.open(store)
    server = service.start_api("127.0.0.1", 0)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as c:
            r = c.post(f"{API}/profiles", content=base_profile_text, headers=admin)
            assert r.status_code == 201, r.text
            r = c.post(f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=admin)
            assert r.status_code == 201, r.text
            sid = int(r.json()["id"])
            r = c.post(
                f"{API}/teach/sessions/{sid}/signatures",
                content=ndjson(sent),
                headers={**admin, "Content-Type": "application/x-ndjson"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["with_loss_traces"] == 2
    finally:
        server.stop()

    # A new process on the same file: what it reads is what was sent.
    again = CalibrationService.open(store)
    server = again.start_api("127.0.0.1", 0)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as c:
            r = c.get(f"{API}/teach/sessions/{sid}", headers=admin)
            assert r.status_code == 200, r.text
            assert (r.json()["count"], r.json()["with_loss_traces"]) == (3, 2)
    finally:
        server.stop()
    rows = store_rows(store.db, "SELECT signature FROM teach_samples ORDER BY id")
    for row, obj in zip(rows, sent, strict=True):
        assert_same_traces(row["signature"], obj)


# -- teaching with loss traces (needs the classifier) ---------------------------------------------


def test_a_coin_taught_with_loss_traces_refuses_coins_without_them(
    with_base: Service, teach_sets: dict[str, list[dict[str, Any]]], v1: list[dict[str, Any]]
) -> None:
    svc = with_base
    sid = start(svc)
    taught = [with_loss(obj, seed=100 + i) for i, obj in enumerate(teach_sets[TAUGHT])]
    assert upload(svc, sid, taught)["with_loss_traces"] == len(taught)
    r = svc.client.get(f"{API}/teach/sessions/{sid}/preview", headers=svc.operator)
    assert r.status_code == 200, r.text
    r = svc.client.post(
        f"{API}/teach/sessions/{sid}/commit", json={"activate": True}, headers=svc.operator
    )
    assert r.status_code == 200, r.text
    r = svc.client.post(
        f"{API}/heads/{HEAD}/classify", json=[v1[0], with_loss(v1[0], 7)], headers=svc.operator
    )
    assert r.status_code == 200, r.text
    without, with_them = r.json()["decisions"]
    # Contract section 2: a profile taught with loss traces needs them.
    assert without["reason"] == "invalid" and "loss" in without["detail"], without
    assert with_them["reason"] != "invalid", with_them
