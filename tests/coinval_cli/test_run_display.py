"""``coinval run``'s display: one line per coin, its legend, running totals, the summary."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coinval.decision import Decision
from coinval_cli.run_display import (
    CoinLine,
    RunDisplay,
    Truth,
    format_line,
    summary_lines,
    use_colour,
)
from firmware_bridge.cctalk.credit_buffer import CreditEvent, ErrorEvent
from firmware_bridge.runtime.money import CoinOutcome
from sim.virtual_host import HostEvent

#: A coin line: number, then fixed columns (30, 21, 8 wide, two spaces apart), then why.
LINE = re.compile(
    r"^ *(?P<number>\d+)  (?P<truth>.{30})  (?P<engine>.{21})  (?P<credited>.{8})  (?P<why>\S.*)$"
)

TAUGHT = frozenset(
    {"gb-100-2017", "gb-100-1983", "gb-200-1997", "gb-050-1997", "gb-020-1982", "gb-010-2012"}
)


def fields(text: str) -> dict[str, str]:
    match = LINE.match(text)
    assert match is not None, f"not a coin line: {text!r}"
    return {k: v.rstrip() for k, v in match.groupdict().items()}


# ------------------------------------------------------------- coin builders


def credit(coin: str, position: int, seq: int) -> tuple[CoinOutcome, HostEvent]:
    value = {"gb-100-2017": 100, "gb-200-1997": 200, "gb-020-1982": 20, "gb-010-2012": 10}[coin]
    event = CreditEvent(position, 0)
    decision = Decision(f"sig-{seq}", coin, True, "accepted")
    return (
        CoinOutcome(seq, decision, event, "credit sensor confirmed (50 ms)"),
        HostEvent(event, "GB", value, 0),
    )


def refused(
    decision: Decision | None, code: int, seq: int, why: str = ""
) -> tuple[CoinOutcome, HostEvent]:
    event = ErrorEvent(code)
    return CoinOutcome(seq, decision, event, why or "refused"), HostEvent(event, None, 0, 0)


COUNTERFEIT_DETAIL = (
    "nearest gb-100-2017: lo_ring 5.1 widths low; diameter_mm 3.0 widths high "
    "(distance 2.10 of the region's radius)"
)
LEGAL_TENDER_DETAIL = "gb-100-1983 is not legal tender since 2017-10-15"


def genuine_credited(seq: int = 4) -> tuple[CoinOutcome, HostEvent]:
    return credit("gb-100-2017", 1, seq)


def counterfeit(seq: int = 6) -> tuple[CoinOutcome, HostEvent]:
    decision = Decision(f"sig-{seq}", None, False, "counterfeit", COUNTERFEIT_DETAIL)
    return refused(decision, 1, seq)


def round_pound(seq: int = 8) -> tuple[CoinOutcome, HostEvent]:
    decision = Decision(f"sig-{seq}", "gb-100-1983", False, "inhibited", LEGAL_TENDER_DETAIL)
    return refused(decision, 129, seq, "inhibited by the operator or its legal-tender dates")


def five_pence(seq: int = 10) -> tuple[CoinOutcome, HostEvent]:
    decision = Decision(f"sig-{seq}", None, False, "unknown", "nearest gb-010-2012: x")
    return refused(decision, 1, seq)


def stuck(seq: int = 12) -> tuple[CoinOutcome, HostEvent]:
    decision = Decision(f"sig-{seq}", "gb-010-2012", True, "accepted")
    return refused(decision, 6, seq, "the board did not see it at the credit sensor")


# ------------------------------------------------------------- one line each


def test_a_genuine_coin_accepted_and_credited() -> None:
    outcome, read = genuine_credited()
    line = CoinLine(1, Truth(4, "gb-100-2017", "genuine"), outcome, read, TAUGHT)
    assert fields(format_line(line).plain) == {
        "number": "5",  # the simulator's insertion number, not the link's coin 4
        "truth": "genuine 12-sided £1",
        "engine": "accepted 12-sided £1",
        "credited": "£1.00",
        "why": "accepted",
    }


def test_a_counterfeit_refused_says_which_measurements_gave_it_away() -> None:
    outcome, read = counterfeit()
    line = CoinLine(2, Truth(1, "ring-alloy-off", "counterfeit"), outcome, read, TAUGHT)
    got = fields(format_line(line).plain)
    assert got["truth"] == "fake ring-alloy-off"
    assert got["engine"] == "counterfeit"
    assert got["credited"] == "-"
    assert got["why"] == (
        "counterfeit: ring conductivity too low and diameter too high for a 12-sided £1"
    )
    assert not line.accepted


def test_a_round_pound_is_inhibited_because_it_is_no_longer_legal_tender() -> None:
    outcome, read = round_pound()
    line = CoinLine(3, Truth(2, "gb-100-1983", "genuine"), outcome, read, TAUGHT)
    got = fields(format_line(line).plain)
    assert got["truth"] == "genuine round £1"
    assert got["engine"] == "inhibited round £1"
    assert got["credited"] == "-"
    assert got["why"] == "inhibited: the round £1 is no longer legal tender (since 15 Oct 2017)"
    assert "129" not in format_line(line).plain  # the ccTalk code is not what a person reads


def test_a_genuine_coin_not_taught_is_said_to_be_so() -> None:
    outcome, read = five_pence()
    line = CoinLine(4, Truth(3, "gb-005-2012", "genuine"), outcome, read, TAUGHT)
    assert (
        fields(format_line(line).plain)["why"] == "unknown: the 5p is not one of the coins taught"
    )


def test_a_credit_never_seen_by_the_parking_machine() -> None:
    outcome, _ = genuine_credited()
    line = CoinLine(5, Truth(4, "gb-100-2017", "genuine"), outcome, None, TAUGHT)
    got = fields(format_line(line).plain)
    assert got["engine"] == "accepted 12-sided £1"
    assert got["credited"] == "not read"
    assert got["why"] == "accepted, but the parking machine read no credit"
    assert not line.credited


def test_a_mishap_after_the_gate_is_accepted_but_not_credited() -> None:
    outcome, read = stuck()
    line = CoinLine(6, Truth(5, "gb-010-2012", "genuine", "stuck"), outcome, read, TAUGHT)
    got = fields(format_line(line).plain)
    assert got["truth"] == "genuine 10p (stuck)"
    assert got["credited"] == "-"
    assert got["why"] == "not credited: stuck, the credit sensor never saw it"
    assert line.accepted and not line.credited


def test_a_fake_accepted_is_shouted() -> None:
    outcome, read = credit("gb-200-1997", 3, 14)
    line = CoinLine(7, Truth(6, "euro-1", "lookalike"), outcome, read, TAUGHT)
    assert fields(format_line(line).plain)["why"].startswith("ACCEPTED A LOOKALIKE")


def test_a_read_that_is_not_the_coins_event_is_flagged() -> None:
    outcome, _ = genuine_credited()
    line = CoinLine(
        1, Truth(0, "gb-100-2017", "genuine"), outcome, HostEvent(ErrorEvent(1), None, 0, 0)
    )
    assert "BUT the machine read error" in line.why()[0]


# ------------------------------------------------------------- the display


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def display(out: io.StringIO, truths: dict[int, Truth], clock: Clock | None = None) -> RunDisplay:
    return RunDisplay(
        out, truths.get, sorted(TAUGHT), colour=False, every=3, clock=clock or Clock()
    )


def coin_lines(text: str) -> list[dict[str, str]]:
    return [fields(line) for line in text.splitlines() if LINE.match(line)]


def test_a_line_waits_for_its_read_and_lines_keep_the_order_coins_went_in() -> None:
    out = io.StringIO()
    truths = {4: Truth(0, "gb-100-2017", "genuine"), 6: Truth(1, "ring-alloy-off", "counterfeit")}
    shown = display(out, truths)
    first, first_read = genuine_credited(4)
    second, second_read = counterfeit(6)
    shown.decided(first)
    shown.decided(second)  # refused at once, while the first is still unread
    assert coin_lines(out.getvalue()) == []
    shown.read(HostEvent(ErrorEvent(2), None, 0, 0, marker=True))  # power-up: not a coin
    shown.read(first_read)
    assert [c["number"] for c in coin_lines(out.getvalue())] == ["1"]
    assert coin_lines(out.getvalue())[0]["credited"] == "£1.00"
    shown.read(second_read)
    assert [c["number"] for c in coin_lines(out.getvalue())] == ["1", "2"]


def test_a_read_before_the_engines_report_still_pairs_with_its_coin() -> None:
    # The machine can poll between the event entering the buffer and the
    # engine's callback: the kth read is still the kth coin's.
    out = io.StringIO()
    shown = display(out, {4: Truth(0, "gb-100-2017", "genuine")})
    outcome, read = genuine_credited(4)
    shown.read(read)
    shown.decided(outcome)
    assert coin_lines(out.getvalue())[0]["credited"] == "£1.00"


def test_an_overdue_read_prints_the_line_then_a_follow_up() -> None:
    out = io.StringIO()
    clock = Clock()
    shown = display(out, {4: Truth(0, "gb-100-2017", "genuine")}, clock)
    outcome, read = genuine_credited(4)
    shown.decided(outcome)
    clock.now = shown.read_grace_s / 2
    shown.tick()
    assert coin_lines(out.getvalue()) == []
    clock.now = shown.read_grace_s + 0.1
    shown.tick()
    assert coin_lines(out.getvalue())[0]["credited"] == "not read"
    shown.read(read)
    assert "   1  read late by the parking machine: £1.00" in out.getvalue()
    assert shown.lines[0].credited  # the summary counts it credited


def test_finish_prints_unread_coins_and_coins_the_engine_never_reported() -> None:
    out = io.StringIO()
    truths = {4: Truth(0, "gb-100-2017", "genuine")}
    shown = display(out, truths)
    outcome, _ = genuine_credited(4)
    shown.decided(outcome)
    lines = shown.finish([truths[4], Truth(1, "gb-020-1982", "genuine")])
    got = coin_lines(out.getvalue())
    assert [(c["number"], c["credited"]) for c in got] == [("1", "not read"), ("2", "not read")]
    assert got[1]["engine"] == "never reported"
    assert len(lines) == 2


def test_the_engine_reports_a_coin_before_the_head_records_it() -> None:
    # The head records a coin just after sending its signature: a quick refusal
    # can be reported first; the line still says what the coin was.
    out = io.StringIO()
    truths: dict[int, Truth] = {}
    shown = display(out, truths)
    outcome, read = counterfeit(6)
    shown.decided(outcome)
    truths[6] = Truth(0, "ring-alloy-off", "counterfeit")
    shown.read(read)
    assert coin_lines(out.getvalue())[0]["truth"] == "fake ring-alloy-off"


def test_legend_and_running_totals() -> None:
    out = io.StringIO()
    seqs = (4, 6, 8)
    truths = {
        4: Truth(0, "gb-100-2017", "genuine"),
        6: Truth(1, "ring-alloy-off", "counterfeit"),
        8: Truth(2, "gb-200-1997", "genuine"),
    }
    shown = display(out, truths)
    shown.legend()
    for coin in (genuine_credited(4), counterfeit(6), credit("gb-200-1997", 3, 8)):
        shown.decided(coin[0])
        shown.read(coin[1])
    text = out.getvalue()
    for column in ("really was", "engine decided", "credited", "why"):
        assert f"  {column}  " in text  # explained in the legend ...
        assert column in text.splitlines()[text.splitlines().index("") + 1]  # ... and headed
    assert "-- 3 coins: 2 accepted, 1 refused, £3.00 credited --" in text
    assert len(coin_lines(text)) == len(seqs)


# ------------------------------------------------------------- the summary


def known_sequence() -> list[CoinLine]:
    coins: list[tuple[Truth, tuple[CoinOutcome, HostEvent | None]]] = [
        (Truth(0, "gb-100-2017", "genuine"), genuine_credited(1)),
        (Truth(1, "gb-200-1997", "genuine"), credit("gb-200-1997", 3, 2)),
        (Truth(2, "gb-020-1982", "genuine"), credit("gb-020-1982", 5, 3)),
        (Truth(3, "gb-005-2012", "genuine"), five_pence(4)),
        (Truth(4, "gb-100-1983", "genuine"), round_pound(5)),
        (Truth(5, "gb-100-1983", "genuine", "on string"), round_pound(6)),
        (Truth(6, "ring-alloy-off", "counterfeit"), counterfeit(7)),
        (Truth(7, "cast-round-pound", "counterfeit"), counterfeit(8)),
        (Truth(8, "steel-washer", "lookalike"), five_pence(9)),
        (Truth(9, "gb-010-2012", "genuine", "stuck"), stuck(10)),
        (Truth(10, "euro-1", "lookalike"), credit("gb-200-1997", 3, 11)),
        (Truth(11, "gb-100-2017", "genuine"), (genuine_credited(12)[0], None)),
    ]
    return [
        CoinLine(i + 1, truth, outcome, read, TAUGHT)
        for i, (truth, (outcome, read)) in enumerate(coins)
    ]


def test_the_summary_counts_a_known_sequence() -> None:
    assert summary_lines(known_sequence()) == [
        # accepted: 3 credited + stuck + euro + the unread £1; credited: what was read
        "12 coins: 6 accepted, 6 refused, 4 credited (£5.20)",
        "the simulator mixed in 4 fakes and look-alikes (2 counterfeit, 2 look-alike): "
        "3 refused, 1 accepted (#11)",
        "8 genuine coins: 3 accepted and credited, 5 not credited, because:",
        "    2 x round £1 no longer legal tender",
        "    1 x 5p not taught",
        "    1 x stuck",
        "    1 x credit not read",
    ]


# ------------------------------------------------------------- colour


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_at_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not use_colour(io.StringIO(), {})
    assert use_colour(Terminal(), {})
    assert not use_colour(Terminal(), {"NO_COLOR": "1"})
    assert use_colour(Terminal(), {"NO_COLOR": ""})  # no-color.org: only a non-empty value

    def printed(out: io.StringIO) -> str:
        shown = RunDisplay(out, {4: Truth(0, "gb-100-2017", "genuine")}.get, sorted(TAUGHT))
        shown.legend()
        outcome, read = genuine_credited(4)
        shown.decided(outcome)
        shown.read(read)
        return out.getvalue()

    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert "\x1b[" in printed(Terminal())
    assert "\x1b[" not in printed(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in printed(Terminal())


def test_the_reason_never_folds_onto_a_second_line() -> None:
    # Piped output has no width: a long reason must stay on its coin's line.
    out = io.StringIO()
    shown = display(out, {6: Truth(0, "struck-brass-round-pound", "counterfeit")})
    outcome, read = counterfeit(6)
    shown.decided(outcome)
    shown.read(read)
    (only,) = out.getvalue().splitlines()
    assert len(only) > 100 and fields(only)["why"].endswith("for a 12-sided £1")


# ------------------------------------------------------------- a real run


def coinval_command() -> list[str]:
    script = Path(sys.executable).with_name("coinval")
    return [str(script)] if script.exists() else [sys.executable, "-m", "coinval_cli.main"]


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX pseudo-terminals")
@pytest.mark.timeout(90)
def test_a_real_run_prints_one_line_per_coin_and_a_summary_that_matches(tmp_path: Path) -> None:
    coins = 12
    command = [*coinval_command(), "run", "--coins", str(coins), "--coins-per-s", "6"]
    # Seed 0's first twelve coins hold genuine, refused and look-alike coins and a
    # round pound; a generous deadline so a loaded machine decides every coin in time.
    command += ["--seed", "0", "--no-api", "--deadline-ms", "2000"]
    env = {k: v for k, v in os.environ.items() if k not in ("COINVAL_DB", "NO_COLOR")}
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=80, env=env
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "\x1b[" not in out  # piped: plain text
    assert "One line per coin" in out  # the legend
    lines = coin_lines(out)
    assert [int(c["number"]) for c in lines] == list(range(1, coins + 1))
    credited = [c for c in lines if c["credited"].startswith("£")]
    pence = sum(round(float(c["credited"][1:]) * 100) for c in credited)
    accepted = [c for c in lines if c["engine"].startswith("accepted")]
    assert all(c["why"] == "accepted" for c in credited)
    assert all(c["credited"] == "-" for c in lines if c not in accepted)
    assert f"{coins} coins: {len(accepted)} accepted, {coins - len(accepted)} refused, " in out
    assert f"{len(credited)} credited (£{pence // 100}.{pence % 100:02d})" in out
    fakes = [c for c in lines if c["truth"].startswith(("fake ", "look-alike "))]
    assert fakes, "seed 0 mixes in look-alikes among its first coins"
    refused_fakes = [c for c in fakes if c["credited"] == "-"]
    assert f"the simulator mixed in {len(fakes)} fakes and look-alikes" in out
    assert f": {len(refused_fakes)} refused, {len(fakes) - len(refused_fakes)} accepted" in out
    genuine = [c for c in lines if c["truth"].startswith("genuine ")]
    assert f"{len(genuine)} genuine coins: {len(credited)} accepted and credited" in out
    round_pounds = [c for c in lines if c["truth"] == "genuine round £1"]
    assert round_pounds and all(
        c["why"] == "inhibited: the round £1 is no longer legal tender (since 15 Oct 2017)"
        for c in round_pounds
    )
    assert f"{len(round_pounds)} x round £1 no longer legal tender" in out
    assert "money check: OK" in out
    assert "Traceback" not in done.stderr
