"""The smaller findings of issue 18: malformed JSON 400, keys only in the header,
header size, the store file's mode, a revoked key's change refused in its own transaction."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from calibration.db import open_database
from calibration.domain import keys as keys_domain
from calibration.domain.keys import Role
from calibration.errors import KeyRevokedError
from tests.calibration.conftest import ADMIN_KEY, HEAD, Service, real_server

API = "/api/v1"


def test_malformed_json_to_a_model_route_is_400(service: Service) -> None:
    r = service.client.put(
        f"{API}/heads/{HEAD}/master-inhibit",
        content=b"{not json",
        headers={**service.operator, "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == "the body is not valid JSON"


def test_a_key_in_the_query_string_is_refused_without_echoing_it(service: Service) -> None:
    key = service.keys["viewer"]
    for query in (f"key={key}", f"api_key={key}", f"x={key}"):
        r = service.client.get(f"{API}/whoami?{query}")
        assert r.status_code == 400, r.text
        assert key not in r.text
        assert "Authorization header" in r.json()["detail"]


def test_the_store_file_is_private(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    open_database(store)
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    loose = tmp_path / "loose.db"
    loose.touch(mode=0o644)
    open_database(loose)
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o600


def test_a_revoked_key_cannot_make_a_change_in_its_own_transaction(service: Service) -> None:
    ctx = service.ctx
    a = keys_domain.create_key(ctx, "admin-env", name="a", role=Role.admin)
    b = keys_domain.create_key(ctx, "admin-env", name="b", role=Role.admin)
    keys_domain.revoke_key(ctx, a["id"], b["id"])  # a revokes b
    with pytest.raises(KeyRevokedError):
        keys_domain.revoke_key(ctx, b["id"], a["id"])  # b's check passed before: refused now
    assert next(k for k in keys_domain.list_keys(ctx) if k["id"] == a["id"])["revoked_at"] is None


def test_real_server_headers_and_access_log(tmp_path: Path, base_profile_text: str) -> None:
    with real_server(tmp_path / "store.db", base_profile_text) as srv:
        r = httpx.get(f"{srv.url}/healthz", headers={"X-Big": "a" * (1 << 20)}, timeout=30)
        assert r.status_code == 431
        assert httpx.get(f"{srv.url}/healthz", timeout=30).status_code == 200
        key = srv.viewer["Authorization"].split()[1]
        r = httpx.get(f"{srv.url}{API}/whoami", params={"token": key}, timeout=30)
        assert r.status_code == 400 and key not in r.text


def test_the_access_log_never_carries_a_query_key(tmp_path: Path) -> None:
    """uvicorn's access log reads the query from the scope the guard redacted."""
    from calibration.service import CalibrationService
    from calibration.settings import Settings

    service = CalibrationService.open(
        Settings(db=str(tmp_path / "s.db"), admin_key=SecretStr(ADMIN_KEY))
    )
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep()
    server = service.start_api("127.0.0.1", 0, access_log=True)
    logging.getLogger("uvicorn.access").addHandler(handler)
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    try:
        secret = "cvk_" + "s" * 43
        r = httpx.get(f"http://127.0.0.1:{server.port}{API}/whoami?key={secret}", timeout=30)
        assert r.status_code == 400
        threading.Event().wait(0.2)
    finally:
        logging.getLogger("uvicorn.access").removeHandler(handler)
        server.stop()
    assert lines and not any(secret in line for line in lines), lines
