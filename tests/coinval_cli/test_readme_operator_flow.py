"""The README's operator section, run as written: a real `coinval api`, curl, the shared samples.

The shell lines between ``<!-- operator-flow:start -->`` and
``<!-- operator-flow:end -->`` are run in order by one bash process, each
followed by a marker carrying its exit status; every status must be 0 and the
replies that matter must say what the README promises.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- operator-flow:start -->", "<!-- operator-flow:end -->"
MARK = "@@operator-flow-step"


def flow_commands(text: str) -> list[str]:
    """The section's shell commands: continuation lines joined, comments and blanks left out."""
    section = text[text.index(START) + len(START) : text.index(END)]
    fence = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    commands: list[str] = []
    pending = ""
    for line in fence.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        commands.append(pending + line)
        pending = ""
    assert not pending, "the section ends in a continuation line"
    return commands


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(commands: list[str], cwd: Path, env: dict[str, str]) -> list[tuple[int, str]]:
    """Each command's exit status and standard output, run in order by one bash."""
    # pipefail: a failed curl before `| field` counts, not just the last command.  The
    # marker goes on a line of its own: a reply may end without a newline.
    script = "set -o pipefail\n" + "".join(
        f'{command}\n__flow_status=$?; echo; echo "{MARK} {i} $__flow_status"\n'
        for i, command in enumerate(commands)
    )
    out_path, err_path = cwd / "flow.out", cwd / "flow.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        # Its own session: the server it starts in the background can be ended with it.
        proc = subprocess.Popen(
            ["bash", "-c", script], cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        try:
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None or _group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    results: list[tuple[int, str]] = []
    chunk: list[str] = []
    for line in out_path.read_text().splitlines():
        if line.startswith(MARK):
            _, index, status = line.split()
            assert int(index) == len(results)
            results.append((int(status), "\n".join(chunk)))
            chunk = []
        else:
            chunk.append(line)
    assert len(results) == len(commands), err_path.read_text()[-3000:]
    return results


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_section_is_found_and_holds_the_whole_flow() -> None:
    commands = flow_commands(README.read_text())
    text = "\n".join(commands)
    for step in (
        "coinval teach",
        "coinval api",
        "/keys",
        "/profiles?activate=true",
        "/teach/sessions",
        "/signatures",
        "/preview",
        "/commit",
        "/rollback",
        "/inhibit",
        "/classify",
    ):
        assert step in text, step
    assert "$OPERATOR_KEY" not in text and "head7" not in text


def test_the_readme_operator_flow_runs_as_written(tmp_path: Path, samples_dir: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the README's flow uses curl")
    commands = flow_commands(README.read_text())
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINVAL_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        SAMPLES=str(samples_dir),
        PORT=str(port),
    )
    results = _run(commands, tmp_path, env)
    log = (tmp_path / "api.log").read_text() if (tmp_path / "api.log").exists() else ""
    for command, (status, output) in zip(commands, results, strict=True):
        assert status == 0, f"{command!r} exited {status}: {output[-2000:]}\n{log[-2000:]}"

    def reply(part: str) -> str:
        (found,) = [out for c, (_, out) in zip(commands, results, strict=True) if part in c]
        return found.strip()

    def json_reply(part: str) -> Any:
        return json.loads(reply(part))

    assert reply('echo "$HEAD"') == "bench-head-B7"
    assert f"serving http://127.0.0.1:{port}" in log and "cvk_" in log
    assert json.loads(reply("/readyz"))["status"] == "ready"
    assert json_reply("/whoami")["role"] == "operator"
    imported = json_reply("/profiles?activate=true")
    assert (imported["head"], imported["version"]) == ("bench-head-B7", 1)
    assert imported["activation"]["active"]["version"] == 1
    assert "gb-020-1982" not in imported["coins"]
    uploaded = json_reply("/signatures")
    assert (uploaded["added"], uploaded["rejected"]) == (12, [])
    assert reply("$SID | field ready") == "true"
    assert json_reply("/preview | field self") == {"samples": 12, "inside_new_region": 12}
    committed = json_reply("/commit")
    assert committed["version"] == 2 and committed["coins"][-1] == "gb-020-1982"
    assert committed["activation"]["active"]["version"] == 2
    rolled = json_reply("/rollback")
    assert (rolled["previous"]["version"], rolled["active"]["version"]) == (2, 1)
    assert json_reply("/inhibit")["inhibited"] is True
    (decision,) = json_reply("/classify")
    assert (decision["coin"], decision["reason"]) == ("gb-200-1997", "inhibited")
    assert decision["detail"] == "gb-200-1997 is inhibited by the operator"
    # the flow stopped its server (its `wait` gave the server's own status, 0 above)
    assert "Shutting down" in log or "Finished server process" in log
