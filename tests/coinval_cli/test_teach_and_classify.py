"""The command-line contract of spec section 4, driven as users drive it."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coinval import jsonlines
from coinval_cli import classify as cli_classify
from coinval_cli.main import main


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("teach") / "profile.json"
    args = ["teach", "--out", str(out)]
    for f in sorted(samples_dir.glob("*.jsonl")):
        args += ["--coin", f"{f.stem}={f}"]
    assert main(args) == 0
    return out


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("coinval", path=os.path.dirname(sys.executable))
    assert exe, "the coinval console script is installed beside the interpreter"
    return subprocess.run([exe, *args], input=stdin, capture_output=True, timeout=120)


def decisions(stdout: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_teach_and_classify_shared_samples(profile_path: Path, samples_dir: Path) -> None:
    profile = json.loads(profile_path.read_text())
    assert profile["schema_version"] == 3
    assert profile["head"] == "bench-head-B7"
    assert set(profile["coins"]) == {f.stem for f in samples_dir.glob("*.jsonl")}
    sample = samples_dir / "gb-100-2017.jsonl"
    proc = run_cli("classify", "--profile", str(profile_path), "--at", "2024-01-01", str(sample))
    assert proc.returncode == 0, proc.stderr
    out = decisions(proc.stdout)
    ids = [json.loads(line)["id"] for line in sample.read_text().splitlines()]
    assert [d["id"] for d in out] == ids
    assert all(d["coin"] == "gb-100-2017" and d["accepted"] for d in out)


def test_legal_tender_dates_and_stdin(profile_path: Path, samples_dir: Path) -> None:
    data = (samples_dir / "gb-100-1983.jsonl").read_bytes()
    before = run_cli(
        "classify", "--profile", str(profile_path), "--at", "2017-10-14T23:59", "-", stdin=data
    )
    after = run_cli(
        "classify", "--profile", str(profile_path), "--at", "2017-10-15T00:00", stdin=data
    )
    assert {d["reason"] for d in decisions(before.stdout)} == {"accepted"}
    after_d = decisions(after.stdout)
    assert {d["reason"] for d in after_d} == {"inhibited"}
    assert {d["coin"] for d in after_d} == {"gb-100-1983"}
    assert not any(d["accepted"] for d in after_d)
    new = (samples_dir / "gb-100-2017.jsonl").read_bytes()
    early = run_cli("classify", "--profile", str(profile_path), "--at", "2017-03-27", stdin=new)
    assert {d["reason"] for d in decisions(early.stdout)} == {"inhibited"}


def test_bad_lines_get_invalid_and_the_run_goes_on(profile_path: Path, samples_dir: Path) -> None:
    good = (samples_dir / "gb-050-1997.jsonl").read_text().splitlines()
    broken = json.loads(good[0])
    broken["thickness_mm"] = 12
    lines = [good[0], "not json", "", json.dumps(broken), '{"id": "x"}', "[1,2]", good[1]]
    proc = run_cli("classify", "--profile", str(profile_path), stdin="\n".join(lines).encode())
    assert proc.returncode == 0
    out = decisions(proc.stdout)
    assert [d["reason"] for d in out] == [
        "accepted",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "accepted",
    ]
    assert "thickness_mm" in str(out[3]["detail"])
    assert out[3]["id"] == broken["id"]
    assert "not valid JSON" in str(out[1]["detail"])


def test_empty_input(profile_path: Path) -> None:
    proc = run_cli("classify", "--profile", str(profile_path), stdin=b"")
    assert proc.returncode == 0
    assert proc.stdout == b""
    assert b"no lines" in proc.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot read profile"),
        (b"", "not valid JSON"),
        (b'{"format": "coinval-profile", "schema_version": 1, "coi', "not valid JSON"),
        (b'{"hello": 1}', "not a coinval profile"),
        (b'{"format": "coinval-profile", "schema_version": 99, "coins": {}}', "newer"),
        (b'{"format": "coinval-profile", "schema_version": 3, "coins": {}}', "no coins"),
        (b'{"format": "coinval-profile", "schema_version": 2, "coins": {}}', "teach again"),
    ],
)
def test_bad_profiles_exit_2_with_a_message(
    tmp_path: Path, content: bytes | None, words: str
) -> None:
    path = tmp_path / "p.json"
    if content is not None:
        path.write_bytes(content)
    proc = run_cli("classify", "--profile", str(path), stdin=b"{}\n")
    assert proc.returncode == 2
    assert words in proc.stderr.decode()
    assert b"Traceback" not in proc.stderr


def test_tampered_profile_field_is_named(tmp_path: Path, profile_path: Path) -> None:
    doc = json.loads(profile_path.read_text())
    doc["coins"]["gb-100-2017"]["features"]["lo_level"]["scale"] = -1
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    proc = run_cli("classify", "--profile", str(path), stdin=b"")
    assert proc.returncode == 2
    assert b"lo_level" in proc.stderr


def test_a_loss_taught_profile_names_a_v1_signature_invalid(
    tmp_path: Path, samples_dir: Path
) -> None:
    """Contract v1.1: a profile taught with loss traces needs them; a coin without
    gets ``invalid`` saying so, and a coin with them is decided."""
    lines = (samples_dir / "gb-050-1997.jsonl").read_text().splitlines()
    with_loss = []
    for line in lines:
        obj = json.loads(line)
        obj["eddy_lo_loss"] = [0.3 * v for v in obj["eddy_lo"]]
        obj["eddy_hi_loss"] = [0.2 * v for v in obj["eddy_hi"]]
        with_loss.append(json.dumps(obj))
    teach_file = tmp_path / "t.jsonl"
    teach_file.write_text("\n".join(with_loss) + "\n")
    profile = tmp_path / "p.json"
    made = run_cli("teach", "--out", str(profile), "--coin", f"gb-050-1997={teach_file}")
    assert made.returncode == 0, made.stderr
    doc = json.loads(profile.read_text())
    assert "lo_ring_loss_angle" in doc["coins"]["gb-050-1997"]["features"]
    mixed = (with_loss[0] + "\n" + lines[0] + "\n").encode()
    proc = run_cli("classify", "--profile", str(profile), stdin=mixed)
    assert proc.returncode == 0, proc.stderr
    first, second = decisions(proc.stdout)
    assert first["accepted"] and first["coin"] == "gb-050-1997"
    assert second["reason"] == "invalid" and "loss traces" in second["detail"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--coin", "gb-999-2099=x.jsonl"], "unknown coin id"),
        (["--coin", "gb-100-2017"], "expected COIN_ID=VALUE"),
        (["--coin", "gb-100-2017=/nonexistent.jsonl"], "cannot open"),
    ],
)
def test_teach_usage_errors(tmp_path: Path, args: list[str], words: str) -> None:
    proc = run_cli("teach", "--out", str(tmp_path / "p.json"), *args)
    assert proc.returncode == 2
    assert words in proc.stderr.decode()
    assert b"Traceback" not in proc.stderr


def test_teach_wrong_coin_file_is_refused(tmp_path: Path, samples_dir: Path) -> None:
    proc = run_cli(
        "teach",
        "--out",
        str(tmp_path / "p.json"),
        "--coin",
        f"gb-100-2017={samples_dir / 'gb-050-1997.jsonl'}",
    )
    assert proc.returncode == 2
    assert b"does not look like" in proc.stderr
    assert not (tmp_path / "p.json").exists()


def test_teach_drops_a_stray_coin_and_names_it(tmp_path: Path, samples_dir: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    pounds = (samples_dir / "gb-100-2017.jsonl").read_text().splitlines()
    stray = (samples_dir / "gb-100-1983.jsonl").read_text().splitlines()[0]
    mixed.write_text("\n".join([*pounds, stray]) + "\n")
    proc = run_cli("teach", "--out", str(tmp_path / "p.json"), "--coin", f"gb-100-2017={mixed}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(stray)["id"].encode() in proc.stderr
    assert b"fewer" in proc.stderr or b"only" in proc.stderr  # 12 coins < 20 warns
    strict = run_cli(
        "teach", "--strict", "--out", str(tmp_path / "q.json"), "--coin", f"gb-100-2017={mixed}"
    )
    assert strict.returncode == 2


def test_bad_flags_exit_2() -> None:
    assert run_cli("classify").returncode == 2
    assert run_cli("frobnicate").returncode == 2
    proc = run_cli("classify", "--profile", "x.json", "--at", "yesterday")
    assert proc.returncode == 2


def test_bad_at_is_clear(profile_path: Path) -> None:
    proc = run_cli("classify", "--profile", str(profile_path), "--at", "yesterday", stdin=b"")
    assert proc.returncode == 2
    assert b"ISO" in proc.stderr


def test_parallel_workers_keep_order_and_invalid_lines(
    profile_path: Path, samples_dir: Path, tmp_path: Path
) -> None:
    good = [
        line for f in sorted(samples_dir.glob("*.jsonl")) for line in f.read_text().splitlines()
    ]
    lines = []
    for i in range(2600):  # more than two chunks of 1024
        lines.append(good[i % len(good)] if i % 97 else "{broken")
    lines[500] = '{"id": "' + "x" * (3 << 20) + '"}'  # over the 1 MiB line cap
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines) + "\n")
    one = run_cli(
        "classify", "--profile", str(profile_path), "--jobs", "1", "--at", "2017-06-01", str(path)
    )
    two = run_cli(
        "classify", "--profile", str(profile_path), "--jobs", "2", "--at", "2017-06-01", str(path)
    )
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout
    out = decisions(two.stdout)
    assert len(out) == 2600
    assert [d["reason"] == "invalid" for d in out] == [i % 97 == 0 or i == 500 for i in range(2600)]
    assert "line 501 is longer than" in str(out[500]["detail"])


def test_an_over_long_line_is_invalid_and_skipped(profile_path: Path, samples_dir: Path) -> None:
    good = (samples_dir / "gb-020-1982.jsonl").read_text().splitlines()[0]
    huge = '{"id": "' + "x" * (2 << 20) + '"}'
    proc = run_cli("classify", "--profile", str(profile_path), stdin=f"{huge}\n{good}\n".encode())
    out = decisions(proc.stdout)
    assert [d["reason"] for d in out] == ["invalid", "accepted"]
    assert "longer than" in str(out[0]["detail"])


def test_a_pipe_gets_each_decision_as_its_coin_arrives(
    profile_path: Path, samples_dir: Path
) -> None:
    """A sensor feeding one coin at a time must not wait for a full chunk."""
    exe = shutil.which("coinval", path=os.path.dirname(sys.executable))
    assert exe
    lines = (samples_dir / "gb-050-1997.jsonl").read_text().splitlines()[:2]
    proc = subprocess.Popen(
        [exe, "classify", "--profile", str(profile_path), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for line in lines:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            # The decision comes back while stdin is still open.
            decision = json.loads(proc.stdout.readline())
            assert decision["id"] == json.loads(line)["id"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("at", ["", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_at_outside_the_calendar_is_a_usage_error(profile_path: Path, at: str) -> None:
    proc = run_cli("classify", "--profile", str(profile_path), "--at", at, stdin=b"")
    assert proc.returncode == 2
    assert b"ISO" in proc.stderr


def test_absurd_but_valid_numbers_decide_and_teach_refuses_cleanly(
    profile_path: Path, samples_dir: Path, tmp_path: Path
) -> None:
    base = json.loads((samples_dir / "gb-100-2017.jsonl").read_text().splitlines()[0])
    odd = [
        {**base, "eddy_lo": [v * 1e300 for v in base["eddy_lo"]]},
        {**base, "eddy_rate_hz": 1e-300},
        {**base, "rim": [1e300] * len(base["rim"])},
        {**base, "eddy_lo": [0.0] * len(base["eddy_lo"]), "eddy_hi": [0.0] * len(base["eddy_hi"])},
        {**base, "speed_mm_s": 1e-300},
    ]
    text = "\n".join(json.dumps(o) for o in odd).encode()
    proc = run_cli("classify", "--profile", str(profile_path), stdin=text)
    assert proc.returncode == 0, proc.stderr
    out = decisions(proc.stdout)
    assert len(out) == len(odd)
    assert not any(d["accepted"] for d in out)
    assert b"Traceback" not in proc.stderr and b"Warning" not in proc.stderr
    teach_file = tmp_path / "odd.jsonl"
    teach_file.write_text(text.decode() + "\n")
    refused = run_cli(
        "teach", "--out", str(tmp_path / "p.json"), "--coin", f"gb-100-2017={teach_file}"
    )
    assert refused.returncode == 2
    assert b"Traceback" not in refused.stderr


@pytest.mark.parametrize("seed", range(30))
def test_blocks_for_workers_hold_the_lines_the_reader_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Whole lines, numbered as read one by one; over-long lines cut wherever they fall."""
    monkeypatch.setattr(cli_classify, "BLOCK_BYTES", 64)
    monkeypatch.setattr(jsonlines, "MAX_LINE_BYTES", 40)
    rng = random.Random(seed)
    lengths = [0, 1, 5, 30, 39, 40, 41, 63, 64, 65, 100, 300]
    lines = [bytes([65 + i % 26]) * rng.choice(lengths) for i in range(rng.randint(0, 30))]
    data = b"\n".join(lines) + rng.choice([b"", b"\n"])
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    expected = [
        (line.number, None if line.error else line.obj.rstrip(b"\n"))
        for line in jsonlines.read_raw_lines(io.BytesIO(data), 40)
    ]
    for seekable in (True, False):
        got = []
        with path.open("rb") as stream:
            for start, length, block, first, count in cli_classify._spans(stream, seekable):
                if block is None:
                    block = os.pread(stream.fileno(), length, start)
                parts = block.split(b"\n")
                if parts[-1] == b"":
                    parts.pop()
                assert len(parts) == count
                got += [(first + i, None if len(p) > 40 else p) for i, p in enumerate(parts)]
        assert got == expected


def test_stdin_from_a_file_is_read_by_the_workers_too(
    profile_path: Path, samples_dir: Path
) -> None:
    data = (samples_dir / "gb-100-2017.jsonl").read_bytes() + b"{broken\n"
    args = ["classify", "--profile", str(profile_path), "--at", "2024-01-01"]
    exe = shutil.which("coinval", path=os.path.dirname(sys.executable))
    assert exe
    one = run_cli(*args, "--jobs", "1", stdin=data)
    path = profile_path.parent / "stdin.jsonl"
    path.write_bytes(data)
    with path.open("rb") as stdin:
        two = subprocess.run([exe, *args, "--jobs", "2", "-"], stdin=stdin, capture_output=True)
    assert two.returncode == 0, two.stderr
    assert two.stdout == one.stdout
    assert decisions(two.stdout)[-1]["reason"] == "invalid"
