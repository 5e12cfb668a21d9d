"""A real ``coinval api --workers 3`` on PostgreSQL, driven over many connections.

Each connection is served by one worker process for its life, and every
response names that worker (``X-Coinval-Worker``): the tests open connections
until they hold one to each worker, then write through one and read through
the others.  The server polls for live events only every 300 s here, so an
event that reaches a stream of another worker within the tests' patience came
by NOTIFY, not by a poll.

The server is shared by the module's tests; the last one stops it (what a
stop does is what it tests).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.calibration.conftest import BASE_COINS, HEAD, TAUGHT, bearer, free_port
from tests.calibration.postgres import Server

API = "/api/v1"
WORKER = "x-coinval-worker"
WORKERS = 3
#: The most a test waits for what comes in milliseconds (a bound, never a measure).
PATIENCE_S = 60.0
KEY_PATTERN = re.compile(r"cvk_[A-Za-z0-9_-]{40,}")


@dataclass
class Workers:
    """The server under test: its process, address, log and first admin key."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path
    admin: dict[str, str] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def by_worker(self, stack: ExitStack, *, source: str | None = None) -> dict[str, httpx.Client]:
        """One open connection to each worker (at least two), by worker pid."""
        if self.proc.poll() is not None:
            raise AssertionError("the server has stopped (the module's last test stops it)")
        found: dict[str, httpx.Client] = {}
        pause = threading.Event()
        for _ in range(600):
            transport = httpx.HTTPTransport(local_address=source) if source else None
            client = httpx.Client(base_url=self.base, timeout=30, transport=transport)
            pid = client.get("/healthz").headers[WORKER]
            if pid in found:
                client.close()
                pause.wait(0.05)  # the others may still be starting
            else:
                found[pid] = client
                stack.callback(client.close)
                self.seen.add(int(pid))
            if len(found) == WORKERS:
                break
        assert len(found) >= 2, found
        return found


def _start(url: str, log: Path) -> Workers:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    # No COINVAL_ADMIN_KEY: the first admin key is generated, and must be printed once.
    env.update(COINVAL_SSE_POLL_S="300", COINVAL_SSE_HEARTBEAT_S="300")
    command = [sys.executable, "-m", "coinval_cli", "api", "--db", url, "--port", str(port)]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*command, "--workers", str(WORKERS), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    workers = Workers(proc, f"http://127.0.0.1:{port}", log)
    with httpx.Client(base_url=workers.base, timeout=5) as c:
        for _ in range(1200):
            if proc.poll() is not None:
                raise AssertionError(
                    f"the server exited with {proc.returncode}:\n{workers.stderr()}"
                )
            try:
                if c.get("/readyz").status_code == 200:
                    return workers
            except httpx.TransportError:
                threading.Event().wait(0.05)
    proc.kill()
    raise AssertionError("the server did not become ready")


