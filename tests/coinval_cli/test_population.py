"""``coinval sim population``: writes spec-format JSON Lines, refuses bad flags with exit 2."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from coinval.signature import parse_signature
from coinval_cli.main import main as coinval_main
from coinval_cli.population import add_population_arguments, run_population


def main(argv: list[str]) -> int:
    return coinval_main(["sim", "population", *argv])


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_writes_one_valid_signature_per_line(tmp_path: Path) -> None:
    out = tmp_path / "coins.jsonl"
    rc = main(
        ["--coin", "gb-100-2017", "--n", "7", "--head", "B", "--seed", "3", "--batch", "2",
         "--temperature=-10:45", "--wear", "0.5", "--dirt", "0.2", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    rows = _lines(out)
    assert len(rows) == 7
    for row in rows:
        sig = parse_signature(row)
        assert sig.head == "B"
        assert sig.id is not None and sig.id.startswith("gb-100-2017-B-b2-s3-")
        assert -12 < sig.temperature_c < 47


def test_families_and_lookalikes_are_accepted(tmp_path: Path) -> None:
    for kind in ("cast-zinc-12-sided", "euro-1"):
        out = tmp_path / f"{kind}.jsonl"
        assert main(["--coin", kind, "--n", "2", "--head", "seed:9", "--out", str(out)]) == 0
        assert [r["head"] for r in _lines(out)] == ["seed:9", "seed:9"]


def test_output_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (a, b):
        assert main(["--coin", "gb-020-1982", "--n", "3", "--seed", "4", "--out", str(path)]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_list_prints_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    names = {line.split("\t")[0] for line in listed}
    assert {"gb-100-2017", "milled-all-sides", "steel-washer"} <= names


def test_works_as_a_sub_parser_of_the_main_cli(tmp_path: Path) -> None:
    root = argparse.ArgumentParser(prog="coinval")
    sim_parser = root.add_subparsers(dest="command").add_parser("sim")
    population = sim_parser.add_subparsers(dest="sim_command").add_parser("population")
    add_population_arguments(population)
    out = tmp_path / "x.jsonl"
    args = root.parse_args(["sim", "population", "--coin", "euro-1", "--n", "2", "--out", str(out)])
    assert run_population(args) == 0
    assert len(_lines(out)) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--coin", "no-such-coin", "--n", "3"], "unknown coin kind"),
        (["--coin", "euro-1", "--n", "3", "--head", "Q"], "unknown sensor head"),
        (["--n", "3"], "--coin is required"),
        (["--coin", "euro-1"], "--n is required"),
    ],
)
def test_bad_values_exit_2_with_a_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never.jsonl"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_out_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--coin", "euro-1", "--n", "1"]) == 2
    assert "--out is required" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--n", "0"],
        ["--n", "-4"],
        ["--n", "many"],
        ["--temperature", "40:10"],
        ["--temperature=-60:10"],
        ["--temperature", "5"],
        ["--wear", "1.5"],
        ["--dirt", "x"],
        ["--seed", "-1"],
        ["--batch", "b"],
    ],
)
def test_bad_flags_exit_2(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--coin", "euro-1", "--n", "2", "--out", str(tmp_path / "x.jsonl")]
    with pytest.raises(SystemExit) as exc:
        main([*base, *argv])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_hand_made_namespace_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(
        coin="euro-1", n=0, head="A", seed=0, batch=0, temperature=(5.0, 35.0),
        wear=0.0, dirt=0.0, out=str(tmp_path / "x.jsonl"), list=False,
    )  # fmt: skip
    assert run_population(args) == 2
    assert "positive integer" in capsys.readouterr().err


def test_unwritable_output_is_reported_without_traceback(tmp_path: Path) -> None:
    out = tmp_path / "missing-dir" / "x.jsonl"
    assert main(["--coin", "euro-1", "--n", "1", "--out", str(out)]) == 1


def test_module_entry_point_exit_status(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "coinval_cli",
            "sim",
            "population",
            "--coin",
            "bogus",
            "--n",
            "1",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown coin kind" in proc.stderr and "Traceback" not in proc.stderr
