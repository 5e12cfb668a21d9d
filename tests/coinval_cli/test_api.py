"""`coinval api` (``coinval api``): flags, first admin key shown once, bad settings."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from coinval_cli.api import add_api_arguments
from coinval_cli.main import main as coinval_main
from tests.calibration.conftest import api_server_command, free_port


def main(argv: list[str]) -> int:
    return coinval_main(["api", *argv])


def test_flags() -> None:
    parser = argparse.ArgumentParser()
    add_api_arguments(parser)
    args = parser.parse_args(["--db", "x.db", "--port", "9000"])
    assert (args.db, args.host, args.port) == ("x.db", None, 9000)


def test_bad_settings_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(tmp_path / "s.db"), "--port", "70000"]) == 2
    assert "bad setting" in capsys.readouterr().err
    assert main(["--db", str(tmp_path / "s.db"), "--ssl-certfile", "c.pem"]) == 2


def _run(store: Path, port: int) -> tuple[str, str | None]:
    env = {k: v for k, v in os.environ.items() if k != "COINVAL_ADMIN_KEY"}
    proc = subprocess.Popen(
        api_server_command(store, port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    whoami = None
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            for _ in range(600):
                try:
                    if c.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    keys = re.findall(r"cvk_[A-Za-z0-9_-]{40,}", err)
    if keys:
        from calibration.context import Context
        from calibration.db import open_database
        from calibration.domain.keys import authenticate
        from calibration.settings import Settings

        ctx = Context(db=open_database(store), settings=Settings(db=str(store)))
        principal = authenticate(ctx, keys[0])
        whoami = principal.role.value if principal else None
    return err, whoami


def test_first_start_prints_a_generated_admin_key_once(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    err, role = _run(store, free_port())
    assert "shown this once only" in err and role == "admin"
    err, role = _run(store, free_port())
    assert "cvk_" not in err and role is None


def test_settle_heap_freezes_the_start_up_objects_and_widens_the_young_generation() -> None:
    import gc

    from coinval_cli.serving import GC_YOUNG_THRESHOLD, settle_heap

    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
