"""Issue 18's figures against a real ``coinval api`` process (run with
``pytest benchmarks/test_api_hostile.py -s -p no:cacheprovider``); nothing asserts a time.

* peak RSS growth of the server over each hostile body of
  ``tests/calibration/test_hostile_bodies.py``, against the issue's bounds
  (keyed: 16 x body + 128 MB; anonymous: 2 x body + 64 MB);
* read p99 of a read mix driven open-loop at 200 GET/s (latency from each
  request's planned send time) while four viewers poll
  ``GET /teach/sessions/{id}`` of a 13,000-sample session (goal: p99 < 20 ms);
  the viewers run in a process of their own, so that their work does not
  delay the measuring client and the figure is the server's;
* the longest write-lock hold during a 200k-line recorded classify, and while a
  teach session fills to its 20,000-signature cap, as the server counts it
  (``coinval_store_write_hold_seconds_max`` of ``/metrics``) and measured from
  outside: a tiny write (``PUT .../coins/{coin}/inhibit``) every 20 ms during the
  upload, its latency being the wait for the lock plus its own time.
"""

from __future__ import annotations

import concurrent.futures
import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from coinval.teach import teach
from sim.population import generate
from tests.calibration.conftest import (
    BASE_COINS,
    HEAD,
    TAUGHT,
    RealServer,
    open_teach_session,
    real_server,
    signatures_json,
)

API = "/api/v1"
MB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    samples = {coin: generate(coin, 24, head=HEAD, seed=3).signatures() for coin in BASE_COINS}
    profile, _ = teach(samples, head=HEAD)
    store = Path(tmp_path_factory.mktemp("hostile-bench")) / "store.db"
    with real_server(store, profile.dumps()) as srv:
        yield srv


def test_peak_rss_of_hostile_bodies(server: RealServer) -> None:
    sid = open_teach_session(server)
    ndjson = {**server.operator, "Content-Type": "application/x-ndjson"}
    as_json = {**server.operator, "Content-Type": "application/json"}
    floats = orjson.dumps([0.5] * 7_900_000)
    cases = [
        (
            "keyed",
            "4 MB of '1' lines",
            f"/teach/sessions/{sid}/signatures",
            b"1\n" * 2_097_152,
            ndjson,
        ),
        ("keyed", "31 MB float array", f"/teach/sessions/{sid}/signatures", floats, as_json),
        (
            "keyed",
            "150k empty objects",
            f"/teach/sessions/{sid}/signatures",
            orjson.dumps([{}] * 150_000),
            as_json,
        ),
        (
            "keyed",
            "1.3 M '{}' lines classify",
            f"/heads/{HEAD}/classify?record=false",
            b"{}\n" * 1_300_000,
            ndjson,
        ),
        (
            "keyed",
            "100k '{}' lines classify",
            f"/heads/{HEAD}/classify?record=false",
            b"{}\n" * 100_000,
            ndjson,
        ),
        (
            "anonymous",
            "31 MB float array to /keys",
            "/keys",
            floats,
            {"Content-Type": "application/json"},
        ),
    ]
    print()
    for who, name, path, body, headers in cases:
        server.reset_peak()
        before = server.rss()
        try:
            r = httpx.post(f"{server.url}{API}{path}", content=body, headers=headers, timeout=120)
            status, size = r.status_code, len(r.content)
        except httpx.TransportError:
            status, size = -1, 0  # refused and closed while sending
        grew = server.peak() - before
        bound = 16 * len(body) + 128 * MB if who == "keyed" else 2 * len(body) + 64 * MB
        print(
            f"{who:9} {name:28} body {len(body) / MB:6.1f} MB -> {status}, "
            f"reply {size / 1024:7.1f} kB, "
            f"peak RSS +{grew / MB:6.1f} MB (bound {bound / MB:6.0f} MB)"
        )


#: The viewers' loop, run as its own process so that their work (and GIL) is
#: not the measuring client's: argv url, session id, viewer key, threads; it
#: polls until its stdin closes, then prints each poll's seconds as JSON.
#: argv hz: each viewer's polls per second, 0 for a closed loop (the default, and
#: the harder reading of the issue's "polling"; ``COINVAL_BENCH_VIEWER_HZ`` sets it).
VIEWERS = """
import sys, threading, time, httpx, orjson
url, sid, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
hz = float(sys.argv[5])
stop = threading.Event()
polls = []

def viewer():
    headers = {"Authorization": "Bearer " + key}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as v:
        while not stop.is_set():
            t0 = time.perf_counter()
            assert v.get("/teach/sessions/" + sid).status_code == 200
            polls.append(time.perf_counter() - t0)
            if hz > 0:
                stop.wait(max(0.0, t0 + 1 / hz - time.perf_counter()))

threads = [threading.Thread(target=viewer) for _ in range(n)]
for t in threads:
    t.start()
print("started", flush=True)
sys.stdin.read()
stop.set()
for t in threads:
    t.join()
sys.stdout.write(orjson.dumps(polls).decode())
"""


