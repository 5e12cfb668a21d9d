"""The headline: each of coinval's goals, its target and what ``make bench`` measured.

``coinval bench summary reports`` reads the figures the other reports were
written from (``benchmark.json`` of the speed benchmarks and
``accuracy-vs-baselines.json`` of ``coinval bench accuracy``) and writes
``summary.md``: one table, a row per goal, with the plain Mahalanobis window's
figure beside coinval's where the goal is an accuracy one.  A file that is not
there leaves its rows "not measured"; one that is not what its name says is an
:class:`~coinval_eval.errors.EvaluationError`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coinval_eval.baselines import MahalanobisWindows
from coinval_eval.errors import EvaluationError
from coinval_eval.provenance import format_when, measured_line, parse_when
from coinval_eval.trial import EVALUATION_HEAD

BENCHMARK_JSON = "benchmark.json"
ACCURACY_JSON = "accuracy-vs-baselines.json"
SUMMARY_MD = "summary.md"

TARGET_P99_MS = 1.0
"""One coin, parsed signature to decision: p99 at most this (the gate acts within ~20 ms)."""
TARGET_COINS_PER_S = 100_000.0
"""Coins decided in memory a second, at least."""
TARGET_LINES_PER_S = 8_000.0
#: MDB gives a peripheral 5 ms to answer the VMC.
TARGET_MDB_REPLY_P99_MS = 5.0
"""Lines of ``coinval classify`` a second, at least."""
TARGET_ACCEPTANCE = 0.995
"""Genuine coins accepted as themselves, at least (every cell, every coin)."""
TARGET_FALSE_ACCEPTANCE = 0.001
"""Counterfeits and look-alikes accepted, at most (every family)."""

NOT_MEASURED = "not measured (run `make bench`)"
ONE_COIN = "test_one_signature_to_one_decision"
IN_MEMORY = "test_in_memory_batch"
#: ``coinval classify`` on a 70 MB file and, with COINVAL_BENCH_BIG=1, on a 1 GB one:
#: the rate of the biggest file is the sustained one (worker start-up weighs on small files).
CLASSIFY = ("test_classify_end_to_end", "test_classify_one_gigabyte_memory")
MDB_REPLY = "test_mdb_reply_time_while_deciding_coins"
K2_MODES = ("launch", "circulation")
BASELINE = MahalanobisWindows.name


@dataclass(frozen=True, slots=True)
class Row:
    """One goal: what it is, its target, coinval's figure, the baseline's, the report."""

    goal: str
    target: str
    measured: str
    baseline: str
    report: str


def load_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when there is no such file.

    Raises
    ------
    EvaluationError
        When the file is not JSON or not a JSON object.
    OSError
        When it is there but cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EvaluationError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EvaluationError(f"{path}: not a JSON object")
    return data


def _pct(share: float) -> str:
    return f"{100 * share:.2f} %"


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


# -- speed ---------------------------------------------------------------------


def _benchmarks(data: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    """The benchmarks called ``name`` (with any parameter, ``name[...]``)."""
    found = []
    for bench in data.get("benchmarks", []):
        if not isinstance(bench, Mapping):
            raise TypeError(f"a benchmark is {type(bench).__name__}, not an object")
        if str(bench.get("name", "")).split("[", 1)[0] == name:
            found.append(bench)
    return found


def one_coin_p99_ms(data: Mapping[str, Any]) -> tuple[float, str] | None:
    """The one-coin benchmark's p99 in ms and what it is the p99 of; None when not run.

    ``benchmarks/test_speed.py`` times 2,000 decisions itself and puts their
    p99 in ``extra_info``; a file without it falls back on the p99 of the
    benchmark's own rounds (``stats["data"]``, seconds a round).
    """
    benches = _benchmarks(data, ONE_COIN)
    if not benches:
        return None
    bench = benches[0]
    extra = bench.get("extra_info", {})
    if "p99_ms" in extra:
        return float(extra["p99_ms"]), "p99"
    rounds = bench.get("stats", {}).get("data")
    if not rounds:
        return None
    return 1e3 * float(np.percentile(np.asarray(rounds, dtype=float), 99)), "p99 of rounds"


def speed_rows(data: Mapping[str, Any] | None) -> list[Row]:
    """The speed goals, from a pytest-benchmark JSON (None: not measured)."""
    report = "`speed.md`"
    goals = (
        ("one coin decided, p99", f"<= {TARGET_P99_MS:g} ms"),
        ("coins decided in memory", f">= {TARGET_COINS_PER_S:,.0f}/s"),
        ("`coinval classify` lines", f">= {TARGET_LINES_PER_S:,.0f}/s"),
        ("MDB changer's reply on a pty while deciding, p99", f"<= {TARGET_MDB_REPLY_P99_MS:g} ms"),
    )
    if data is None:
        return [Row(goal, target, NOT_MEASURED, "", report) for goal, target in goals]
    missing = f"not measured (no {{}} in `{BENCHMARK_JSON}`)"
    measured = []

    p99 = one_coin_p99_ms(data)
    if p99 is None:
        measured.append(missing.format(ONE_COIN))
    else:
        ms, what = p99
        note = "" if what == "p99" else f" ({what})"
        measured.append(f"{ms:.3f} ms{note}, {_verdict(ms <= TARGET_P99_MS)}")

    batches = [b for b in _benchmarks(data, IN_MEMORY) if "coins_per_s" in b.get("extra_info", {})]
    if not batches:
        measured.append(missing.format(IN_MEMORY))
    else:
        # The largest batch: the throughput the goal is about, start-up costs spread out.
        def size(bench: Mapping[str, Any]) -> float:
            extra, params = bench.get("extra_info", {}), bench.get("params") or {}
            return float(extra.get("coins", params.get("n", 0)))

        bench = max(batches, key=size)
        rate = float(bench["extra_info"]["coins_per_s"])
        batch = f" ({size(bench):,.0f} a batch)" if size(bench) else ""
        measured.append(f"{rate:,.0f}/s{batch}, {_verdict(rate >= TARGET_COINS_PER_S)}")

    classify = [
        b
        for name in CLASSIFY
        for b in _benchmarks(data, name)
        if "lines_per_s" in b.get("extra_info", {})
    ]
    if not classify:
        measured.append(missing.format(CLASSIFY[0]))
    else:
        extra = max(classify, key=lambda b: float(b["extra_info"].get("lines", 0)))["extra_info"]
        rate = float(extra["lines_per_s"])
        lines = f" ({float(extra['lines']):,.0f} lines)" if "lines" in extra else ""
        measured.append(f"{rate:,.0f}/s{lines}, {_verdict(rate >= TARGET_LINES_PER_S)}")

    mdb = [b for b in _benchmarks(data, MDB_REPLY) if "mdb_reply_p99_ms" in b.get("extra_info", {})]
    if not mdb:
        measured.append(missing.format(MDB_REPLY))
    else:
        extra = mdb[0]["extra_info"]
        ms = float(extra["mdb_reply_p99_ms"])
        commands = f" ({int(extra['mdb_commands']):,} commands)" if "mdb_commands" in extra else ""
        measured.append(f"{ms:.2f} ms{commands}, {_verdict(ms <= TARGET_MDB_REPLY_P99_MS)}")
    return [
        Row(goal, target, figure, "", report)
        for (goal, target), figure in zip(goals, measured, strict=True)
    ]


# -- fleet ---------------------------------------------------------------------

#: ``benchmarks/test_fleet.py``: 1,000 simulated acceptors against a central service.
FLEET_INGEST = "test_fleet_ingest_kills_and_exactly_once"
FLEET_STATS = "test_fleet_stats_p99_with_10_million_events"
TARGET_FLEET_EVENTS_PER_S = 5_000.0
"""Fleet events the central service stores a second, sustained, at least."""
TARGET_FLEET_GET_P99_MS = 50.0
"""An operator's GETs while the fleet reports: p99 under this."""
TARGET_FLEET_STATS_P99_MS = 200.0
"""Stats and fleet views with 10 million events stored: p99 under this."""


