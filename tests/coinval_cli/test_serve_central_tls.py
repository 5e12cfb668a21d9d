"""``coinval serve --central https://... --central-ca PEM``: coins reach a TLS central service.

A real ``coinval api`` serves HTTPS with a certificate of a throwaway CA made by
openssl; the acceptor trusts it through ``--central-ca``, and without it the
certificate is refused (the coins wait in the outbox, nothing is sent in clear).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.calibration.conftest import ADMIN_KEY, bearer, free_port
from tests.coinval_cli.test_serve_central import Acceptor, profile  # noqa: F401
from tests.coinval_cli.test_serve_cli import coinval_command

pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
    pytest.mark.timeout(120),
]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=coinval test central",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_coins_reach_a_tls_central_trusted_by_its_ca(
    tmp_path: Path,
    profile: Path,  # noqa: F811
) -> None:
    cert, key = make_certificate(tmp_path)
    port = free_port()
    store = tmp_path / "central.db"
    api = subprocess.Popen(
        [
            *coinval_command(),
            "api",
            "--db",
            str(store),
            "--port",
            str(port),
            "--ssl-certfile",
            str(cert),
            "--ssl-keyfile",
            str(key),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "COINVAL_ADMIN_KEY": ADMIN_KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, verify=str(cert), headers=bearer(ADMIN_KEY)) as c:
            for _ in range(600):
                try:
                    if c.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            r = c.post("/api/v1/keys", json={"name": "acceptors", "role": "operator"})
            assert r.status_code == 201, r.text
            acceptor_key = r.json()["key"]
        central = SimpleNamespace(url=url, key=acceptor_key)
        outcomes = {}
        for name, extra in (("untrusted", []), ("trusted", ["--central-ca", str(cert)])):
            acc = Acceptor(profile, central, tmp_path / f"{name}.db", 10, *extra)  # type: ignore[arg-type]
            acc.wait_decided(10)
            if name == "trusted":
                wait_until(lambda: stored(store) == 10)
            acc.stop()
            outcomes[name] = acc.log
        assert "CERTIFICATE_VERIFY_FAILED" in outcomes["untrusted"]
        assert "10 waiting" in outcomes["untrusted"]  # kept for a later start
        assert "10 event(s) delivered" in outcomes["trusted"]
        assert stored(store) == 10
    finally:
        api.terminate()
        api.wait(timeout=30)


def stored(store: Path) -> int:
    with sqlite3.connect(store) as db:
        row = db.execute("SELECT COUNT(*) FROM events WHERE idempotency_key IS NOT NULL")
        return int(row.fetchone()[0])


def wait_until(done: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--central", "http://127.0.0.1:1"], "--central-ca goes with an https:// --central"),
        (["--central", "https://127.0.0.1:1"], "cannot load it"),
        ([], "--central-ca goes with --central"),
    ],
)
def test_central_ca_refusals(
    tmp_path: Path,
    profile: Path,  # noqa: F811
    extra: list[str],
    words: str,
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coinval_cli",
            "serve",
            "--profile",
            str(profile),
            "--cctalk",
            "simhost://",
            "--sensor",
            "sim",
            "--central-ca",
            str(tmp_path / "missing.pem"),
            *extra,
        ],
        env={**base, "COINVAL_CENTRAL_KEY": "k" * 20},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(tmp_path.iterdir()) == []  # no outbox made
