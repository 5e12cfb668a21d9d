"""``coinval serve --central``: the head's configuration follows the central service.

A real ``coinval api`` is the central service.  The acceptor starts on the
central's profile and settings (not the ``--profile`` file's), follows an
operator's change made there, keeps a last good copy, and starts on that copy
while the central service is away.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from calibration.central_config import CentralConfig, ConfigReplyError
from tests.calibration.conftest import ADMIN_KEY, bearer
from tests.coinval_cli.test_serve_central import Acceptor, Central, profile  # noqa: F401

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def central(tmp_path: Path, profile: Path) -> Iterator[Central]:  # noqa: F811
    """A central service whose head A runs the test profile with the £2 inhibited."""
    srv = Central(tmp_path / "central.db")
    with httpx.Client(base_url=srv.url, headers=bearer(ADMIN_KEY)) as c:
        r = c.post(
            "/api/v1/profiles",
            params={"activate": "true"},
            content=profile.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 201, r.text
        r = c.put("/api/v1/heads/A/coins/gb-200-1997/inhibit", json={"inhibited": True})
        assert r.status_code == 200, r.text
    yield srv
    srv.kill()


def wait_for(acc: Acceptor, words: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while words not in acc.log:
        assert acc.proc.poll() is None, acc.log
        assert time.monotonic() < deadline, acc.log
        time.sleep(0.05)


def test_config_route_tags_and_304(central: Central) -> None:
    with httpx.Client(base_url=central.url, headers=bearer(central.key)) as c:
        first = c.get("/api/v1/heads/A/config")
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["head"] == "A" and body["version"] == 1
        assert "gb-200-1997" in body["profile"]["inhibited"]  # settings applied
        tag = first.headers["ETag"]
        same = c.get("/api/v1/heads/A/config", headers={"If-None-Match": tag})
        assert same.status_code == 304 and same.content == b""
        r = c.put("/api/v1/heads/A/coins/gb-050-1997/inhibit", json={"inhibited": True})
        assert r.status_code == 200
        moved = c.get("/api/v1/heads/A/config", headers={"If-None-Match": tag})
        assert moved.status_code == 200 and moved.headers["ETag"] != tag
        assert "gb-050-1997" in moved.json()["profile"]["inhibited"]
        assert c.get("/api/v1/heads/nobody/config").status_code == 404
        assert c.get("/api/v1/heads/A/config", headers=bearer("x" * 40)).status_code == 401


def test_last_good_copy(central: Central, tmp_path: Path) -> None:
    copy = tmp_path / "config.json"
    follower = CentralConfig(central.url, central.key, "A", copy)
    fetched, origin = follower.at_start()
    assert fetched is not None and origin == "the central service"
    assert "gb-200-1997" in fetched.profile.inhibited and copy.exists()
    follower.close()
    central.kill()
    offline = CentralConfig(central.url, central.key, "A", copy, timeout_s=1)
    kept, origin = offline.at_start()
    assert kept is not None and "last good copy" in origin
    assert kept.etag == fetched.etag and kept.profile.inhibited == fetched.profile.inhibited
    offline.close()
    copy.write_text(json.dumps({"etag": "x", "config": {"head": "A", "profile": {}}}))
    damaged = CentralConfig(central.url, central.key, "A", copy, timeout_s=1)
    assert damaged.at_start() == (None, damaged.at_start()[1])  # a bad copy is not served
    damaged.close()


def test_serve_follows_the_central_configuration(
    profile: Path,  # noqa: F811
    central: Central,
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox.db"
    extra = ("--central-poll", "0.3", "--model", "P1")
    acc = Acceptor(profile, central, outbox, 400, *extra)
    wait_for(acc, "central: serving head A version 1")
    assert "inhibited: gb-200-1997" in acc.log  # the central's setting, not the file's
    with httpx.Client(base_url=central.url, headers=bearer(ADMIN_KEY)) as c:
        r = c.put("/api/v1/heads/A/coins/gb-050-1997/inhibit", json={"inhibited": True})
        assert r.status_code == 200
    wait_for(acc, "inhibited: gb-050-1997, gb-200-1997")  # followed within the poll
    central.kill()
    acc.stop()
    assert (tmp_path / "outbox-config.json").exists()
    # the central service away: the next start serves the last good copy, settings and all
    again = Acceptor(profile, central, outbox, 5, *extra)
    wait_for(again, "from the last good copy")
    assert (
        "central service is not answering" in again.log
        and "inhibited: gb-050-1997, gb-200-1997" in again.log
    )
    again.kill()


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (200, b"not json", "not JSON"),
        (200, b"[1, 2]", "not head 'A'"),
        (200, b'{"head": "B", "profile": {}}', "not head 'A'"),
        (200, b'{"head": "A", "profile": {"format": "nonsense"}}', "profile is refused"),
        (200, b'{"head": "A", "profile_id": "x"}', "malformed"),
        (500, b"{}", "500"),
    ],
)
def test_a_garbage_reply_is_refused_and_the_copy_kept(
    tmp_path: Path, status: int, body: bytes, words: str
) -> None:
    """Whatever a central service (or something in its place) answers, the acceptor
    serves no configuration it cannot read, and its last good copy is not overwritten."""
    copy = tmp_path / "config.json"
    copy.write_text("kept")
    garbage = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    follower = CentralConfig("http://central", "k" * 20, "A", copy, transport=garbage)
    with pytest.raises((ConfigReplyError, httpx.HTTPStatusError), match=words):
        follower.fetch()
    assert follower.current is None and copy.read_text() == "kept"
    fetched, origin = follower.at_start()  # falls back to the copy (here unreadable): none
    assert fetched is None and "not answering" in origin
    follower.close()