def _viewers(srv: RealServer, sid: int, n: int = 4) -> subprocess.Popen[str]:
    """``n`` viewers polling the session, in a process of their own, started."""
    key = srv.viewer["Authorization"].removeprefix("Bearer ")
    hz = os.environ.get("COINVAL_BENCH_VIEWER_HZ", "0")
    proc = subprocess.Popen(
        [sys.executable, "-c", VIEWERS, srv.url + API, str(sid), key, str(n), hz],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    return proc


def _stop_viewers(proc: subprocess.Popen[str]) -> list[float]:
    """Stop the viewers; the seconds each of their polls took."""
    out, _ = proc.communicate("", timeout=60)
    assert proc.returncode == 0
    return [float(x) for x in orjson.loads(out)]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_read_p99_at_200_per_s_with_four_viewers_polling_a_13000_sample_session(
    server: RealServer,
) -> None:
    sid = open_teach_session(server)
    batch = b"\n".join(orjson.dumps(o) for o in signatures_json(TAUGHT, 1000, seed=11))
    with httpx.Client(base_url=server.url + API, timeout=120) as c:
        for _ in range(13):
            r = c.post(
                f"/teach/sessions/{sid}/signatures",
                content=batch,
                headers={**server.operator, "Content-Type": "application/x-ndjson"},
            )
            assert r.status_code == 200, r.text[:300]
        count = c.get(f"/teach/sessions/{sid}", headers=server.viewer).json()["count"]
    viewers = _viewers(server, sid)
    paths = [
        "/heads",
        "/coins",
        f"/heads/{HEAD}/coins",
        "/teach/sessions",
        "/events?limit=50",
        f"/stats?head={HEAD}",
        "/whoami",
        f"/heads/{HEAD}/active",
    ]
    rate, seconds = 200, 15
    n = rate * seconds
    latency = [0.0] * n
    local = threading.local()

    def one(i: int, planned: float) -> None:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=server.url + API, timeout=30, headers=server.viewer)
        time.sleep(max(0.0, planned - time.perf_counter()))
        r = local.c.get(paths[i % len(paths)])
        assert r.status_code == 200, r.text[:200]
        latency[i] = time.perf_counter() - planned

    workers = 32
    ready = threading.Barrier(workers)

    def warm() -> None:  # each worker's thread and client made before the clock starts
        local.c = httpx.Client(base_url=server.url + API, timeout=30, headers=server.viewer)
        ready.wait()

    pids = {"server": server.proc.pid, "viewers": viewers.pid, "client": os.getpid()}
    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(warm) for _ in range(workers)]:
                f.result()
            # The measuring client is this pytest process, whose heap holds numpy, the
            # simulator, the teacher...: a full collection of it took 100-310 ms, and one
            # fell in the first 0.25 s of the run, which made every read of it late and
            # was the whole of the p99 (the server's own pauses were under 5 ms).  Out of
            # the collector's reach with them, so that the figure is the server's.
            gc.collect()
            gc.freeze()
            time.sleep(1.0)
            cpu = {who: _cpu_seconds(pid) for who, pid in pids.items()}
            start = time.perf_counter() + 0.5
            futures = [pool.submit(one, i, start + i / rate) for i in range(n)]
            for f in futures:
                f.result()
            elapsed = time.perf_counter() - start
            cores = {who: (_cpu_seconds(pid) - cpu[who]) / elapsed for who, pid in pids.items()}
    finally:
        gc.unfreeze()
        polls = _stop_viewers(viewers)
    ms = np.array(latency) * 1000
    pm = np.array(polls) * 1000
    print(
        f"\nsession of {count} samples; {n} reads in {elapsed:.1f} s ({n / elapsed:.0f}/s): "
        f"p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, "
        f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms; "
        f"4 viewers polled {len(pm)} times ({len(pm) / elapsed:.0f}/s), "
        f"poll p50 {np.percentile(pm, 50):.1f} ms, p99 {np.percentile(pm, 99):.1f} ms; "
        f"CPU (cores of {os.cpu_count()}): "
        + ", ".join(f"{who} {used:.2f}" for who, used in cores.items())
    )
    for k, path in enumerate(paths):  # one slow route, or every route late (CPU, client)?
        mine = ms[k :: len(paths)]
        print(
            f"  {path:28} p50 {np.percentile(mine, 50):6.1f} ms, "
            f"p99 {np.percentile(mine, 99):6.1f} ms"
        )


