"""`coinval evaluate`: its flags, its report, and its clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from coinval_cli.main import main
from coinval_eval.provenance import MEASURED


def test_evaluate_reports_the_teach_temperatures_it_used(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "acc.md"
    args = ["evaluate", "--teach-n", "20", "--n", "20", "--batches", "1"]
    args += ["--teach-temperature", "12,14", "--progress", "never", "--out", str(out)]
    assert main(args) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out
    assert "Teach coins at 12..14 C" in text
    # The command that ran, its defaults left out, as a reader would run it again.
    measured = next(line for line in text.splitlines() if MEASURED.match(line))
    assert measured.endswith(
        ": `coinval evaluate --teach-n 20 --n 20 --batches 1 --teach-temperature 12,14`."
    )
    assert "| gb-100-2017 | batch 1, -10..45 C | 20 |" in text


@pytest.mark.parametrize("value", ["5", "35,5", "a,b", "-50,10", "5,35,40", ""])
def test_a_bad_teach_temperature_is_refused_with_exit_2(value: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--teach-temperature", value])
    assert exc.value.code == 2
    assert "--teach-temperature" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--batches=-1"], "--batches"),
        (["--batches", "x"], "--batches"),
        (["--batches", ","], "--batches"),
        (["--seed=-1"], "--seed"),
        (["--head", "Z"], "--head"),
    ],
)
def test_bad_trial_flags_are_usage_errors_that_name_the_flag(
    flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before any coin is simulated, and never as an internal error (exit 1)."""
    assert main(["evaluate", "--n", "5", "--progress", "never", *flags]) == 2
    assert named in capsys.readouterr().err
