"""The fleet at scale: a central service on PostgreSQL, 1,000 simulated acceptors, kills.

A real ``coinval api --db postgresql://...`` on a throwaway PostgreSQL cluster
of this run (durable: fsync and synchronous commit on, as in production), and
a real ``coinval sim fleet`` of 1,000 acceptors at 5,000 coins/s for 5
minutes, each sending its outbox every 5 s.  Meanwhile:

* ingest: the central store's own counts (the daily rollup the triggers keep,
  read every 2 s): events/s sustained over the steady part (after a warm-up,
  before any kill), beside the rate offered (the sim's decided/s);
* reads: an operator's dashboards GET stats, events and fleet heads open-loop
  at 20/s, latency from the planned send time (p50/p99);
* CPU: cores used by the central service, PostgreSQL and the sim, and the
  whole machine (others' work included), over the steady part;
* at 50 % of the run the central service is killed -9 (its whole process
  group) and started again 15 s later on the same database; at 75 % one sim
  worker is killed -9 mid-send (a hundred sends a second are in flight) and the
  sim starts it again on its outboxes;
* at the end the sim drains; then the stored events must equal the decided
  ones exactly: per acceptor every sequence 1..last_seq once (plus what an
  outbox summarised), none twice, read from the outbox files themselves.

Then the store is topped up to 10 million events by SQL (30 days of 1,000
heads) and the stats and fleet views are timed one request at a time.

Environment: ``COINVAL_FLEET_SECONDS`` (300), ``COINVAL_FLEET_ACCEPTORS``
(1000), ``COINVAL_FLEET_RATE`` (5000), ``COINVAL_FLEET_STORED`` (10000000; 0
skips the load), ``COINVAL_FLEET_API_WORKERS`` (``coinval api --workers`` when
the command has it), ``COINVAL_TEST_PG_URL`` (a server to use instead).
Figures go to ``extra_info`` and ``reports/fleet.md``; only exactness is
asserted, never a time.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from benchmarks.fleet_cpu import CpuSample, cores_used, postmaster_pid, sample
from benchmarks.fleet_load import load_events
from benchmarks.fleet_reader import Reader, latency
from benchmarks.fleet_report import write_report
from tests.calibration.postgres import PostgresUnavailableError, Server, throwaway_cluster
from tests.sim.fleet_check import compare, outbox_truths, postgres_store_rows

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; kill -9"),
    # The run, a drain of what a slow central service left waiting, ten million rows.
    pytest.mark.timeout(4 * 3600),
]


def _env(name: str, default: float) -> float:
    text = os.environ.get(name)
    return default if not text else float(text)


SECONDS = _env("COINVAL_FLEET_SECONDS", 300)
ACCEPTORS = int(_env("COINVAL_FLEET_ACCEPTORS", 1000))
RATE = _env("COINVAL_FLEET_RATE", 5000)
STORED = int(_env("COINVAL_FLEET_STORED", 10_000_000))
SEND_EVERY_S = 5.0
#: The sim's niceness (0: the central service's priority).
SIM_NICE = int(_env("COINVAL_FLEET_SIM_NICE", 10))
READS_PER_S = 20.0
#: The parts of the run, as shares of SECONDS.
WARM, KILL_CENTRAL, KILL_SIM = 0.1, 0.5, 0.75
#: How long the central service stays away.
AWAY_S = 15.0
#: Ingest and CPU are sampled this often.
SAMPLE_S = 2.0
#: The longest the sim may take to send its backlog after the run (exactness is
#: checked on a drained fleet: a central service slower than the fleet leaves a backlog).
DRAIN_S = _env("COINVAL_FLEET_DRAIN_S", 7200)
#: Days the bulk-loaded events are spread over.
HISTORY_DAYS = 30
ADMIN_KEY = "bench-admin-key-0123456789abcdef"

READS = (
    "/api/v1/stats",
    "/api/v1/events?limit=50",
    "/api/v1/fleet/heads?limit=100",
    "/api/v1/stats?head=fleet-0007&bucket=hour",
)

PROGRESS = re.compile(
    r"fleet [\d,]+ s: decided ([\d,]+) \([\d,]+/s\), delivered ([\d,]+), waiting ([\d,]+)"
)

#: Figures of both tests, for reports/fleet.md.
RESULTS: dict[str, Any] = {}


_SAID = threading.Lock()
_CAPTURE: list[Any] = []


@pytest.fixture(scope="module", autouse=True)
def _terminal(request: pytest.FixtureRequest) -> Iterator[None]:
    """Lets :func:`say` reach the terminal while pytest captures the test's output."""
    _CAPTURE.append(request.config.pluginmanager.getplugin("capturemanager"))
    yield
    _CAPTURE.clear()


