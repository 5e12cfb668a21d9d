"""`coinval api` and `coinval serve --api` check the store path and the port before anything.

Each bad start is a real process: exit 2, one line on stderr, no traceback, no
first admin key printed, no store file left behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coinval.teach import teach
from sim.population import generate

STORE_COINS = ("gb-200-1997", "gb-050-1997")


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = {c: generate(c, 24, head="A", seed=1).signatures() for c in STORE_COINS}
    taught, _ = teach(samples, head="A")
    path = tmp_path_factory.mktemp("profile") / "profile.json"
    taught.save(path)
    return path


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another process (here: a listening socket) holds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unwritable_store(tmp_path: Path) -> Path:
    """A store path in a directory no file can be made in, for this user."""
    if os.geteuid() == 0:
        # root writes into any mode: a "directory" that is a regular file then.
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory\n")
        return blocker / "c.db"
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    return locked / "c.db"


def _start(
    command: str, store: Path | str, port: int, profile: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    base = [sys.executable, "-m", "coinval_cli"]
    if command == "api":
        argv = [*base, "api", "--db", str(store), "--port", str(port)]
    else:
        argv = [*base, "serve", "--profile", str(profile), "--cctalk", "simhost://"]
        argv += ["--sensor", "sim", "--api", str(port), "--db", str(store)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def _refused(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in done.stderr and "cvk_" not in done.stderr
    assert "serving" not in done.stderr


COMMANDS = ["api", "serve"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_store_in_a_directory_that_does_not_exist(
    command: str, tmp_path: Path, profile: Path
) -> None:
    store = tmp_path / "no" / "such" / "dir" / "c.db"
    done = _start(command, store, _free_port(), profile)
    _refused(done, f"the directory {store.parent} does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_store_where_no_file_can_be_made(command: str, tmp_path: Path, profile: Path) -> None:
    store = _unwritable_store(tmp_path)
    done = _start(command, store, _free_port(), profile)
    words = "is not a directory" if os.geteuid() == 0 else "cannot create files in"
    _refused(done, words)
    assert not store.exists() and not Path(f"{store}-wal").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_port_in_use(command: str, tmp_path: Path, held_port: int, profile: Path) -> None:
    store = tmp_path / "c.db"
    done = _start(command, store, held_port, profile)
    _refused(done, f"127.0.0.1:{held_port}: in use by another process")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_that_is_not_a_store(command: str, tmp_path: Path, profile: Path) -> None:
    store = tmp_path / "notes.txt"
    store.write_text("operator notes, not a database\n")
    done = _start(command, store, _free_port(), profile)
    _refused(done, "is not a SQLite store")
    assert store.read_text() == "operator notes, not a database\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_store_that_is_a_directory(tmp_path: Path, profile: Path) -> None:
    _refused(_start("api", tmp_path, _free_port(), profile), "is a directory, not a store file")


def test_serve_names_a_cctalk_device_that_is_not_there_before_the_store(
    tmp_path: Path, profile: Path
) -> None:
    store = tmp_path / "c.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    argv = [sys.executable, "-m", "coinval_cli", "serve", "--profile", str(profile)]
    argv += ["--cctalk", str(tmp_path / "ttyUSB9"), "--sensor", "sim"]
    argv += ["--api", str(_free_port()), "--db", str(store)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    _refused(done, "ttyUSB9: no such file or device")
    assert not store.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_store_with_sqlites_header_but_damaged_inside(
    command: str, tmp_path: Path, profile: Path
) -> None:
    store = tmp_path / "c.db"
    store.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    done = _start(command, store, _free_port(), profile)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and "cvk_" not in done.stderr
    assert any("c.db" in line for line in lines), done.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_a_first_admin_key_too_short(command: str, tmp_path: Path, profile: Path) -> None:
    store = tmp_path / "c.db"
    argv = [sys.executable, "-m", "coinval_cli"]
    if command == "api":
        argv += ["api", "--db", str(store), "--port", str(_free_port())]
    else:
        argv += ["serve", "--profile", str(profile), "--cctalk", "simhost://", "--sensor", "sim"]
        argv += ["--api", str(_free_port()), "--db", str(store)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**env, "COINVAL_ADMIN_KEY": "short"}, timeout=120
    )
    _refused(done, "COINVAL_ADMIN_KEY must be at least 16 characters")
    assert not store.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_postgresql_store_out_of_reach_is_one_line_without_its_password(
    command: str, tmp_path: Path, profile: Path
) -> None:
    url = "postgresql://operator:s3cret@127.0.0.1:1/coinval"  # port 1: nothing listens
    done = _start(command, url, _free_port(), profile)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr
    assert "postgresql://operator:***@127.0.0.1:1/coinval" in done.stderr


@pytest.mark.parametrize(
    ("extra", "env", "words"),
    [
        (["--central", "ftp://central/x", "--central-key", "k" * 20], {}, "http:// or https://"),
        (["--central", "http://127.0.0.1:1"], {}, "--central needs a key"),
        (["--central-key", "k" * 20], {}, "--central-key goes with --central"),
        (["--outbox", "o.db"], {}, "--outbox goes with --central"),
        (["--model", "P1"], {}, "--model goes with --central"),
        (
            ["--central", "http://127.0.0.1:1", "--model", "no spaces"],
            {"COINVAL_CENTRAL_KEY": "k" * 20},
            "--model: a model is 1-64 letters",
        ),
        (
            ["--central", "http://127.0.0.1:1", "--outbox-bound", "0"],
            {"COINVAL_CENTRAL_KEY": "k" * 20},
            "--outbox-bound must be at least 1",
        ),
    ],
)
def test_central_flags_that_cannot_work(
    tmp_path: Path, profile: Path, extra: list[str], env: dict[str, str], words: str
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    argv = [sys.executable, "-m", "coinval_cli", "serve", "--profile", str(profile)]
    argv += ["--cctalk", "simhost://", "--sensor", "sim", *extra]
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**base, **env}, timeout=120, cwd=tmp_path
    )
    _refused(done, words)
    assert "k" * 20 not in done.stderr  # a key is never echoed
    assert list(tmp_path.iterdir()) == []  # no outbox made