@pytest.fixture(scope="module")
def workers(pg_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    url = pg_server.create()
    server = _start(url, tmp_path_factory.mktemp("workers") / "stderr.log")
    try:
        keys = KEY_PATTERN.findall(server.stderr())
        assert len(keys) == 1, server.stderr()  # printed once, by the parent, not per worker
        server.admin = bearer(keys[0])
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(timeout=PATIENCE_S)
            except subprocess.TimeoutExpired:
                # A parent killed leaves its workers running: kill those first,
                # each while it is still known to be that parent's child.
                for pid in server.seen:
                    if _parent_of(pid) == server.proc.pid:
                        os.kill(pid, signal.SIGKILL)
                server.proc.kill()
                server.proc.wait()
        pg_server.drop(url)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


class On:
    """Requests through the connection of one named worker, checked to be answered by it."""

    def __init__(self, clients: dict[str, httpx.Client]) -> None:
        self.clients = clients

    def __call__(self, pid: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        r = self.clients[pid].request(method, path, **kwargs)
        assert r.headers[WORKER] == pid, "the connection went to another worker"
        return r


def test_writes_through_one_worker_are_read_alike_through_every_other(
    workers: Workers,
    base_profile_text: str,
    teach_sets: dict[str, list[dict[str, Any]]],
    traffic: list[dict[str, Any]],
) -> None:
    with ExitStack() as stack:
        clients = workers.by_worker(stack)
        on, pids = On(clients), list(clients)
        a, b, c = pids[0], pids[1], pids[-1]
        admin = workers.admin

        # keys: made on one, taken at once by the others
        r = on(a, "POST", f"{API}/keys", json={"name": "op", "role": "operator"}, headers=admin)
        assert r.status_code == 201, r.text
        op, op_id = bearer(r.json()["key"]), r.json()["id"]
        for pid in pids:
            assert on(pid, "GET", f"{API}/whoami", headers=op).json()["key_id"] == op_id

        newest = on(b, "GET", f"{API}/events?limit=1", headers=op).json()["items"]
        before = newest[0]["id"] if newest else 0

        # a profile imported and activated on one is the active one on every worker
        r = on(a, "POST", f"{API}/profiles?activate=true", content=base_profile_text, headers=op)
        assert r.status_code == 201, r.text
        version = r.json()["version"]
        for pid in pids:
            active = on(pid, "GET", f"{API}/heads/{HEAD}/active", headers=op).json()
            assert active["version"] == version and active["coins"] == list(BASE_COINS)

        twos = [t for t in traffic if t["id"].startswith("gb-200-1997")]

        def decided(pid: str, signatures: list[dict[str, Any]]) -> set[str]:
            r = on(pid, "POST", f"{API}/heads/{HEAD}/classify", json=signatures, headers=op)
            assert r.status_code == 200, r.text
            return {f"{d['reason']}:{d['coin']}" for d in r.json()["decisions"]}

        assert decided(b, twos) == {"accepted:gb-200-1997"}

        # an inhibit set on one worker holds on the others' very next decision
        inhibit = f"{API}/heads/{HEAD}/coins/gb-200-1997/inhibit"
        r = on(c, "PUT", inhibit, json={"inhibited": True}, headers=op)
        assert r.status_code == 200, r.text
        assert decided(a, twos) == {"inhibited:gb-200-1997"}
        assert decided(b, twos) == {"inhibited:gb-200-1997"}
        state = on(b, "GET", f"{API}/heads/{HEAD}/coins", headers=op).json()
        assert next(x for x in state["coins"] if x["id"] == "gb-200-1997")["inhibited"] is True
        assert on(a, "PUT", inhibit, json={"inhibited": False}, headers=op).status_code == 200
        assert decided(c, twos) == {"accepted:gb-200-1997"}

        # a teach session opened on one, filled on another, committed on a third
        r = on(a, "POST", f"{API}/teach/sessions", json={"coin": TAUGHT, "head": HEAD}, headers=op)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        session = f"{API}/teach/sessions/{sid}"
        r = on(b, "POST", f"{session}/signatures", json=teach_sets[TAUGHT], headers=op)
        assert r.status_code == 200, r.text
        r = on(c, "GET", session, headers=op)
        assert r.json()["count"] == len(teach_sets[TAUGHT]), r.json()
        r = on(c, "POST", f"{session}/commit", json={"activate": True}, headers=op)
        assert r.status_code == 200, r.text
        for pid in pids:
            active = on(pid, "GET", f"{API}/heads/{HEAD}/active", headers=op).json()
            assert active["version"] == version + 1 and active["coins"] == [*BASE_COINS, TAUGHT]
        new_pounds = [t for t in traffic if t["id"].startswith(TAUGHT)]
        assert decided(a, new_pounds) == {f"accepted:{TAUGHT}"}

        # events, counts and the audit log are the same whoever is asked
        def read(pid: str, path: str) -> Any:
            r = on(pid, "GET", path, headers=op)
            assert r.status_code == 200, r.text
            return r.json()

        events = [read(pid, f"{API}/events?limit=1000") for pid in pids]
        assert all(e == events[0] for e in events)
        ours = [e for e in events[0]["items"] if e["id"] > before]
        assert len(ours) == 4 * len(twos) + len(new_pounds)
        stats = [read(pid, f"{API}/stats") for pid in pids]
        assert all(s == stats[0] for s in stats)
        audits = [read(pid, f"{API}/audit?limit=1000") for pid in pids]
        assert all(x == audits[0] for x in audits)
        assert len({r.headers[WORKER] for r in (on(p, "GET", "/healthz") for p in pids)}) > 1


def test_an_event_reaches_the_stream_clients_of_every_worker(
    workers: Workers, traffic: list[dict[str, Any]], base_profile_text: str
) -> None:
    with ExitStack() as stack:
        clients = workers.by_worker(stack)
        pids = list(clients)
        first = clients[pids[0]]
        r = first.post(
            f"{API}/keys", json={"name": "eyes", "role": "operator"}, headers=workers.admin
        )
        key = bearer(r.json()["key"])
        r = first.post(f"{API}/profiles?activate=true", content=base_profile_text, headers=key)
        assert r.status_code == 201, r.text
        batch = traffic[:3]
        # Two streams on each worker: each a connection of its own, opened until
        # every worker holds two.
        streams: dict[str, list[httpx.Response]] = {pid: [] for pid in pids}
        for _ in range(200):
            if all(len(s) >= 2 for s in streams.values()):
                break
            client = stack.enter_context(httpx.Client(base_url=workers.base, timeout=PATIENCE_S))
            response = stack.enter_context(
                client.stream(
                    "GET",
                    # Longer than the test waits: only a wake-up can end it in time.
                    f"{API}/events/stream?max_events={len(batch)}&duration_s={10 * PATIENCE_S}",
                    headers=key,
                )
            )
            pid = response.headers[WORKER]
            if len(streams.setdefault(pid, [])) < 2:
                streams[pid].append(response)
        held = [(pid, r) for pid, rs in streams.items() for r in rs]
        assert len({pid for pid, _ in held}) >= 2
        received: dict[int, list[int]] = {}

        def listen(n: int, response: httpx.Response) -> None:
            got = received.setdefault(n, [])
            for line in response.iter_lines():
                if line.startswith("data: "):
                    got.append(int(json.loads(line[len("data: ") :])["id"]))

        readers = [
            threading.Thread(target=listen, args=(n, r), daemon=True)
            for n, (_, r) in enumerate(held)
        ]
        for t in readers:
            t.start()
        # ... and the events come through yet another connection.
        with httpx.Client(base_url=workers.base, timeout=30) as poster:
            r = poster.post(f"{API}/heads/{HEAD}/classify", json=batch, headers=key)
            assert r.status_code == 200, r.text
            posted_by = r.headers[WORKER]
            newest = poster.get(f"{API}/events?limit={len(batch)}", headers=key).json()["items"]
        for t in readers:
            t.join(PATIENCE_S)
        ids = sorted(int(e["id"]) for e in newest)
        assert [received.get(n) for n in range(len(held))] == [ids] * len(held)
        # Streams of workers other than the poster's heard of it only by NOTIFY.
        assert {pid for pid, _ in held} - {posted_by}


def test_a_key_revoked_through_one_worker_is_refused_by_every_worker_at_once(
    workers: Workers,
) -> None:
    for round in range(WORKERS):
        with ExitStack() as stack:
            # Connections of their own each round: a 401 closes its connection.  From an
            # address of their own too: refusals must not count against the other tests'.
            clients = workers.by_worker(stack, source="127.0.0.9")
            on, pids = On(clients), list(clients)
            revoker = pids[round % len(pids)]
            made = on(revoker, "POST", f"{API}/keys", json={"name": "n", "role": "viewer"},
                      headers=workers.admin).json()  # fmt: skip
            key = bearer(made["key"])
            for pid in pids:  # now every worker holds it as recently checked
                for _ in range(2):
                    assert on(pid, "GET", f"{API}/whoami", headers=key).status_code == 200
            r = on(revoker, "DELETE", f"{API}/keys/{made['id']}", headers=workers.admin)
            assert r.status_code == 200, r.text
            for pid in pids:
                assert on(pid, "GET", f"{API}/whoami", headers=key).status_code == 401, pid


def test_a_dead_worker_is_replaced_and_said_then_sigterm_stops_every_worker(
    workers: Workers,
) -> None:
    """The module's last test: it stops the server."""
    with ExitStack() as stack:
        clients = workers.by_worker(stack)
        pids = [int(pid) for pid in clients]
        victim = pids[0]
        os.kill(victim, signal.SIGKILL)
        said = None
        for _ in range(int(PATIENCE_S / 0.05)):
            said = re.search(
                rf"worker {victim} was killed by SIGKILL; worker (\d+) takes its place",
                workers.stderr(),
            )
            if said:
                break
            threading.Event().wait(0.05)
        assert said, workers.stderr()
        replacement = int(said.group(1))
        workers.seen.add(replacement)
        # The others served on meanwhile; and a live stream held open does not keep
        # a worker from stopping.
        survivor = clients[str(pids[1])]
        assert survivor.get("/healthz").status_code == 200
        stream = stack.enter_context(
            survivor.stream("GET", f"{API}/events/stream", headers=workers.admin)
        )
        assert stream.status_code == 200
        workers.proc.send_signal(signal.SIGTERM)
        assert workers.proc.wait(timeout=PATIENCE_S) == 0, workers.stderr()
        assert list(stream.iter_lines())[-1:] in ([], [""])  # it ended, the worker gone
    for pid in [*pids, replacement]:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived the server"
    assert "Traceback" not in workers.stderr()
