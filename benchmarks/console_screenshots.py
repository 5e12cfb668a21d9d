"""Screenshots of each page of the operator console, for the README and the reports.

``python -m benchmarks.console_screenshots reports/console`` (``make bench`` runs it)
starts a real ``coinval api`` over a scratch store, fills it with a day of
simulated traffic, a second profile version and an open teach session, signs
in as the admin in Debian's headless chromium and writes one PNG per page:
``overview.png``, ``live.png``, ``stats.png``, ``refusals.png``, ``profiles.png``,
``teach.png``, ``keys.png`` and ``docs.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

import httpx

from coinval.teach import teach
from sim.population import generate
from tests.calibration.conftest import (
    ADMIN_KEY,
    BASE_COINS,
    HEAD,
    SECOND,
    TAUGHT,
    RealServer,
    real_server,
    signatures_json,
)

PAGES = ("overview", "live", "stats", "refusals", "profiles", "teach", "keys")
HOURS = 12


def base_profile() -> str:
    samples = {coin: generate(coin, 24, head=HEAD, seed=3).signatures() for coin in BASE_COINS}
    profile, _ = teach(samples, head=HEAD)
    return profile.dumps()


def fill(srv: RealServer) -> int:
    """A day of traffic, a second (inactive) version, an open teach session: its id."""
    api = httpx.Client(base_url=srv.url + "/api/v1", headers=srv.operator, timeout=60)
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    kinds = [*BASE_COINS, TAUGHT, "mono-12-sided", SECOND]
    for hour in range(HOURS, 0, -1):
        # more look-alikes in some hours, so the rates move
        counts = {BASE_COINS[0]: 8, BASE_COINS[1]: 10, TAUGHT: 2 + hour % 4, kinds[3]: hour % 3}
        coins = [o for k, n in counts.items() if n for o in signatures_json(k, n, seed=100 + hour)]
        at = (now - dt.timedelta(hours=hour) + dt.timedelta(minutes=30)).isoformat()
        r = api.post(f"/heads/{HEAD}/classify", params={"at": at, "backfill": "true"}, json=coins)
        r.raise_for_status()
    second = api.post("/teach/sessions", json={"coin": SECOND, "head": HEAD}).json()["id"]
    api.post(f"/teach/sessions/{second}/signatures", json=signatures_json(SECOND, 24, seed=1))
    api.post(f"/teach/sessions/{second}/commit", json={"activate": False}).raise_for_status()
    session = api.post("/teach/sessions", json={"coin": TAUGHT, "head": HEAD}).json()["id"]
    r = api.post(f"/teach/sessions/{session}/signatures", json=signatures_json(TAUGHT, 24, seed=1))
    r.raise_for_status()
    api.close()
    return int(session)


def shoot(srv: RealServer, session: int, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(20_000)
        page.goto(srv.url + "/")
        page.fill("#key", ADMIN_KEY)
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("table.coins")
        ready = {
            "overview": "table.coins",
            "live": "#live-state.on",
            "stats": "#charts figure",
            "refusals": "table.refusals",
            "profiles": "table.versions",
            "teach": "#preview svg",
            "keys": "table.keys",
        }
        for name in PAGES:
            route = f"#/teach?session={session}" if name == "teach" else f"#/{name}"
            page.evaluate("r => { location.hash = r; }", route)
            if name == "teach":
                page.click("#preview-btn")
            if name == "profiles":
                page.click("tr:not(.current) button.diff-btn")
            page.wait_for_selector(ready[name])
            if name == "live":
                live = signatures_json(BASE_COINS[0], 2, seed=7) + signatures_json(
                    TAUGHT, 1, seed=7
                )
                httpx.post(
                    f"{srv.url}/api/v1/heads/{HEAD}/classify",
                    json=live,
                    headers=srv.operator,
                    timeout=60,
                ).raise_for_status()
                page.wait_for_function(
                    "() => document.querySelector('#live-tally').textContent.includes('1 refused')"
                )
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
        page.goto(srv.url + "/docs")
        page.wait_for_selector(".swagger-ui .opblock")
        page.screenshot(path=str(out / "docs.png"))
        written.append(out / "docs.png")
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    args = parser.parse_args(argv)
    chromium = os.environ.get("COINVAL_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        print("console screenshots: skipped, no chromium (apt-get install -y chromium)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as scratch,
        real_server(Path(scratch) / "store.db", base_profile()) as srv,
    ):
        session = fill(srv)
        written = shoot(srv, session, args.out, chromium)
    print("console screenshots: " + " ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
