"""``coinval serve --mdb`` driven by the independent VMC (vmc_from_spec.py) on a pty.

The changer under test is the real command, fed simulated coins (genuine,
counterfeit, look-alike, demonetised) by ``--sensor sim``.  The VMC resets it,
reads SETUP, TUBE STATUS and the identification, enables all coin types but
the 50p, polls, NAKs and RETs one report on purpose, probes a bad CHK and an
unoffered command, goes silent for longer than the non-response time, then
resumes with a RESET.  Its credits are checked against what serve logs about
each coin's decision (the coin's id names what the simulator really put in).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.firmware_bridge.mdb_independent.vmc_from_spec import (
    ALTERNATIVE_PAYOUT,
    COIN_TYPE,
    EXPANSION,
    FEATURE_EXTENDED_DIAGNOSTIC,
    JUST_RESET,
    T_NON_RESPONSE_S,
    T_RESPONSE_S,
    ChangerMissingError,
    PtyLine,
    Status,
    Vmc,
    command_block,
)

AT = "2024-06-01T12:00:00"  # after 2017-10-15: the round pound is no longer legal tender
TAUGHT = ("gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997", "gb-020-1982")
VALUES = {"gb-100-2017": 100, "gb-100-1983": 100, "gb-200-1997": 200, "gb-050-1997": 50}
VALUES["gb-020-1982"] = 20
DISABLED_COIN = "gb-050-1997"  # the VMC leaves its coin type disabled
# coin type n is the profile's coin n + 1: the teach order
ENABLE = sum(1 << t for t, coin in enumerate(TAUGHT) if coin != DISABLED_COIN)
SEED = 5
COINS_PER_S = 4.0
REPLY_WAIT_S = 0.2  # a patient VMC on a shared host: latencies are measured, not enforced
SANITY_MEAN_S = 0.05


def coinval() -> list[str]:
    exe = Path(sys.executable).with_name("coinval")
    return [str(exe)] if exe.exists() else [shutil.which("coinval") or "coinval"]


def serve_has_mdb() -> bool:
    try:
        out = subprocess.run(
            [*coinval(), "serve", "--help"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--mdb" in out


pytestmark = pytest.mark.skipif(
    not serve_has_mdb(), reason="coinval serve has no --mdb flag yet (being wired)"
)


# ----------------------------------------------------------------- serve's log


@dataclass(frozen=True)
class LoggedCoin:
    number: int
    sim_id: str  # "gb-020-1982-A-b3-s2-00000": what the simulator put in
    decision: str  # what the engine said: "accepted gb-020-1982", "counterfeit", ...
    outcome: str  # what became of it on the changer
    credited: bool
    seen_at: float  # monotonic time the test read the line

    @property
    def true_kind(self) -> str:
        return self.sim_id.split("-A-")[0]


COIN_LINE = re.compile(r"coin (\d+) \[([^\]]+)\]: (.+?) -> (.+?)(?:;|$)")
CREDITED = re.compile(r"^(credit|deposit)", re.IGNORECASE)


def logged_coins(lines: list[tuple[float, str]]) -> list[LoggedCoin]:
    coins = []
    for at, line in lines:
        m = COIN_LINE.search(line)
        if m:
            outcome = m.group(4).strip()
            coins.append(
                LoggedCoin(
                    int(m.group(1)),
                    m.group(2),
                    m.group(3).strip(),
                    outcome,
                    CREDITED.match(outcome) is not None,
                    at,
                )
            )
    return coins


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Taught from the simulator's head A, as the sim sensor's coins are measured."""
    root = tmp_path_factory.mktemp("mdb_independent")
    population = [*coinval(), "sim", "population", "--n", "30", "--head", "A", "--seed", "1"]
    jobs = [
        subprocess.Popen([*population, "--coin", coin, "--out", str(root / f"{coin}.jsonl")])
        for coin in TAUGHT
    ]
    assert all(job.wait(timeout=60) == 0 for job in jobs)
    path = root / "profile.json"
    teach = [*coinval(), "teach", "--head", "A", "--out", str(path)]
    for coin in TAUGHT:
        teach += ["--coin", f"{coin}={root / f'{coin}.jsonl'}"]
    subprocess.run(teach, check=True, capture_output=True, timeout=60)
    return path