def fleet_rows(data: Mapping[str, Any] | None) -> list[Row]:
    """The fleet goals, from a pytest-benchmark JSON (None: not measured)."""
    report = "`fleet.md`"
    goals = (
        ("fleet events ingested, sustained", f">= {TARGET_FLEET_EVENTS_PER_S:,.0f}/s"),
        ("API GET p99 while the fleet reports", f"< {TARGET_FLEET_GET_P99_MS:g} ms"),
        ("fleet stats p99 with 10 M events", f"< {TARGET_FLEET_STATS_P99_MS:g} ms"),
        ("fleet exactly once after kill -9 (central and sim)", "yes"),
    )
    if data is None:
        return [Row(goal, target, NOT_MEASURED, "", report) for goal, target in goals]
    missing = f"not measured (no {{}} in `{BENCHMARK_JSON}`)"
    ingest = _benchmarks(data, FLEET_INGEST)
    measured: list[str] = []
    if not ingest or "fleet_events_per_s" not in ingest[0].get("extra_info", {}):
        measured += [missing.format(FLEET_INGEST)] * 2
    else:
        extra = ingest[0]["extra_info"]
        rate = float(extra["fleet_events_per_s"])
        offered = extra.get("fleet_offered_per_s")
        said = f" (offered {float(offered):,.0f}/s)" if offered is not None else ""
        measured.append(f"{rate:,.0f}/s{said}, {_verdict(rate >= TARGET_FLEET_EVENTS_PER_S)}")
        p99 = float(extra["fleet_get_p99_ms"])
        # A failed GET has no latency: past 1 % failed, the p99 of the answered ones flatters.
        failed = float(extra.get("fleet_get_failed_share", 0.0))
        said = f" ({100 * failed:.1f} % failed)" if failed else ""
        ok = p99 < TARGET_FLEET_GET_P99_MS and failed <= 0.01
        measured.append(f"{p99:.1f} ms{said}, {_verdict(ok)}")
    stats = _benchmarks(data, FLEET_STATS)
    if not stats or "stats_p99_ms" not in stats[0].get("extra_info", {}):
        measured.append(missing.format(FLEET_STATS))
    else:
        extra = stats[0]["extra_info"]
        p99 = float(extra["stats_p99_ms"])
        where = f" ({extra['stats_worst_route']})" if "stats_worst_route" in extra else ""
        measured.append(f"{p99:.1f} ms{where}, {_verdict(p99 < TARGET_FLEET_STATS_P99_MS)}")
    if not ingest or "fleet_exact" not in ingest[0].get("extra_info", {}):
        measured.append(missing.format(FLEET_INGEST))
    else:
        exact = bool(ingest[0]["extra_info"]["fleet_exact"])
        measured.append(f"{'yes' if exact else 'no'}, {_verdict(exact)}")
    return [
        Row(goal, target, figure, "", report)
        for (goal, target), figure in zip(goals, measured, strict=True)
    ]


