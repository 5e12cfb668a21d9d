"""``coinval serve --api``: the calibration service inside a real serve process.

A real subprocess on a pseudo-terminal, the independent ccTalk host of
``test_serve_cli``, and the real HTTP API on a loopback port: an operator's
inhibit reaches the engine before the next coin, each coin is an event in
``GET /events``, and an activated profile's new coin shows in header 184.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
from pydantic import SecretStr

from coinval.engine import Engine
from coinval.legal_tender import now
from coinval.profile import Profile, load
from coinval.teach import teach
from sim.population import generate, to_json_dicts
from tests.coinval_cli.test_serve_cli import MiniHost, coinval_command

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals"),
    pytest.mark.timeout(120),
]

TAUGHT = ("gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997")  # positions 1-4
ADMIN_KEY = "serve-test-admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
TWO_POUND, FIFTY = "gb-200-1997", "gb-050-1997"
INHIBITED_TWO_POUND = (0, 128 + 3 - 1)  # error "inhibited coin, type 3"


def taught_profile(coins: tuple[str, ...]) -> Profile:
    samples = {c: generate(c, 30, head="A", seed=1, batch=0).signatures() for c in coins}
    profile, _ = teach(samples, head="A")
    assert tuple(profile.coins) == coins  # positions follow the taught order
    return profile


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("serve-api")
    paths = {"base": folder / "base.json", "more": folder / "more.json"}
    taught_profile(TAUGHT).save(paths["base"])
    taught_profile((*TAUGHT, "gb-020-1982")).save(paths["more"])  # a fifth coin
    return paths


@pytest.fixture(scope="module")
def coins_file(profiles: dict[str, Path]) -> tuple[Path, list[str]]:
    """Two-pound and fifty-pence coins in turn, each accepted by the base profile."""
    kinds = [TWO_POUND, FIFTY] * 12
    sets = {k: generate(k, 12, head="A", seed=40, batch=0) for k in (TWO_POUND, FIFTY)}
    lines = {k: [orjson.dumps(obj) for obj in to_json_dicts(p, "A")] for k, p in sets.items()}
    engine = Engine(load(profiles["base"]))
    for kind, population in sets.items():
        decisions = engine.decide_signatures(list(population.signatures()), now())
        assert all(d.accepted and d.coin == kind for d in decisions), "pick other coins"
    ordered = [lines[kind][i // 2] for i, kind in enumerate(kinds)]
    path = profiles["base"].parent / "coins.jsonl"
    path.write_bytes(b"\n".join(ordered) + b"\n")
    return path, kinds


@dataclass
class Serve:
    """A ``coinval serve --api`` subprocess, its ccTalk host and its API client."""

    proc: subprocess.Popen[bytes]
    host: MiniHost
    master: int
    slave: int
    lines: list[str] = field(default_factory=list)
    api: httpx.Client | None = None

    def log(self) -> str:
        return "".join(self.lines)

    def wait_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log())
            if found:
                return found
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, f"{pattern!r} never logged:\n{self.log()}"
            time.sleep(0.05)

    def start_host(self) -> None:
        """Wait for the acceptor, then enable every coin."""
        deadline = time.monotonic() + 30
        while self.host.request(254, timeout=0.3) is None:
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, "the acceptor never answered"
        time.sleep(0.2)
        self.host.drain()
        assert self.host.poll() == []
        self.host.must(231, b"\xff\xff")
        self.host.must(228, b"\x01")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        if self.api is not None:
            self.api.close()
        return code


def _pump(stream: object, lines: list[str]) -> None:
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        lines.append(raw.decode(errors="replace"))


@pytest.fixture
def serve(
    profiles: dict[str, Path], coins_file: tuple[Path, list[str]], tmp_path: Path
) -> Iterator[Serve]:
    master, slave = os.openpty()
    tty.setraw(slave)
    command = [
        *coinval_command(),
        "serve",
        "--profile",
        str(profiles["base"]),
        "--cctalk",
        os.ttyname(slave),
        "--sensor",
        f"replay:{coins_file[0]}",
        "--coins-per-s",
        "5",
        "--deadline-ms",
        "5000",
        "--api",
        "127.0.0.1:0",
        "--db",
        str(tmp_path / "store.db"),
    ]
    env = {**os.environ, "COINVAL_ADMIN_KEY": ADMIN_KEY}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    running = Serve(proc, MiniHost(master), master, slave)
    threading.Thread(target=_pump, args=(proc.stderr, running.lines), daemon=True).start()
    try:
        port = int(running.wait_log(r"calibration API on http://127\.0\.0\.1:(\d+)").group(1))
        running.api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10)
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
        os.close(slave)


def collect(serve: Serve, events: list[tuple[int, int]], total: int, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while len(events) < total:
        assert time.monotonic() < deadline, f"only {events} arrived\n{serve.log()}"
        events.extend(serve.host.poll())
        time.sleep(0.05)


def test_an_inhibit_over_http_reaches_the_next_coin_on_cctalk(
    serve: Serve, coins_file: tuple[Path, list[str]], profiles: dict[str, Path]
) -> None:
    _, kinds = coins_file
    api = serve.api
    assert api is not None
    serve.wait_log(r"head A had no active profile: imported the --profile file as version 1")
    assert api.get("/api/v1/heads/A/active").json()["version"] == 1
    serve.start_host()

    # Coins flow; at the first two-pound credit the operator inhibits the two-pound coin.
    events: list[tuple[int, int]] = []
    deadline = time.monotonic() + 30
    while (3, 0) not in events:
        assert time.monotonic() < deadline, f"no two-pound credit: {events}\n{serve.log()}"
        events.extend(serve.host.poll())
        time.sleep(0.05)
    r = api.put(f"/api/v1/heads/A/coins/{TWO_POUND}/inhibit", json={"inhibited": True})
    assert r.status_code == 200, r.text
    settled_at_put = len(events)
    collect(serve, events, len(kinds) + 1)
    time.sleep(0.3)
    assert serve.host.poll() == []  # nothing more, nothing twice

    assert events[0] == (0, 2)  # power-up marker
    coins = events[1:]
    first_inhibited = coins.index(INHIBITED_TWO_POUND)
    assert first_inhibited >= settled_at_put - 1  # never before the operator's change
    for kind, event in zip(kinds[first_inhibited:], coins[first_inhibited:], strict=True):
        assert event == (INHIBITED_TWO_POUND if kind == TWO_POUND else (4, 0))
    # At most the coin being decided while the PUT was answered slips through.
    assert coins[first_inhibited:].count(INHIBITED_TWO_POUND) >= 3
    serve.wait_log(r"engine now uses head A profile version 1 \(id 1\); inhibited: gb-200-1997")

    # Every coin is an event, with the reason the engine gave.
    wait_events = time.monotonic() + 10
    while len(items := api.get("/api/v1/events", params={"limit": 100}).json()["items"]) < len(
        kinds
    ):
        assert time.monotonic() < wait_events, items
        time.sleep(0.1)
    assert len(items) == len(kinds)
    reasons = [e["reason"] for e in reversed(items)]
    assert reasons.count("inhibited") == coins.count(INHIBITED_TWO_POUND)
    assert reasons.count("accepted") == sum(1 for a, _ in coins if a)
    inhibited = api.get("/api/v1/events", params={"coin": TWO_POUND, "reason": "inhibited"})
    assert {e["coin"] for e in inhibited.json()["items"]} == {TWO_POUND}

    # A new profile with a fifth coin, activated over HTTP: header 184 shows it at once.
    r = api.post(
        "/api/v1/profiles",
        params={"activate": "true"},
        content=profiles["more"].read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    serve.wait_log(r"ccTalk positions: position 5 added: gb-020-1982 \(GB020A\)")
    deadline = time.monotonic() + 5
    while serve.host.must(184, b"\x05") != b"GB020A":
        assert time.monotonic() < deadline, "position 5 never got its coin id"
        time.sleep(0.05)
    # Rolled back: position 5 is empty again.
    assert api.post("/api/v1/heads/A/rollback", json={}).status_code == 200
    serve.wait_log(r"position 5 now empty \(was gb-020-1982\)")
    deadline = time.monotonic() + 5
    while serve.host.must(184, b"\x05") != b"......":
        assert time.monotonic() < deadline, "position 5 kept its coin id"
        time.sleep(0.05)

    assert serve.stop() == 0, serve.log()
    log = serve.log()
    assert f"{len(kinds)} decision(s) recorded" in log
    assert "Traceback" not in log


def test_a_second_start_serves_the_store_profile_and_its_settings(
    profiles: dict[str, Path], coins_file: tuple[Path, list[str]], tmp_path: Path
) -> None:
    from calibration.domain.coins import set_inhibit
    from calibration.service import CalibrationService
    from calibration.settings import Settings

    store = CalibrationService.open(
        Settings(db=str(tmp_path / "store.db"), admin_key=SecretStr(ADMIN_KEY))
    )
    _, imported = store.adopt(load(profiles["base"]))
    assert imported
    set_inhibit(store.context, "operator", "A", FIFTY, True)
    master, slave = os.openpty()
    command = [
        *coinval_command(),
        "serve",
        "--profile",
        str(profiles["more"]),  # not used: the store has an active profile for head A
        "--cctalk",
        os.ttyname(slave),
        "--sensor",
        f"replay:{coins_file[0]}",
        "--api",
        "0",
        "--db",
        str(tmp_path / "store.db"),
    ]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    lines: list[str] = []
    threading.Thread(target=_pump, args=(proc.stderr, lines), daemon=True).start()
    running = Serve(proc, MiniHost(master), master, slave, lines)
    try:
        running.wait_log(r"calibration API on http://127\.0\.0\.1:\d+")
        running.wait_log(r"coin acceptor on ")  # SIGTERM handled from here on
        assert running.stop() == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    log = running.log()
    assert "head A has an active profile: serving it (version 1, id 1), not the --profile" in log
    assert "serving head A profile version 1 (id 1); inhibited: gb-050-1997" in log
    assert "positions 1=GB100B, 2=GB100A, 3=GB200A, 4=GB050B;" in log