def say(message: str) -> None:
    """A progress line on the terminal, past pytest's capture (from any thread)."""
    line = f"[fleet bench {time.strftime('%H:%M:%S')}] {message}"
    with _SAID:
        if _CAPTURE and _CAPTURE[0] is not None:
            with _CAPTURE[0].global_and_fixture_disabled():
                print(line, file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _coinval() -> list[str]:
    script = Path(sys.executable).with_name("coinval")
    return [str(script)] if script.exists() else [sys.executable, "-m", "coinval_cli"]


def api_workers() -> int | None:
    """``--workers`` for ``coinval api`` if the command has it (env, else 2), else None."""
    wanted = os.environ.get("COINVAL_FLEET_API_WORKERS")
    helped = subprocess.run([*_coinval(), "api", "--help"], capture_output=True, text=True)
    if "--workers" not in helped.stdout:
        return None
    return int(wanted) if wanted else 2


class Central:
    """``coinval api`` on the PostgreSQL store, in a process group of its own."""

    def __init__(self, db: str, log: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.db, self.logfile = db, log
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = api_workers()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()
        self.operator = self._key("fleet", "operator")
        self.viewer = self._key("dashboards", "viewer")

    def _key(self, name: str, role: str) -> str:
        r = httpx.post(
            f"{self.url}/api/v1/keys",
            json={"name": name, "role": role},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["key"])

    def start(self) -> float:
        """Start it and wait until it answers /readyz; the seconds that took."""
        began = time.monotonic()
        command = [*_coinval(), "api", "--db", self.db, "--port", str(self.port)]
        command += ["--log-level", "warning"]
        if self.workers:
            command += ["--workers", str(self.workers)]
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                command,
                # the service's default limits: only refused keys count against the
                # loopback address a thousand acceptors share here
                env={**os.environ, "COINVAL_ADMIN_KEY": ADMIN_KEY},
                stdout=log,
                stderr=log,
                start_new_session=True,  # a kill -9 of the group takes its workers too
            )
        while time.monotonic() - began < 120:
            assert self.proc.poll() is None, self.logfile.read_text()[-2000:]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the central service did not become ready")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class Sim:
    """``coinval sim fleet`` as its own process; its progress lines parsed and passed on."""

    def __init__(self, central: Central, outboxes: Path) -> None:
        # The sim stands for a thousand machines elsewhere: at a lower priority it
        # takes the cores the central service and PostgreSQL leave idle rather
        # than queue their requests behind its own work (its CPU is in the report).
        command = ["nice", "-n", str(SIM_NICE), *_coinval(), "sim", "fleet"]
        command += ["--acceptors", str(ACCEPTORS)]
        command += ["--coins-per-s", str(RATE), "--central", central.url]
        command += ["--outbox-dir", str(outboxes), "--send-every", str(SEND_EVERY_S)]
        command += ["--drain", str(DRAIN_S), "--progress-every", "5"]
        self.proc = subprocess.Popen(
            command,
            env={**os.environ, "COINVAL_CENTRAL_KEY": central.operator},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Ctrl-C of the benchmark is not the sim's
        )
        #: (arrival time, decided, delivered, waiting) of each progress line
        self.progress: list[tuple[float, int, int, int]] = []
        self.lines: list[str] = []
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            m = PROGRESS.search(line)
            if m:
                decided, delivered, waiting = (_number(g) for g in m.groups())
                self.progress.append((time.monotonic(), decided, delivered, waiting))
            say("sim: " + line.rstrip().split(" ", 2)[-1])

    def finish(self) -> None:
        """The log read to its end (the process has exited)."""
        self._pump.join(10)

    def worker_pid(self, number: int) -> int:
        pids = [
            m for line in self.lines if (m := re.search(rf"worker {number} \(pid (\d+)\)", line))
        ]
        assert pids, "".join(self.lines)
        return int(pids[-1].group(1))

    def wait_line(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            assert self.proc.poll() is None, "".join(self.lines[-30:])
            assert time.monotonic() < deadline, f"no {pattern!r} in the sim's log"
            time.sleep(0.2)


@dataclass
class Sampler:
    """The central's stored count and everyone's CPU, every SAMPLE_S seconds."""

    db: str
    roots: dict[str, int | None]
    counts: list[tuple[float, int]] = field(default_factory=list)
    cpu: list[CpuSample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as conn:
            while not self._stop.wait(SAMPLE_S):
                now = time.monotonic()
                row = conn.execute("SELECT COALESCE(SUM(n), 0) FROM event_counts_daily").fetchone()
                self.counts.append((now, int(row[0]) if row else 0))
                self.cpu.append(sample(now, self.roots))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def stored_at(self, moment: float) -> tuple[float, int]:
        return min(self.counts, key=lambda c: abs(c[0] - moment))

    def cpu_at(self, moment: float) -> CpuSample:
        return min(self.cpu, key=lambda c: abs(c.at - moment))


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    """A fresh database on a durable throwaway cluster (or COINVAL_TEST_PG_URL's server)."""
    with ExitStack() as stack:
        url = os.environ.get("COINVAL_TEST_PG_URL")
        try:
            if not url:
                url = stack.enter_context(throwaway_cluster(durable=True))
            server = Server(url)
            server.prepare()
        except (PostgresUnavailableError, OSError) as exc:
            pytest.skip(f"PostgreSQL is not available: {exc}")
        db = server.create()
        try:
            yield db
        finally:
            server.drop(db)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A folder of the run's own: pytest's temporary folders are pruned by other pytest
    sessions on the machine, and the outboxes must outlive a half-hour run."""
    folder = Path(tempfile.mkdtemp(prefix="coinval-fleet-bench-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def central(pg: str, workdir: Path) -> Iterator[Central]:
    srv = Central(pg, workdir / "central.log")
    yield srv
    srv.kill()


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if RESULTS:
        out = write_report(Path(os.environ.get("COINVAL_BENCH_REPORTS", "reports")), RESULTS)
        say(f"wrote {out}")


def _window_rate(points: list[tuple[float, int]], start: float, end: float) -> float:
    inside = [p for p in points if start <= p[0] <= end]
    if len(inside) < 2:
        return float("nan")
    (t0, n0), (t1, n1) = inside[0], inside[-1]
    return (n1 - n0) / max(1e-9, t1 - t0)


def _rates(points: list[tuple[float, int]], start: float, end: float, every: float) -> list[float]:
    """Rates over consecutive windows of about ``every`` seconds in ``[start, end]``."""
    out, t = [], start
    while t + every <= end:
        rate = _window_rate(points, t, t + every)
        if rate == rate:
            out.append(rate)
        t += every
    return out


def test_fleet_ingest_kills_and_exactly_once(
    benchmark: Any, central: Central, pg: str, workdir: Path
) -> None:
    outboxes = workdir / "outboxes"
    say(
        f"{ACCEPTORS} acceptors at {RATE:g} coins/s for {SECONDS:g} s against {central.url}"
        f" (coinval api{f' --workers {central.workers}' if central.workers else ''},"
        " PostgreSQL durable)"
    )
    figures: dict[str, Any] = {}

    def run() -> None:
        figures.update(_fleet_run(central, pg, outboxes))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in figures.items() if not isinstance(v, dict)})
    RESULTS["ingest"] = figures
    assert figures["fleet_exact"], figures["exact_problems"]


def _fleet_run(central: Central, pg: str, outboxes: Path) -> dict[str, Any]:
    sim = Sim(central, outboxes)
    sim.wait_line(r"worker \d+ \(pid", 120)
    while len(re.findall(r"worker \d+ \(pid", "".join(sim.lines))) < 2 and sim.proc.poll() is None:
        time.sleep(0.2)
    begin = time.monotonic()
    assert central.proc is not None
    roots = {
        "central": central.proc.pid,
        "postgresql": postmaster_pid(int(re.search(r":(\d+)/", pg).group(1))),  # type: ignore[union-attr]
        "sim": sim.proc.pid,
    }
    sampler = Sampler(pg, roots)
    reader = Reader(central.url, {"Authorization": f"Bearer {central.viewer}"}, READS, READS_PER_S)
    gc.collect()
    gc.freeze()  # this process's own pauses must not be charged to the server
    reader.start()

    def until(share: float) -> float:
        moment = begin + share * SECONDS
        time.sleep(max(0.0, moment - time.monotonic()))
        return moment

    try:
        warm = until(WARM)
        say("warm: measuring the steady part")
        killed = until(KILL_CENTRAL)
        central.kill()
        say("central service killed -9 (its process group)")
        time.sleep(AWAY_S)
        start_s = central.start()
        back = time.monotonic()
        say(f"central service started again on the same database (ready in {start_s:.1f} s)")
        roots["central"] = central.proc.pid
        until(KILL_SIM)
        pid = sim.worker_pid(0)
        os.kill(pid, signal.SIGKILL)
        say(f"sim worker 0 (pid {pid}) killed -9 mid-send")
        sim.wait_line(rf"worker 0 \(pid (?!{pid}\))\d+\)", 120)
        until(1.0)
        sim.proc.send_signal(signal.SIGINT)
        stop = time.monotonic()  # the kills may have run late: the stop as it happened
        say("sim stopped: draining its outboxes")
        sim.proc.wait(timeout=DRAIN_S + 120)
        drained = time.monotonic()
        sim.finish()
    finally:
        reader.stop()
        sampler.stop()
        gc.unfreeze()
        if sim.proc.poll() is None:
            sim.proc.kill()
    assert sim.proc.returncode == 0, "".join(sim.lines[-30:])
    say(f"sim drained in {drained - stop:.0f} s: checking every key against the outboxes")

    truths = outbox_truths(outboxes)
    check = compare(truths, *postgres_store_rows(pg))
    final = next((line for line in reversed(sim.lines) if "stopped:" in line), "")
    duplicates = re.search(r"duplicates ignored ([\d,]+)", final)

    steady_end = killed - SAMPLE_S
    sustained = _window_rate(sampler.counts, warm, steady_end)
    decided = [(t, d) for t, d, _, _ in sim.progress]
    offered = _window_rate(decided, warm, steady_end)
    windows = _rates(sampler.counts, warm, steady_end, 10.0)
    after = _rates(sampler.counts, back, stop, 10.0)
    # Back to normal: the backlog again at most twice the steady part's.  Only for a
    # central service that kept up there; else the backlog grew all along, and never is.
    waiting_steady = [w for t, _, _, w in sim.progress if warm <= t <= steady_end]
    kept_up = sustained >= 0.95 * offered
    normal = 2 * max(waiting_steady) if waiting_steady and kept_up else -1
    caught_up = next((t for t, _, _, w in sim.progress if t > back and w <= normal), float("nan"))
    down = (killed, back)
    up_reads = [r for r in reader.reads if not down[0] <= r.planned < down[1]]
    reads_all = latency([r for r in up_reads if warm <= r.planned < stop])
    reads_steady = latency(reader.window(warm, steady_end))
    routes = {
        route: latency([r for r in up_reads if r.route == route and warm <= r.planned < stop])
        for route in READS
    }
    cpu = cores_used(sampler.cpu_at(warm), sampler.cpu_at(steady_end))
    # The drain: the sim decides nothing and sends batches of up to 500, so this is
    # nearer the central service's own capacity (the sim's share of the cores is smaller).
    drain_window = (stop + 2 * SAMPLE_S, drained - 2 * SAMPLE_S)
    drain_rate = _window_rate(sampler.counts, *drain_window)
    cpu_drain = (
        cores_used(sampler.cpu_at(drain_window[0]), sampler.cpu_at(drain_window[1]))
        if drain_window[1] - drain_window[0] > 4 * SAMPLE_S
        else {}
    )
    figures: dict[str, Any] = {
        "fleet_acceptors": ACCEPTORS,
        "sim_nice": SIM_NICE,
        "fleet_rate": RATE,
        "fleet_seconds": SECONDS,
        "fleet_events_per_s": sustained,
        "fleet_offered_per_s": offered,
        "ingest_10s_min": min(windows) if windows else float("nan"),
        "ingest_10s_median": float(np.median(windows)) if windows else float("nan"),
        "catch_up_peak_per_s": max(after) if after else float("nan"),
        "catch_up_s": caught_up - back,
        "central_away_s": back - killed,
        "central_start_s": start_s,
        "sim_worker_restart_s": _restarted_after(sim),
        "drain_s": drained - stop,
        "drain_events_per_s": drain_rate,
        "fleet_get_p99_ms": reads_all.get("p99_ms", float("nan")),
        "fleet_get_p50_ms": reads_all.get("p50_ms", float("nan")),
        "fleet_get_p99_steady_ms": reads_steady.get("p99_ms", float("nan")),
        "fleet_get_requests": reads_all["requests"],
        "fleet_get_failed": reads_all["failed"],
        "fleet_get_failed_share": reads_all["failed_share"],
        "fleet_get_failed_steady_share": reads_steady["failed_share"],
        "get_why_failed": reads_all["why_failed"],
        "fleet_exact": check.exact,
        "fleet_decided": check.decided,
        "fleet_stored": check.stored_events,
        "fleet_summarised": check.stored_summarised,
        "fleet_duplicates_ignored": _number(duplicates.group(1)) if duplicates else 0,
        "api_workers": central.workers or 1,
        "exact_problems": list(check.problems[:10]),
        "routes": routes,
        "cpu_cores_steady": cpu,
        "cpu_cores_drain": cpu_drain,
    }
    say(
        f"ingest {sustained:,.0f}/s sustained (offered {offered:,.0f}/s), catch-up peak"
        f" {figures['catch_up_peak_per_s']:,.0f}/s; GET p99 {figures['fleet_get_p99_ms']:.1f} ms"
        f" ({100 * float(figures['fleet_get_failed_share']):.1f} % failed);"
        f" exact: {'yes' if check.exact else 'NO'} ({check.decided:,} decided,"
        f" {check.stored_events:,} stored); CPU cores "
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    )
    return figures


def _restarted_after(sim: Sim) -> float:
    """Seconds from worker 0's death to its successor's ready line, by the sim's log clock."""

    def stamp(line: str) -> dt.datetime:
        return dt.datetime.strptime(line.split(" ", 1)[0], "%H:%M:%S.%f")

    lines = sim.lines
    died = next((i for i, line in enumerate(lines) if "died (killed by signal 9)" in line), None)
    if died is None:
        return float("nan")
    ready = next((line for line in lines[died + 1 :] if "worker 0 (pid" in line), None)
    if ready is None:
        return float("nan")
    return (stamp(ready) - stamp(lines[died])).total_seconds()


STATS_ROUTES = (
    "/api/v1/stats",
    "/api/v1/stats?bucket=day",
    "/api/v1/stats?head=fleet-0007&bucket=hour",
    "/api/v1/stats?since={day_ago}&bucket=hour",
    "/api/v1/fleet/heads?limit=100",
    "/api/v1/fleet/heads?limit=100&after=fleet-0500",
    "/api/v1/fleet/drift?hours=24&baseline_hours=168",
    "/api/v1/events?limit=100",
)
#: Timed requests per route (after two to warm), one at a time.
STATS_REQUESTS = 100
#: No route is timed for longer than this.
ROUTE_BUDGET_S = 90.0


def test_fleet_stats_p99_with_10_million_events(benchmark: Any, central: Central, pg: str) -> None:
    from coinval_cli.sim_fleet import decision_pool

    if STORED <= 0:
        pytest.skip("COINVAL_FLEET_STORED=0: no bulk load")
    say(
        f"topping the store up to {STORED:,} events by SQL ({HISTORY_DAYS} days, {ACCEPTORS} heads)"
    )
    loaded = load_events(
        pg,
        STORED,
        decision_pool(),
        heads=ACCEPTORS,
        days=HISTORY_DAYS,
        end=dt.datetime.now(dt.UTC),
        say=say,
    )
    day_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)).strftime("%Y-%m-%dT%H:00:00Z")
    routes = [r.format(day_ago=day_ago) for r in STATS_ROUTES]
    timed: dict[str, dict[str, Any]] = {}

    def run() -> None:
        with httpx.Client(
            base_url=central.url,
            headers={"Authorization": f"Bearer {central.viewer}"},
            timeout=120,
        ) as client:
            for route in routes:
                for _ in range(2):
                    client.get(route).raise_for_status()
                ms: list[float] = []
                began = time.monotonic()
                while len(ms) < STATS_REQUESTS and time.monotonic() - began < ROUTE_BUDGET_S:
                    t0 = time.perf_counter()
                    client.get(route).raise_for_status()
                    ms.append((time.perf_counter() - t0) * 1e3)
                q = np.percentile(ms, [50, 99])
                timed[route] = {"requests": len(ms), "p50_ms": float(q[0]), "p99_ms": float(q[1])}
                say(f"{route}: p50 {q[0]:.1f} ms, p99 {q[1]:.1f} ms ({len(ms)} requests)")

    benchmark.pedantic(run, rounds=1, iterations=1)
    worst = max(timed, key=lambda r: timed[r]["p99_ms"])
    figures = {
        "stored_events": loaded.after,
        "stats_p99_ms": timed[worst]["p99_ms"],
        "stats_worst_route": worst,
        "load_insert_s": loaded.insert_s,
        "load_index_s": loaded.index_s,
        "load_rollup_s": loaded.rollup_s,
    }
    benchmark.extra_info.update(figures)
    RESULTS["stats"] = {**figures, "routes": timed}
