"""The operator console in a real headless Chromium against a real ``coinval api`` server.

Debian's ``chromium`` driven by Playwright (its own browser builds cannot be
downloaded here; ``make test`` installs Debian's when it is missing). Every
page of every test records each request it makes and every script error: a
test fails if any request leaves 127.0.0.1 or any script fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.calibration.conftest import (
    ADMIN_KEY,
    BASE_COINS,
    HEAD,
    TAUGHT,
    RealServer,
    real_server,
    signatures_json,
)

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="needs playwright: pip install -e '.[dev]'"
)


def chromium_path() -> str | None:
    """Debian's chromium (or COINVAL_CHROMIUM), the browser these tests drive."""
    return os.environ.get("COINVAL_CHROMIUM") or shutil.which("chromium")


CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="needs Debian's chromium: apt-get install -y chromium (make test installs it)",
    ),
    pytest.mark.timeout(120),
]

WAIT_MS = 15_000
TWO_POUND, FIFTY = BASE_COINS


def key_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@dataclass
class Watched:
    """A page, every URL it requested, and every script error and console error it had."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        """Requests to any host but this machine's loopback (blob: URLs are the page's own)."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("blob", "data"):
                continue
            if parts.scheme not in ("http", "https") or parts.hostname != "127.0.0.1":
                out.append(url)
        return out

    def sign_in(self, key: str) -> None:
        self.page.goto(self.origin + "/")
        self.page.fill("#key", key)
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_selector("#who:not(:empty)", timeout=WAIT_MS)

    def go(self, hash_route: str) -> None:
        self.page.evaluate("route => { location.hash = route; }", hash_route)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def watch(browser: Any, origin: str) -> Watched:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    watched = Watched(page, origin)
    page.on("request", lambda r: watched.requests.append(r.url))
    page.on("pageerror", lambda e: watched.errors.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: (
            watched.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        ),
    )
    # The console asks before an activation, a commit, a rollback: the operator says yes.
    page.on("dialog", lambda d: d.accept())
    return watched


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """Pages for a test; after it, none went to another host and none had a script error."""
    pages: list[Watched] = []

    def make(origin: str) -> Watched:
        pages.append(watch(browser, origin))
        return pages[-1]

    yield make
    for watched in pages:
        watched.page.context.close()
        assert watched.requests, "the page made no request at all"
        assert watched.foreign() == [], f"requests to another host: {watched.foreign()}"
        assert watched.errors == [], f"script errors: {watched.errors}"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, base_profile_text: str
) -> Iterator[RealServer]:
    store = tmp_path_factory.mktemp("console") / "store.db"
    with real_server(store, base_profile_text, env={"COINVAL_SSE_POLL_S": "0.05"}) as srv:
        yield srv


def test_the_console_loads_with_no_request_to_another_host(
    server: RealServer, open_page: Any
) -> None:
    watched = open_page(server.url)
    response = watched.page.goto(server.url + "/")
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    watched.page.wait_for_selector("#signin:not([hidden]) #key")
    # every module of the console was loaded (an import error would be a page error)
    paths = {urlsplit(u).path for u in watched.requests}
    assert {"/console/app.js", "/console/console.css", "/console/pages/teach.js"} <= paths
    assert not any(p.startswith("/api/") for p in paths)  # no key yet: no data asked for


def test_signing_in_shows_the_active_profile_coins_and_head(
    server: RealServer, open_page: Any
) -> None:
    watched = open_page(server.url)
    watched.page.goto(server.url + "/")
    watched.page.fill("#key", "cvk_not-a-key-of-this-store")
    watched.page.click("#signin-form button[type=submit]")
    watched.page.wait_for_selector("#signin-error:not([hidden])")
    assert "not valid" in watched.page.inner_text("#signin-error")
    watched.errors.clear()  # the browser logs the refused 401 itself: that one is expected

    key = key_of(server.operator)
    watched.sign_in(key)
    page = watched.page
    page.wait_for_selector("table.coins")
    assert "operator" in page.inner_text("#who")
    assert page.input_value("#head") == HEAD
    assert "version 1" in page.inner_text("#active-profile")
    taught = page.eval_on_selector_all(
        "table.coins tr[data-coin]", "rows => rows.map(r => r.dataset.coin)"
    )
    assert taught == list(BASE_COINS)  # ccTalk position order
    # the key is kept for the tab only, and never travels in a URL
    assert page.evaluate("() => sessionStorage.getItem('coinval.apiKey')") == key
    assert page.evaluate("() => localStorage.length") == 0
    assert not any(key in url for url in watched.requests)


def test_a_viewer_sees_the_head_but_no_control(server: RealServer, open_page: Any) -> None:
    watched = open_page(server.url)
    watched.sign_in(key_of(server.viewer))
    page = watched.page
    page.wait_for_selector("table.coins tr[data-coin]")
    assert page.locator("input.inhibit").count() == 0
    assert page.locator("#master-toggle").count() == 0
    assert not page.is_visible("#nav a[data-page=keys]")
    watched.go("#/profiles")
    page.wait_for_selector("table.versions")
    assert page.locator("button.activate, #rollback").count() == 0