def _write_hold_max(srv: RealServer) -> float:
    """The server's longest write-lock hold since it started, seconds (``/metrics``)."""
    metrics = httpx.get(f"{srv.url}/metrics", headers=srv.viewer, timeout=30).text
    return next(
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("coinval_store_write_hold_seconds_max ")
    )


def _tiny_writes_during(
    srv: RealServer, upload: Callable[[], tuple[int, float]]
) -> tuple[tuple[int, float], np.ndarray, np.ndarray]:
    """Run ``upload`` in a thread while toggling an inhibit every 20 ms.

    Returns the upload's (status, seconds), the tiny writes' latencies during it
    and those of 50 tiny writes after it (ms).  Each latency is the wait for the
    store's write lock plus the write's own time.
    """
    result: list[tuple[int, float]] = []
    done = threading.Event()

    def uploader() -> None:
        try:
            result.append(upload())
        finally:  # a failed upload must not leave the writer toggling forever
            done.set()

    writes: list[float] = []
    quiet: list[float] = []
    thread = threading.Thread(target=uploader)
    path = f"/heads/{HEAD}/coins/{BASE_COINS[1]}/inhibit"
    with httpx.Client(base_url=srv.url + API, timeout=60, headers=srv.operator) as c:
        # This process holds numpy, the simulator and the bodies: a full collection
        # of its heap would be counted as the server's lock (see the read-p99 test).
        gc.collect()
        gc.freeze()
        try:
            thread.start()
            i = 0
            while not done.is_set():
                t0 = time.perf_counter()
                r = c.put(path, json={"inhibited": i % 2 == 0})
                assert r.status_code == 200, r.text
                writes.append(time.perf_counter() - t0)
                i += 1
                time.sleep(0.02)
            thread.join()
            for j in range(50):
                t0 = time.perf_counter()
                c.put(path, json={"inhibited": j % 2 == 0})
                quiet.append(time.perf_counter() - t0)
        finally:
            gc.unfreeze()
    return result[0], np.array(writes) * 1000, np.array(quiet) * 1000


def _print_holds(
    what: str, srv: RealServer, upload: tuple[int, float], ms: np.ndarray, quiet: np.ndarray
) -> None:
    print(
        f"\nthe server's longest write-lock hold since it started: "
        f"{_write_hold_max(srv) * 1000:.1f} ms"
        f"\n{what}: {upload[0]} in {upload[1]:.1f} s; "
        f"{len(ms)} tiny writes during it: p50 {np.percentile(ms, 50):.1f} ms, "
        f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms "
        f"(the same write with no upload: p50 {np.median(quiet):.1f} ms, "
        f"max {quiet.max():.1f} ms)"
    )


def test_longest_write_lock_hold_during_a_200k_line_upload(server: RealServer) -> None:
    body = b"{}\n" * 200_000

    def upload() -> tuple[int, float]:
        t0 = time.perf_counter()
        r = httpx.post(
            f"{server.url}{API}/heads/{HEAD}/classify",
            content=body,
            timeout=600,
            headers={**server.operator, "Content-Type": "application/x-ndjson"},
        )
        return r.status_code, time.perf_counter() - t0

    result, ms, quiet = _tiny_writes_during(server, upload)
    _print_holds("200k-line recorded classify", server, result, ms, quiet)


def test_longest_write_lock_hold_while_a_teach_session_fills_to_its_cap(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """20,000 genuine signatures (the session cap) in 20 uploads, on a server of its own
    so that the hold it reports is the teach uploads' alone."""
    samples = {coin: generate(coin, 24, head=HEAD, seed=3).signatures() for coin in BASE_COINS}
    profile, _ = teach(samples, head=HEAD)
    store = Path(tmp_path_factory.mktemp("teach-hold")) / "store.db"
    bodies = [
        b"\n".join(orjson.dumps(o) for o in signatures_json(TAUGHT, 1000, seed=40 + k))
        for k in range(20)
    ]
    with real_server(store, profile.dumps()) as srv:
        sid = open_teach_session(srv)

        def upload() -> tuple[int, float]:
            t0 = time.perf_counter()
            status = 0
            for body in bodies:
                r = httpx.post(
                    f"{srv.url}{API}/teach/sessions/{sid}/signatures",
                    content=body,
                    timeout=600,
                    headers={**srv.operator, "Content-Type": "application/x-ndjson"},
                )
                assert r.status_code == 200, r.text[:300]
                status = r.status_code
            return status, time.perf_counter() - t0

        result, ms, quiet = _tiny_writes_during(srv, upload)
        size = sum(len(b) for b in bodies) / MB
        _print_holds(f"20 teach uploads, 20,000 signatures, {size:.0f} MB", srv, result, ms, quiet)
