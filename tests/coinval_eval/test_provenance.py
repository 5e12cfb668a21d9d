"""Every report states when and where it was measured, and by what command, the same way."""

from __future__ import annotations

import datetime as dt

from coinval_eval import provenance
from coinval_eval.heads import HeadResult
from coinval_eval.heads import render as heads_render
from coinval_eval.plots import scaling_markdown
from coinval_eval.probe import ProbeConfig
from coinval_eval.probe import render as probe_render
from coinval_eval.provenance import MEASURED, benchmark_machine, measured_line
from coinval_eval.speed import benchmark_measured, speed_markdown


def test_the_measured_line_names_the_utc_time_the_machine_the_run_time_and_the_command() -> None:
    when = dt.datetime(2026, 5, 1, 16, 3, 12, 999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    line = measured_line("coinval bench probe --n 10", 42.4, when=when, on="box (cpu)")
    assert line == (
        "Measured 2026-05-01 14:03:12 UTC on box (cpu), in 42 s: `coinval bench probe --n 10`."
    )
    match = MEASURED.match(line)
    assert match is not None
    assert match["machine"] == "box (cpu)" and match["seconds"] == "42"
    # Tenths under ten seconds; a naive time is UTC; an unknown run time is left out.
    naive = dt.datetime(2026, 5, 1, 14, 3, 12)
    assert ", in 3.5 s: " in measured_line("x", 3.47, when=naive, on="m")
    assert measured_line("x", None, when=naive, on="m") == (
        "Measured 2026-05-01 14:03:12 UTC on m: `x`."
    )


def test_this_machine_is_named_with_its_cpu_cores_python_os_and_libraries() -> None:
    line = measured_line("coinval evaluate", 1.0)
    match = MEASURED.match(line)
    assert match is not None, line
    machine = match["machine"]
    assert machine == provenance.machine()
    assert " logical cores; Python 3." in machine
    for library in provenance.LIBRARIES:
        assert f"{library} " in machine


def test_a_benchmark_run_is_named_as_it_recorded_itself_or_from_pytest_benchmarks_info() -> None:
    data: dict[str, object] = {
        "datetime": "2026-01-01T00:00:00.5+00:00",
        "machine_info": {
            "node": "n1",
            "cpu": {"brand_raw": "cpu", "count": 2},
            "python_version": "3.11.7",
            "system": "Linux",
            "release": "6.1",
        },
        "benchmarks": [{"name": "t", "fullname": "benchmarks/test_speed.py::t"}],
    }
    assert benchmark_machine(data) == "n1 (cpu, 2 logical cores; Python 3.11.7, Linux 6.1)"
    assert benchmark_measured(data) == (
        "Measured 2026-01-01 00:00:00 UTC on n1 (cpu, 2 logical cores; Python 3.11.7, "
        "Linux 6.1): `pytest benchmarks/test_speed.py`."
    )
    data["machine_info"] = {"coinval": "box (everything)"}
    data["coinval"] = {"command": "python -m pytest benchmarks", "seconds": 61.0}
    assert benchmark_measured(data) == (
        "Measured 2026-01-01 00:00:00 UTC on box (everything), in 61 s: "
        "`python -m pytest benchmarks`."
    )
    assert benchmark_machine({}) == "an unknown machine"
    assert "an unknown date" in benchmark_measured({"datetime": "yesterday"})


def _measured_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if MEASURED.match(line)]


def test_every_report_writer_states_it_on_a_line_of_its_own() -> None:
    data = {"datetime": "2026-01-01T00:00:00", "machine_info": {"coinval": "box (cpu)"}}
    heads = heads_render(
        [HeadResult("A", {("gb-100-2017", "batch 1"): (10, 10)}, {"euro-1": (10, 0)})],
        "coinval bench heads --heads A",
        3.0,
    )
    probe = probe_render(
        ProbeConfig(heads=("A",), n=10, names=("fifty-round",)),
        {"A": {"fifty-round": (0.0, "")}},
        "coinval bench probe --heads A --n 10",
        2.0,
    )
    texts = {
        "heads": heads,
        "probe": probe,
        "speed": speed_markdown(data),
        "scaling": scaling_markdown({"batch": [], "length": []}, benchmark_measured(data)),
    }
    for name, text in texts.items():
        lines = text.splitlines()
        assert lines[0].startswith("# ") and lines[1] == "", name
        assert MEASURED.match(lines[2]), (name, lines[2])
        assert _measured_lines(text) == [lines[2]], name
    assert "on box (cpu)" in texts["speed"] and "on box (cpu)" in texts["scaling"]
    assert "`coinval bench probe --heads A --n 10`." in probe
