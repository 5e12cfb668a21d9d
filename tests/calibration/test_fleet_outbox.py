"""The acceptor's outbox: order, idempotency keys, the bound's summaries, the sender."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from pathlib import Path

import httpx

from calibration.outbox import CentralReporter, Outbox
from coinval.decision import Decision

AT = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def decision(i: int, reason: str = "accepted") -> Decision:
    accepted = reason == "accepted"
    return Decision(
        id=f"s{i}", accepted=accepted, coin="gb-100-2017" if accepted else None, reason=reason
    )


def test_keys_grow_and_survive_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    keys = [box.add(decision(i), head="A", at=AT) for i in range(3)]
    aid = box.acceptor_id
    assert keys == [f"{aid}:1", f"{aid}:2", f"{aid}:3"]
    batch = box.next_batch(10)
    assert batch is not None
    box.acknowledge(batch)
    box.close()
    again = Outbox(tmp_path / "outbox.db")
    assert again.acceptor_id == aid  # stable: kept in the file
    assert again.add(decision(9), head="A", at=AT) == f"{aid}:4"  # never reused
    assert Outbox(tmp_path / "other.db").acceptor_id != aid


def test_batches_in_order_removed_only_when_acknowledged(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for i in range(7):
        box.add(decision(i), head="A", at=AT + dt.timedelta(seconds=i))
    first = box.next_batch(3)
    assert first is not None
    assert [e["key"].split(":")[1] for e in first.body["events"]] == ["1", "2", "3"]
    assert [e["signature_id"] for e in first.body["events"]] == ["s0", "s1", "s2"]
    again = box.next_batch(3)  # not acknowledged: the same batch again
    assert again is not None and again.body == first.body
    box.acknowledge(first)
    assert box.pending == 4
    rest = box.next_batch(10)
    assert rest is not None
    assert [e["key"].split(":")[1] for e in rest.body["events"]] == ["4", "5", "6", "7"]
    box.acknowledge(rest)
    assert box.pending == 0 and box.next_batch(10) is None


def test_bound_summarises_the_oldest_unsent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", bound=5)
    in_flight = None
    for i in range(20):
        box.add(decision(i, "accepted" if i % 2 else "counterfeit"), head="A", at=AT)
        if i == 2:
            in_flight = box.next_batch(2)  # sent once: never summarised
    assert in_flight is not None
    assert box.pending == 5 and box.summarised == 15
    assert box.pending_summaries() == 15
    batch = box.next_batch(100)
    assert batch is not None
    keys = [e["key"].split(":")[1] for e in batch.body["events"]]
    assert keys[:2] == ["1", "2"]  # the in-flight ones are still there, oldest first
    total = len(batch.body["events"]) + sum(s["count"] for s in batch.body["summaries"])
    assert total == 20  # nothing lost from the totals
    by_reason = {s["reason"]: s["count"] for s in batch.body["summaries"]}
    assert sum(by_reason.values()) == 15 and set(by_reason) == {"accepted", "counterfeit"}
    # a sealed summary does not grow: a new one is made for later overflow
    for i in range(3):
        box.add(decision(100 + i), head="A", at=AT)
    again = box.next_batch(100)
    assert again is not None
    old_keys = {s["key"]: s["count"] for s in batch.body["summaries"]}
    kept = [s for s in again.body["summaries"] if s["key"] in old_keys]
    assert all(old_keys[s["key"]] == s["count"] for s in kept)
    box.acknowledge(again)
    assert box.pending == 0 and box.pending_summaries() == 0
    assert box.summarised == 18  # 3 more folded past the bound of 5 while 5 were in flight


def test_reporter_sends_in_order_and_backs_off(tmp_path: Path) -> None:
    received: list[str] = []
    down = {"on": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if down["on"]:
            raise httpx.ConnectError("refused")
        body = json.loads(request.content)
        assert request.headers["Authorization"] == "Bearer k"
        new = [e["key"] for e in body["events"] if e["key"] not in received]
        received.extend(new)
        return httpx.Response(200, json={"new": len(new), "duplicates": 0})

    box = Outbox(tmp_path / "outbox.db")
    reporter = CentralReporter(
        box,
        "http://central",
        "k",
        "A",
        batch=4,
        min_backoff_s=0.01,
        max_backoff_s=0.05,
        idle_s=0.01,
        transport=httpx.MockTransport(handler),
    )
    for i in range(30):
        reporter.submit(None, decision(i))  # type: ignore[arg-type]
    time.sleep(0.3)
    assert received == [] and box.pending == 30
    down["on"] = False
    for _ in range(200):
        if box.pending == 0:
            break
        time.sleep(0.02)
    reporter.close()
    assert [int(k.split(":")[1]) for k in received] == list(range(1, 31))


def test_last_seq_kept_once_sent_and_the_flush(tmp_path: Path) -> None:
    for durable in (True, False):
        box = Outbox(tmp_path / f"outbox-{durable}.db", durable=durable)
        assert box.last_seq() == 0
        for i in range(4):
            box.add(decision(i), head="A", at=AT)
        batch = box.next_batch(10)
        assert batch is not None
        box.acknowledge(batch)
        assert box.pending == 0 and box.last_seq() == 4  # sent, yet never given again
        # an add never waits for a flush to the disk when durable: sync() does it
        assert box._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == (
            0 if durable else 1000
        )
        if durable:
            assert _main_file_last_seq(box.path, tmp_path) == 0  # still only in the log
        box.sync()
        if durable:
            assert _main_file_last_seq(box.path, tmp_path) == 4  # in the database file itself
        box.close()


def _main_file_last_seq(path: Path, tmp_path: Path) -> int:
    """The last sequence the database file holds without its write-ahead log."""
    alone = tmp_path / "alone.db"
    alone.write_bytes(path.read_bytes())
    with sqlite3.connect(alone) as db:
        try:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        except sqlite3.OperationalError:  # not even the tables are in the file yet
            row = None
    alone.unlink()
    return 0 if row is None else int(row[0])
