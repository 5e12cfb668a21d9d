"""Fleet batches arriving together share a write transaction, each keeping its own
outcome and audit entry; a fault of one batch fails that batch only."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from calibration.domain import fleet as domain
from calibration.domain import fleet_writes
from calibration.repository import fleet as fleet_repo
from tests.calibration.conftest import Service

AT = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def events(acceptor: str, seqs: range) -> list[domain.FleetEvent]:
    return [
        domain.FleetEvent(
            key=f"{acceptor}:{seq}",
            head=f"H-{acceptor}",
            at=AT,
            coin="gb-100-2017",
            reason="accepted",
            detail=None,
            accepted=True,
        )
        for seq in seqs
    ]


class HeldWriter:
    """Holds the store's group writer in its first transaction until released, so the
    batches sent meanwhile queue up behind it."""

    def __init__(self, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.groups: list[int] = []
        real = fleet_writes._write_group

        def write_group(ctx: Any, group: list[fleet_writes.Part]) -> Any:
            self.groups.append(len(group))
            if not self.entered.is_set():
                self.entered.set()
                assert self.release.wait(30)
            return real(ctx, group)

        monkeypatch.setattr(fleet_writes, "_write_group", write_group)


def send(service: Service, batch: list[domain.FleetEvent], acceptor: str) -> dict[str, Any]:
    return domain.record_batch(
        service.ctx, batch, actor="k1", acceptor=domain.FleetAcceptor(id=acceptor, model="M")
    )


def test_batches_sent_together_share_a_transaction_and_keep_their_outcomes(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldWriter(service, monkeypatch)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(send, service, events("a0", range(1, 4)), "a0")
        assert held.entered.wait(30)
        later: list[Future[dict[str, Any]]] = [
            pool.submit(send, service, events(f"a{i}", range(1, 6)), f"a{i}") for i in range(1, 6)
        ]
        # a batch sent again while its first sending waits: new once, in the first
        later.append(pool.submit(send, service, events("a1", range(4, 8)), "a1"))
        while sum(len(p.chunk) for p in fleet_writes.group_writer(service.ctx.db)._queue) < 29:
            threading.Event().wait(0.01)
        held.release.set()
        answers = [first.result(30)] + [f.result(30) for f in later]
    assert held.groups == [1, 6]  # the first alone, the six that waited in one group
    assert answers[0]["new"] == 3
    assert [a["events"]["new"] for a in answers[2:6]] == [5] * 4
    resent = answers[6]
    assert resent["received"] == 4
    # a1:4 and a1:5 were in both: new in whichever the group took first, once
    assert resent["events"]["new"] + answers[1]["events"]["new"] == 7
    assert resent["duplicates"] + answers[1]["duplicates"] == 2
    with service.ctx.db.transaction() as tx:
        keys = [r["idempotency_key"] for r in tx.fetchall("SELECT idempotency_key FROM events")]
        audits = tx.fetchall("SELECT after FROM audit WHERE action = 'fleet.events'")
        seen = tx.fetchall("SELECT head, acceptor_id, model FROM fleet_heads ORDER BY head")
    assert len(keys) == len(set(keys)) == 3 + 5 * 5 + 2
    assert len(audits) == 7  # one entry per batch, as if each was written alone
    assert [r["head"] for r in seen] == [f"H-a{i}" for i in range(6)]
    assert {r["model"] for r in seen} == {"M"}


def test_a_fault_in_one_batch_of_a_group_fails_that_batch_only(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldWriter(service, monkeypatch)
    real = fleet_repo.insert_summary

    def insert_summary(tx: Any, **kwargs: Any) -> Any:
        if kwargs["key"] == "bad:1":
            raise RuntimeError("a fault of this batch")
        return real(tx, **kwargs)

    monkeypatch.setattr(fleet_repo, "insert_summary", insert_summary)
    bad = domain.FleetSummary(
        key="bad:1", head="H-bad", coin=None, reason="unknown", count=3, first_at=AT, last_at=AT
    )
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(send, service, events("a0", range(1, 3)), "a0")
        assert held.entered.wait(30)
        good = [pool.submit(send, service, events(f"g{i}", range(1, 4)), f"g{i}") for i in range(2)]
        faulty = pool.submit(domain.record_batch, service.ctx, [], [bad], actor="k1", acceptor=None)
        while len(fleet_writes.group_writer(service.ctx.db)._queue) < 3:
            threading.Event().wait(0.01)
        held.release.set()
        assert first.result(30)["new"] == 2
        assert [g.result(30)["new"] for g in good] == [3, 3]
        with pytest.raises(RuntimeError, match="a fault of this batch"):
            faulty.result(30)
    assert held.groups[:2] == [1, 3]  # the group failed, then each of its batches alone
    with service.ctx.db.transaction() as tx:
        assert tx.fetchone("SELECT COUNT(*) AS n FROM events") == {"n": 8}
        assert tx.fetchone("SELECT COUNT(*) AS n FROM fleet_summaries") == {"n": 0}