# -- accuracy ------------------------------------------------------------------


def _rates(table: Mapping[str, Any]) -> list[tuple[str, float]]:
    """``{name: [n, share]}`` -> ``[(name, share)]``, leaving out groups with no coins."""
    out = []
    for name, (n, share) in table.items():
        if n and not math.isnan(float(share)):
            out.append((str(name), float(share)))
    return out


def _method(methods: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((m for m in methods if m.get("name") == name), None)


Figure = Callable[[Mapping[str, Any]], tuple[float, str] | None]
"""A method's figure for one goal and where it is (a coin, a family), or None."""


def _lowest(table: str, where: Callable[[str], str]) -> Figure:
    def figure(method: Mapping[str, Any]) -> tuple[float, str] | None:
        rates = _rates(method[table])
        if not rates:
            return None
        name, share = min(rates, key=lambda r: r[1])
        return share, where(name)

    return figure


def _highest(table: str) -> Figure:
    def figure(method: Mapping[str, Any]) -> tuple[float, str] | None:
        rates = _rates(method[table])
        if not rates:
            return None
        name, share = max(rates, key=lambda r: r[1])
        return share, name

    return figure


def _overall(method: Mapping[str, Any]) -> tuple[float, str] | None:
    share = float(method["genuine_acceptance"])
    return None if math.isnan(share) else (share, "")


def _cell_name(key: str) -> str:
    coin, _, batch = key.partition("|")
    return f"{coin}, batch {batch}" if batch else coin


@dataclass(frozen=True, slots=True)
class _Goal:
    """An accuracy goal: what it is, how a method's figure is read, which way is better.

    ``at_least`` is True for an acceptance (at least :data:`TARGET_ACCEPTANCE`),
    False for a false acceptance (at most :data:`TARGET_FALSE_ACCEPTANCE`).
    """

    what: str
    figure: Figure
    at_least: bool

    @property
    def target(self) -> str:
        """The target as the table states it."""
        if self.at_least:
            return f">= {100 * TARGET_ACCEPTANCE:.1f} %"
        return f"<= {100 * TARGET_FALSE_ACCEPTANCE:.1f} %"

    def met(self, share: float) -> bool:
        """Whether ``share`` reaches the target."""
        if self.at_least:
            return share >= TARGET_ACCEPTANCE
        return share <= TARGET_FALSE_ACCEPTANCE


SIM_GOALS = (
    _Goal("lowest genuine cell", _lowest("per_cell", _cell_name), at_least=True),
    _Goal("highest family false acceptance", _highest("per_fake"), at_least=False),
)
K2_GOALS = (
    _Goal("genuine accepted", _overall, at_least=True),
    _Goal("lowest coin", _lowest("per_coin", str), at_least=True),
    _Goal("highest family false acceptance", _highest("per_family"), at_least=False),
)


def _coinval_cell(goal: _Goal, method: Mapping[str, Any] | None) -> str:
    if method is None:
        return "not in the report"
    if method.get("decided") is False:
        return "not taught (teach refused), missed"
    got = goal.figure(method)
    if got is None:
        return "no coins decided"
    share, where = got
    # At the ideal (every coin accepted, no fake accepted) naming one coin or family says nothing.
    ideal = 1.0 if goal.at_least else 0.0
    place = f" ({where})" if where and share != ideal else ""
    return f"{_pct(share)}{place}, {_verdict(goal.met(share))}"


def _baseline_cell(goal: _Goal, method: Mapping[str, Any] | None) -> str:
    if method is None or method.get("decided") is False:
        return ""
    got = goal.figure(method)
    return "" if got is None else _pct(got[0])


def _rows(
    label: str, goals: Sequence[_Goal], methods: Sequence[Mapping[str, Any]] | None, why: str
) -> list[Row]:
    report = "`accuracy-vs-baselines.md`"
    if methods is None:
        return [Row(f"{label}: {g.what}", g.target, why, "", report) for g in goals]
    coinval, baseline = _method(methods, "coinval"), _method(methods, BASELINE)
    return [
        Row(
            f"{label}: {g.what}",
            g.target,
            _coinval_cell(g, coinval),
            _baseline_cell(g, baseline),
            report,
        )
        for g in goals
    ]


def _teach(batches: Sequence[int]) -> str:
    return "launch teach" if len(batches) == 1 else "circulation teach"


def accuracy_rows(facts: Mapping[str, Any] | None, held_out: str) -> list[Row]:
    """The accuracy goals, from ``accuracy-vs-baselines.json`` (None: not measured).

    ``held_out`` is the simulated head held out while developing; the label
    says whether the simulated part ran on it, and which teach it used.
    """
    rows: list[Row] = []
    if facts is None or "methods" not in facts:
        rows += _rows("simulated held-out head", SIM_GOALS, None, NOT_MEASURED)
    else:
        config = facts.get("config", {})
        head = str(config.get("head", "?"))
        label = "simulated held-out head" if head == held_out else f"simulated head {head}"
        teach = config.get("teach_batches")
        if isinstance(teach, list) and teach:
            label += f" ({_teach(teach)})"
        rows += _rows(label, SIM_GOALS, facts["methods"], NOT_MEASURED)
    k2 = None if facts is None else facts.get("k2")
    modes = {} if not isinstance(k2, Mapping) else {m["mode"]: m for m in k2.get("modes", [])}
    for mode in K2_MODES:
        label = f"bench-k2 ({mode} teach)"
        if mode in modes:
            rows += _rows(label, K2_GOALS, modes[mode]["methods"], NOT_MEASURED)
        elif isinstance(k2, Mapping) and "skipped" in k2:
            rows += _rows(label, K2_GOALS, None, "not measured (no bench-k2 collection)")
        else:
            rows += _rows(label, K2_GOALS, None, NOT_MEASURED)
    return rows


# -- the report ----------------------------------------------------------------


SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
"""What reading figures out of a JSON object of the wrong shape raises."""


def _checked(
    path: Path, what: str, make: Callable[[dict[str, Any] | None], list[Row]]
) -> tuple[dict[str, Any] | None, list[Row]]:
    """The JSON object in ``path`` (None when missing) and the rows ``make`` reads from it."""
    data = load_json(path)
    try:
        return data, make(data)
    except SHAPE_ERRORS as exc:
        raise EvaluationError(f"{path}: not {what} ({type(exc).__name__}: {exc})") from None


def _source(name: str, data: Mapping[str, Any] | None, when: object) -> str:
    if data is None:
        return f"`{name}` (not found)"
    stamp = parse_when(when)
    return f"`{name}` (measured {format_when(stamp)})" if stamp else f"`{name}`"


def summary_markdown(rows: Sequence[Row], measured: str, sources: str) -> str:
    """The summary: ``measured`` (its provenance line), ``sources``, the table of goals."""
    lines = [
        "# coinval: goals and what was measured",
        "",
        measured,
        "",
        sources,
        "",
        f"| goal | target | measured | {BASELINE} | report |",
        "|---|---:|---:|---:|---|",
        *[f"| {r.goal} | {r.target} | {r.measured} | {r.baseline} | {r.report} |" for r in rows],
    ]
    return "\n".join(lines) + "\n"


def summary_report(reports_dir: Path, command: str) -> Path:
    """Write ``summary.md`` into ``reports_dir`` from the JSON files there; return its path.

    ``command`` is the command line that wrote it, stated in its
    :func:`~coinval_eval.provenance.measured_line`.

    Raises
    ------
    EvaluationError
        When a file is there but is not JSON, or not the JSON its name says.
    OSError
        When a file is there but cannot be read, or the summary cannot be written.
    """
    began = time.perf_counter()
    benchmarks, speed = _checked(
        reports_dir / BENCHMARK_JSON,
        "a pytest-benchmark JSON file",
        lambda data: speed_rows(data) + fleet_rows(data),
    )
    accuracy, acc = _checked(
        reports_dir / ACCURACY_JSON,
        "what `coinval bench accuracy` writes",
        lambda facts: accuracy_rows(facts, EVALUATION_HEAD),
    )
    accuracy_when = None
    if accuracy is not None:
        stamp = accuracy.get("measured")
        accuracy_when = stamp.get("at") if isinstance(stamp, Mapping) else accuracy.get("started")
    sources = (
        "From "
        + _source(BENCHMARK_JSON, benchmarks, (benchmarks or {}).get("datetime"))
        + " and "
        + _source(ACCURACY_JSON, accuracy, accuracy_when)
        + "; each report beside this file names its machine and command. "
        + f"{BASELINE}: the plain Mahalanobis baseline, taught on the same coins."
    )
    out = reports_dir / SUMMARY_MD
    text = summary_markdown(
        speed + acc, measured_line(command, time.perf_counter() - began), sources
    )
    out.write_text(text, encoding="utf-8")
    return out
