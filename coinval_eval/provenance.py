"""Where and when a report was measured, stated the same way in every report.

Every report of ``make bench`` and ``make heads`` has, under its title, one
line from :func:`measured_line` (wrapped here)::

    Measured <YYYY-MM-DD hh:mm:ss> UTC on <host> (<CPU model>, <N> logical cores;
    Python <version>, <OS> <release>; numpy <v>, scipy <v>, scikit-learn <v>,
    matplotlib <v>), in <N> s: `<command>`.

A figure means little without the machine and the library versions it came
from, and a report without its command cannot be run again.  The speed and
scaling reports state the benchmark run's own machine and date, read from its
pytest-benchmark JSON (:func:`benchmark_machine`).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import re
from collections.abc import Mapping
from typing import Any

LIBRARIES = ("numpy", "scipy", "scikit-learn", "matplotlib")
"""Distributions whose versions a figure may depend on, named in every report."""

MEASURED = re.compile(
    r"^Measured (?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC|an unknown date) "
    r"on (?P<machine>.+?)(?:, in (?P<seconds>[\d,.]+) s)?: `(?P<command>[^`]+)`\.$"
)
"""The form of a :func:`measured_line`, for tests and for readers of reports."""


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``'s where there is one)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def library_versions() -> str:
    """``numpy <v>, scipy <v>, ...``: each of :data:`LIBRARIES` with its version, or missing."""
    versions = []
    for dist in LIBRARIES:
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} not installed")
    return ", ".join(versions)


def describe_machine(
    host: str, cpu: str, cores: object, python: str, system: str, libraries: str | None
) -> str:
    """``host (cpu, N logical cores; Python x, OS y; libraries)``: the one form of a machine.

    Parameters
    ----------
    host, cpu : str
        Host name and CPU model.
    cores : int or str
        Logical cores (``"?"`` when unknown).
    python, system : str
        Python version; OS name and release.
    libraries : str or None
        :func:`library_versions`; left out when None (a benchmark JSON of a run
        that did not record them).
    """
    parts = f"{cpu}, {cores} logical cores; Python {python}, {system}"
    if libraries:
        parts += f"; {libraries}"
    return f"{host} ({parts})"


def machine() -> str:
    """This machine: host name, CPU model, logical cores, Python, OS, library versions."""
    return describe_machine(
        platform.node() or "unknown host",
        cpu_model(),
        os.cpu_count() or "?",
        platform.python_version(),
        f"{platform.system()} {platform.release()}",
        library_versions(),
    )


def benchmark_machine(data: Mapping[str, Any]) -> str:
    """The machine a pytest-benchmark JSON file was written on, in :func:`machine`'s form.

    ``make bench``'s run records :func:`machine` itself (``machine_info["coinval"]``,
    see ``benchmarks/conftest.py``); for other files it is pieced together from
    pytest-benchmark's own ``machine_info``, without library versions.
    """
    info = data.get("machine_info")
    if not isinstance(info, Mapping):
        return "an unknown machine"
    recorded = info.get("coinval")
    if isinstance(recorded, str) and recorded:
        return recorded
    cpu = info.get("cpu")
    if not isinstance(cpu, Mapping):
        cpu = {}
    return describe_machine(
        str(info.get("node") or "unknown host"),
        str(cpu.get("brand_raw") or info.get("processor") or info.get("machine") or "unknown CPU"),
        cpu.get("count", "?"),
        str(info.get("python_version", "?")),
        f"{info.get('system', '?')} {info.get('release', '?')}",
        None,
    )


def utc_now() -> dt.datetime:
    """The time now, in UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def parse_when(text: object) -> dt.datetime | None:
    """An ISO date-time (a naive one taken as UTC) in UTC, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def format_when(when: dt.datetime | None) -> str:
    """``YYYY-MM-DD hh:mm:ss UTC`` (``an unknown date`` for None)."""
    if when is None:
        return "an unknown date"
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return f"{when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def format_seconds(seconds: float) -> str:
    """A run time: whole seconds, tenths below ten seconds."""
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:,.0f}"


def measured_line(
    command: str,
    seconds: float | None,
    *,
    when: dt.datetime | None = None,
    on: str | None = None,
) -> str:
    """One line: when (UTC) and where a report's figures were measured, how long, by what.

    Parameters
    ----------
    command : str
        The command line that measured them, as a reader would re-run it.
    seconds : float or None
        Its run time; None leaves it out (a run that did not record it).
    when : datetime, optional
        When it ran (default now); a naive one is taken as UTC.
    on : str, optional
        The machine, in :func:`machine`'s form (default this one).

    Returns
    -------
    str
        ``Measured <date-time> UTC on <machine>, in <N> s: `<command>`.``
    """
    stamp = format_when(when if when is not None else utc_now())
    return line_of(stamp, on if on is not None else machine(), seconds, command)


def line_of(stamp: str, where: str, seconds: float | None, command: str) -> str:
    """:func:`measured_line` from its parts, the date already formatted (:func:`format_when`)."""
    took = "" if seconds is None else f", in {format_seconds(seconds)} s"
    return f"Measured {stamp} on {where}{took}: `{command}`."