@dataclass
class Served:
    proc: subprocess.Popen[str]
    lines: list[tuple[float, str]]
    vmc: Vmc

    def log(self) -> str:
        return "".join(line for _, line in self.lines)


@pytest.fixture
def served(profile: Path) -> Iterator[Served]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    command = [*coinval(), "serve", "--profile", str(profile), "--mdb", os.ttyname(slave)]
    command += ["--sensor", "sim", "--coins-per-s", str(COINS_PER_S), "--seed", str(SEED)]
    command += ["--at", AT, "--deadline-ms", "1000"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines: list[tuple[float, str]] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), line))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    vmc = Vmc(PtyLine(master), enable=ENABLE, reply_wait_s=REPLY_WAIT_S)
    try:
        yield Served(proc, lines, vmc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        thread.join(5)
        os.close(master)
        os.close(slave)


def start_when_listening(s: Served, within_s: float = 20.0) -> None:
    give_up = time.monotonic() + within_s
    while True:
        assert s.proc.poll() is None, s.log()
        try:
            s.vmc.start()
            return
        except ChangerMissingError:
            assert time.monotonic() < give_up, "no answer to RESET:\n" + s.log()


def run_until(s: Served, seconds: float, *, nak_and_ret: bool = False) -> None:
    """POLL for ``seconds``; with ``nak_and_ret``, NAK then RET the first report."""
    end = time.monotonic() + seconds
    armed = False
    while time.monotonic() < end:
        if nak_and_ret and not armed and s.vmc.record.credits:
            s.vmc.nak_next, s.vmc.ret_next, armed = 1, 1, True
        s.vmc.run(min(0.2, end - time.monotonic()))


# ----------------------------------------------------------------- the test


def test_serve_as_an_mdb_changer_for_a_vmc_written_from_the_spec(served: Served) -> None:
    s, vmc = served, served.vmc
    start_when_listening(s)

    # SETUP, TUBE STATUS, IDENTIFICATION: as the spec and docs/mdb.md say
    assert vmc.setup is not None
    assert vmc.setup.level == 3
    assert vmc.setup.currency == "826"  # GBP, ISO 4217 with the leading 1
    assert vmc.setup.decimals == 2
    assert vmc.setup.routing == 0  # no tubes
    assert [vmc.setup.coin_value(t) for t in range(len(TAUGHT))] == [VALUES[c] for c in TAUGHT]
    assert all(vmc.setup.coin_value(t) == 0 for t in range(len(TAUGHT), 16))
    assert vmc.tubes is not None and vmc.tubes.full == 0 and not any(vmc.tubes.counts)
    assert vmc.identification is not None
    assert vmc.identification.manufacturer == "CVL"
    assert vmc.features_enabled == FEATURE_EXTENDED_DIAGNOSTIC
    assert vmc.record.just_resets == 1

    # coins, with one report NAKed and one RET on purpose
    run_until(s, 14.0, nak_and_ret=True)
    assert vmc.diagnostic_status()[0] == (0x03, 0x00)  # OK: polled, coins enabled

    # a block with a bad CHK and a command not offered (alternative payout): no ACK
    bad = command_block(COIN_TYPE, bytes([0xFF, 0xFF, 0, 0]), chk=0x00)
    bad_chk_reply = vmc.send_raw(bad)
    unoffered_reply = vmc.send_raw(command_block(EXPANSION, bytes([ALTERNATIVE_PAYOUT, 1])))
    run_until(s, 1.0)

    # the VMC goes silent past the non-response time; coins meanwhile must be returned
    silent_from = time.monotonic()
    gone_after = silent_from + T_NON_RESPONSE_S + 0.3  # a little slack for the log pipe
    vmc.silent(gone_after - silent_from)
    # ... and stays silent until a coin the engine accepted has been decided (at most 8 s)
    silent_until = time.monotonic() + 8.0
    while time.monotonic() < silent_until and not any(
        c.decision.startswith("accepted") for c in logged_coins(s.lines) if c.seen_at >= gone_after
    ):
        vmc.silent(0.05)
    vmc.silent(0.3)
    resumed_at = time.monotonic()
    vmc.reset()  # resume with RESET, then POLL without SETUP or COIN TYPE for a while
    assert vmc.record.just_resets == 2
    unconfigured_until = time.monotonic() + 2.0
    while time.monotonic() < unconfigured_until:
        vmc.poll()
        time.sleep(vmc.poll_interval_s)
    enabled_at = time.monotonic()
    vmc.configure()
    run_until(s, 4.0)

    s.proc.send_signal(signal.SIGINT)
    assert s.proc.wait(timeout=20) == 0, s.log()
    time.sleep(0.2)
    log = s.log()
    assert "Traceback" not in log, log
    coins = logged_coins(s.lines)
    assert coins, "no coin lines in serve's log:\n" + log

    # -------------------------------------------------------------- money
    credited = [c for c in coins if c.credited]
    got = vmc.record.credits
    report = timing_report(vmc)
    print(report)
    print(f"coins logged {len(coins)}, credited {len(credited)}, VMC credits {len(got)}")

    assert not vmc.record.protocol_errors, vmc.record.protocol_errors
    assert vmc.record.bad_checksums == 0
    assert vmc.record.ret_mismatches == 0
    assert got, "no credit at all:\n" + log
    assert vmc.record.naks_sent >= 1 and vmc.record.rets_sent >= 1
    # every credit is of a type the VMC enabled, and worth that type's value
    for credit in got:
        assert credit.coin_type < len(TAUGHT) and TAUGHT[credit.coin_type] != DISABLED_COIN
        assert credit.enabled
        assert credit.value == VALUES[TAUGHT[credit.coin_type]]
        assert credit.routing == 0 and credit.tube_count == 0
    # every credited coin was genuine and of an enabled type
    for coin in credited:
        assert coin.true_kind in VALUES, coin
        assert coin.true_kind != DISABLED_COIN, coin
        assert coin.true_kind != "gb-100-1983", coin  # demonetised at AT
        assert coin.decision == f"accepted {coin.true_kind}", coin
    # one credit per coin serve credited, of the same coins
    assert len(got) == len(credited), log
    assert [TAUGHT[c.coin_type] for c in got] == [c.true_kind for c in credited]
    # the disabled type was offered (the simulator put some in) and never credited
    assert any(c.true_kind == DISABLED_COIN for c in coins)

    # -------------------------------------------------------------- silence
    in_silence = [c for c in coins if gone_after <= c.seen_at < resumed_at]
    assert in_silence, "no coin while the VMC was silent"
    assert not any(c.credited for c in in_silence), in_silence
    assert any(c.decision.startswith("accepted") for c in in_silence), in_silence
    # after RESET every coin type is disabled until COIN TYPE
    after_reset = [c for c in coins if resumed_at + 0.05 <= c.seen_at < enabled_at]
    assert after_reset and not any(c.credited for c in after_reset), after_reset
    # "changer was reset" is the first thing the changer says after each RESET
    assert len(vmc.record.after_reset) == 2
    assert all(items[0] == Status(JUST_RESET) for items in vmc.record.after_reset)

    # -------------------------------------------------------------- probes
    assert bad_chk_reply is None or bad_chk_reply.kind == "nak", bad_chk_reply
    assert unoffered_reply is None or unoffered_reply.kind == "nak", unoffered_reply

    # -------------------------------------------------------------- timing (sanity only)
    answered = [e.latency_s for e in vmc.record.exchanges if e.latency_s is not None]
    assert statistics.fmean(answered) < SANITY_MEAN_S, report


def timing_report(vmc: Vmc) -> str:
    answered = sorted(e.latency_s for e in vmc.record.exchanges if e.latency_s is not None)
    if not answered:
        return "no answered command"
    late = sum(x > T_RESPONSE_S for x in answered)
    unanswered = ", ".join(
        f"{e.command:02X}" + ("" if e.sub is None else f" {e.sub:02X}")
        for e in vmc.record.exchanges
        if e.reply == "none"
    )
    p95 = answered[int(0.95 * (len(answered) - 1))]
    return (
        f"{len(answered)} answers: mean {statistics.fmean(answered) * 1e3:.2f} ms, "
        f"median {statistics.median(answered) * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms, "
        f"max {answered[-1] * 1e3:.2f} ms; {late} later than t_response (5 ms); "
        f"{vmc.record.unanswered} unanswered ({unanswered})"
    )