def test_the_live_stream_shows_each_new_decision_with_its_reason(
    server: RealServer, open_page: Any
) -> None:
    watched = open_page(server.url)
    watched.sign_in(key_of(server.viewer))
    page = watched.page
    watched.go("#/live")
    page.wait_for_selector("#live-state.on")
    coins = signatures_json(TWO_POUND, 1, seed=21) + signatures_json("mono-12-sided", 1, seed=21)
    r = httpx.post(
        f"{server.url}/api/v1/heads/{HEAD}/classify",
        json=coins,
        headers=server.operator,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    newest = httpx.get(
        f"{server.url}/api/v1/events?head={HEAD}&limit=2", headers=server.viewer, timeout=30
    ).json()["items"]
    refused, accepted = newest  # newest first
    assert accepted["accepted"] and not refused["accepted"]
    row = page.wait_for_selector(f"li.decision.accepted[data-id='{accepted['id']}']")
    assert "Accepted as two pounds" in row.inner_text()
    row = page.wait_for_selector(f"li.decision.refused[data-id='{refused['id']}']")
    words = row.inner_text()
    assert "Refused" in words and refused["detail"] in words
    assert "2 accepted" not in page.inner_text("#live-tally")  # counted once each
    assert "1 accepted, 1 refused" in page.inner_text("#live-tally")


def test_a_teach_session_committed_and_rolled_back_through_the_console(
    server: RealServer, open_page: Any, tmp_path: Path
) -> None:
    api = httpx.Client(base_url=server.url + "/api/v1", headers=server.operator, timeout=30)
    assert api.get(f"/heads/{HEAD}/active").json()["coins"] == list(BASE_COINS)
    coins_file = tmp_path / "pounds.jsonl"
    coins_file.write_text(
        "".join(json.dumps(o) + "\n" for o in signatures_json(TAUGHT, 24, seed=1))
    )

    watched = open_page(server.url)
    watched.sign_in(key_of(server.operator))
    page = watched.page
    watched.go("#/teach")
    page.select_option("#teach-coin", TAUGHT)
    page.click("#teach-start button[type=submit]")
    page.wait_for_selector("#session")
    page.set_input_files("#teach-file", str(coins_file))
    page.click("#upload")
    page.wait_for_function(
        "() => document.querySelector('#session-count')?.textContent.startsWith('24 ')"
    )
    assert page.locator("#spread svg rect").count() >= 10  # one bar per measured feature
    # Recent traffic for the preview to replay: a new pound, a 50p and a fake.
    recent = [
        *signatures_json(TAUGHT, 1, seed=31),
        *signatures_json(FIFTY, 1, seed=31),
        *signatures_json("mono-12-sided", 1, seed=31),
    ]
    assert api.post(f"/heads/{HEAD}/classify", json=recent).status_code == 200
    page.click("#preview-btn")
    page.wait_for_selector("#preview svg")
    assert "takes 24 of the session's 24 coins" in page.inner_text("#preview-self")
    # The plot of the new region: its outline, the session's coins, the traffic by decision.
    plot = api.get(f"/teach/sessions/{page_session(page)}/preview").json()["plot"]
    scatter = "#preview-plot svg.scatter"
    assert page.locator(f"{scatter} path.region-outline").count() == 1
    assert page.locator(f"{scatter} circle.pt.teach").count() == len(plot["teach"]["points"]) == 24
    traffic = page.locator(f"{scatter} circle.pt.traffic")
    assert traffic.count() == len(plot["traffic"]["points"]) >= len(recent)
    assert page.locator(f"{scatter} circle.pt.traffic.s-accepted").count() >= 1  # the new pound
    assert page.locator(f"{scatter} circle.pt.traffic.s-other").count() >= 1  # the 50p
    words = page.inner_text("#preview-plot")
    for axis in (plot["x"], plot["y"]):
        assert f"{axis['feature']} ({axis['unit']})" in words
    assert re.search(rf"accepted as [^\n]*{TAUGHT}", words)  # the legend names the coin
    # The outline is drawn where the region is: the session's coins sit inside it.
    inside = page.evaluate(
        """sel => {
            const svg = document.querySelector(sel);
            const outline = svg.querySelector("path.region-outline");
            const point = svg.createSVGPoint();
            return [...svg.querySelectorAll("circle.pt.teach")].filter((c) => {
                point.x = Number(c.getAttribute("cx"));
                point.y = Number(c.getAttribute("cy"));
                return outline.isPointInFill(point);
            }).length;
        }""",
        scatter,
    )
    assert inside >= 22
    page.check("#commit-activate")
    page.click("#commit")
    page.wait_for_selector("#progress:has-text('committed')")  # the session, now closed
    assert "made profile id" in page.inner_text("#session")

    active = api.get(f"/heads/{HEAD}/active").json()
    assert active["version"] == 2 and active["coins"] == [*BASE_COINS, TAUGHT]
    audit = api.get("/audit?action=teach.commit").json()
    assert audit["items"][0]["key_id"] == api.get("/whoami").json()["key_id"]

    watched.go("#/profiles")
    page.wait_for_selector("tr.current[data-version='2']")
    page.click("tr[data-version='1'] button.diff-btn")
    assert TAUGHT in page.inner_text("#diff")
    page.click("#rollback")
    page.wait_for_selector("tr.current[data-version='1']")
    active = api.get(f"/heads/{HEAD}/active").json()
    assert active["version"] == 1 and active["coins"] == list(BASE_COINS)
    assert api.get(f"/heads/{HEAD}/history").json()[0]["kind"] == "rollback"
    api.close()


def page_session(page: Any) -> int:
    """The teach session a console page shows (``#/teach?session=N``)."""
    found = re.search(r"session=(\d+)", page.url)
    assert found, page.url
    return int(found.group(1))


def test_the_docs_render_offline(server: RealServer, open_page: Any) -> None:
    watched = open_page(server.url)
    response = watched.page.goto(server.url + "/docs")
    assert response.status == 200
    watched.page.wait_for_selector(".swagger-ui .opblock")
    assert watched.page.locator(".swagger-ui .opblock").count() >= 30  # every route
    paths = {urlsplit(u).path for u in watched.requests}
    assert "/docs-static/swagger-ui-bundle.js" in paths and "/openapi.json" in paths


# -- the console and `coinval serve` on one store -------------------------------------------


def coinval_command() -> list[str]:
    script = Path(sys.executable).with_name("coinval")
    return [str(script)] if script.exists() else [sys.executable, "-m", "coinval_cli"]


@pytest.fixture
def serving(tmp_path: Path, base_profile_text: str) -> Iterator[tuple[str, list[str]]]:
    """``coinval serve --api`` with a virtual parking machine, replaying two-pound and 50p coins."""
    profile = tmp_path / "profile.json"
    profile.write_text(base_profile_text)
    sets = {kind: signatures_json(kind, 40, seed=9) for kind in BASE_COINS}
    coins = tmp_path / "coins.jsonl"
    coins.write_text("".join(json.dumps(sets[k][i]) + "\n" for i in range(40) for k in BASE_COINS))
    command = [
        *coinval_command(),
        "serve",
        "--profile",
        str(profile),
        "--cctalk",
        "simhost://?poll_ms=100",
        "--sensor",
        f"replay:{coins}",
        "--coins-per-s",
        "6",
        "--deadline-ms",
        "5000",
        "--api",
        "127.0.0.1:0",
        "--db",
        str(tmp_path / "store.db"),
    ]
    env = {**os.environ, "COINVAL_ADMIN_KEY": ADMIN_KEY, "COINVAL_SSE_POLL_S": "0.05"}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for raw in iter(proc.stderr.readline, b""):
            lines.append(raw.decode(errors="replace"))

    threading.Thread(target=pump, daemon=True).start()
    try:
        found = wait_log(proc, lines, r"calibration API on (http://127\.0\.0\.1:\d+)")
        yield found.group(1), lines
    finally:
        proc.kill()
        proc.wait(timeout=10)


def wait_log(proc: subprocess.Popen[bytes], lines: list[str], pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + 60
    while True:
        found = re.search(pattern, "".join(lines))
        if found:
            return found
        assert proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, f"{pattern!r} never logged:\n{''.join(lines)}"
        time.sleep(0.05)


def test_an_inhibit_set_in_the_console_reaches_coinval_serve(
    serving: tuple[str, list[str]], open_page: Any
) -> None:
    url, log = serving
    watched = open_page(url)
    watched.sign_in(ADMIN_KEY)
    page = watched.page
    box = page.wait_for_selector(f"tr[data-coin='{TWO_POUND}'] input.inhibit")
    assert not box.is_checked()
    box.click()  # not check(): the page is drawn again from the API's reply at once
    page.wait_for_selector(f"tr[data-coin='{TWO_POUND}'] input.inhibit:checked")
    # the serve process built a new engine with the inhibit, between two coins ...
    proc_log = "".join(log)
    deadline = time.monotonic() + 30
    while not re.search(rf"engine now uses head {HEAD} .*inhibited: {TWO_POUND}", proc_log):
        assert time.monotonic() < deadline, proc_log
        time.sleep(0.05)
        proc_log = "".join(log)
    # ... and its next two-pound coin, refused as inhibited, shows in the console's live stream.
    watched.go("#/live")
    row = page.wait_for_selector("li.decision.refused:has(.badge:text-is('inhibited'))")
    assert "two pounds" in row.inner_text() and "inhibited" in row.inner_text()
    events = httpx.get(
        f"{url}/api/v1/events?reason=inhibited&limit=1",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30,
    ).json()["items"]
    assert events[0]["source"] == "live" and events[0]["coin"] == TWO_POUND
