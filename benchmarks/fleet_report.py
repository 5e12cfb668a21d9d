"""``reports/fleet.md``: the fleet benchmark's figures, with the machine, date and command.

Written by ``benchmarks/test_fleet.py`` at the end of its module from the
figures both of its tests gathered; the same figures are in
``benchmark.json``'s ``extra_info``, which ``coinval bench summary`` reads.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coinval_eval.provenance import measured_line

STARTED = time.perf_counter()

GOALS = (
    ("fleet events ingested, sustained", ">= 5,000/s"),
    ("API GET p99 while the fleet reports", "< 50 ms"),
    ("fleet stats p99 with 10 M events", "< 200 ms"),
    ("exactly once after kill -9 (central and sim)", "yes"),
)


def _f(value: object, unit: str = "", digits: int = 0) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return "not measured"
        return f"{value:,.{digits}f}{unit}"
    return "not measured"


def command() -> str:
    """The command that ran the benchmark, with the fleet's environment settings."""
    env = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("COINVAL_FLEET_")]
    return " ".join([*env, "python", "-m", "pytest", *map(shlex.quote, sys.argv[1:])])


def _goal_rows(results: Mapping[str, Any]) -> list[str]:
    ingest, stats = results.get("ingest", {}), results.get("stats", {})
    rate = ingest.get("fleet_events_per_s")
    p99 = ingest.get("fleet_get_p99_ms")
    stats_p99 = stats.get("stats_p99_ms")
    exact = ingest.get("fleet_exact")
    failed = float(ingest.get("fleet_get_failed_share", 0.0))
    cells = [
        (
            f"{_f(rate, '/s')} (offered {_f(ingest.get('fleet_offered_per_s'), '/s')})",
            rate is not None and rate >= 5000,
        ),
        (
            f"{_f(p99, ' ms', 1)} ({_f(100 * failed, ' %', 1)} failed)",
            p99 is not None and p99 < 50 and failed <= 0.01,
        ),
        (
            f"{_f(stats_p99, ' ms', 1)} ({stats.get('stats_worst_route', '?')})",
            stats_p99 is not None and stats_p99 < 200,
        ),
        (_f(exact), bool(exact)),
    ]
    rows = []
    for (goal, target), (figure, met) in zip(GOALS, cells, strict=True):
        verdict = "not measured" if "not measured" in figure else ("met" if met else "missed")
        rows.append(f"| {goal} | {target} | {figure} | {verdict} |")
    return rows


def render(results: Mapping[str, Any]) -> str:
    """The report's Markdown."""
    ingest, stats = results.get("ingest", {}), results.get("stats", {})
    lines = [
        "# Fleet: 1,000 simulated acceptors reporting to one central service",
        "",
        measured_line(command(), time.perf_counter() - STARTED),
        "",
        "| goal | target | measured | verdict |",
        "|---|---:|---:|---|",
        *_goal_rows(results),
    ]
    if ingest:
        cpu = ingest.get("cpu_cores_steady", {})
        failures = ingest.get("get_why_failed", {})
        why_failed = ", ".join(f"{n:,} {why}" for why, n in failures.items())
        lines += [
            "",
            "## The run",
            "",
            f"{ingest['fleet_acceptors']:,} acceptors (`coinval sim fleet`, 2 processes) at "
            f"{ingest['fleet_rate']:,.0f} coins/s for {ingest['fleet_seconds']:,.0f} s, each "
            "sending its outbox every 5 s; the central service `coinval api` "
            f"({ingest['api_workers']} worker process(es)) on PostgreSQL (durable: fsync and "
            "synchronous commit on), on the same machine as the sim, which runs at nice "
            f"{ingest.get('sim_nice', 0)} (it stands for a thousand machines elsewhere: the "
            "central service and PostgreSQL come first for the cores; the sim's CPU is below).",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| ingested, steady part (after warm-up, before the kill) | "
            f"{_f(ingest['fleet_events_per_s'], '/s')} |",
            f"| offered (decided by the sim) in the same part | "
            f"{_f(ingest['fleet_offered_per_s'], '/s')} |",
            f"| ingest over 10 s windows: lowest / median | {_f(ingest['ingest_10s_min'], '/s')}"
            f" / {_f(ingest['ingest_10s_median'], '/s')} |",
            f"| catch-up after the central's restart: peak over 10 s | "
            f"{_f(ingest['catch_up_peak_per_s'], '/s')} |",
            "| backlog back to normal after the restart (not measured: never, or the "
            f"backlog grew all along) | {_f(ingest['catch_up_s'], ' s')} |",
            f"| central away (kill -9 to ready again) | {_f(ingest['central_away_s'], ' s', 1)} |",
            f"| sim worker killed -9: started again after | "
            f"{_f(ingest['sim_worker_restart_s'], ' s', 1)} |",
            f"| drain at the end | {_f(ingest['drain_s'], ' s')} |",
            f"| ingested during the drain (batches of up to 500, no coins decided) | "
            f"{_f(ingest.get('drain_events_per_s'), '/s')} |",
            "| GET p50 / p99, warm-up to stop, central up | "
            f"{_f(ingest['fleet_get_p50_ms'], ' ms', 1)}"
            f" / {_f(ingest['fleet_get_p99_ms'], ' ms', 1)} |",
            f"| GET p99, steady part only | {_f(ingest['fleet_get_p99_steady_ms'], ' ms', 1)} |",
            f"| GETs (failed: how) | {ingest['fleet_get_requests']:,} "
            f"({ingest['fleet_get_failed']:,}: {why_failed or 'none'}) |",
            f"| GETs failed, steady part only | "
            f"{_f(100 * float(ingest.get('fleet_get_failed_steady_share', 0.0)), ' %', 1)} |",
            f"| decided (the outboxes' last sequences) | {ingest['fleet_decided']:,} |",
            f"| stored events / summarised | {ingest['fleet_stored']:,} / "
            f"{ingest['fleet_summarised']:,} |",
            f"| batches sent again after a kill, duplicates ignored | "
            f"{ingest['fleet_duplicates_ignored']:,} |",
            f"| exactly once | {_f(ingest['fleet_exact'])} |",
            "",
            "CPU in cores (1.00: one core busy; `machine` counts everyone's work on it, "
            "`others` what is not the central service's, PostgreSQL's or the sim's):",
            "",
            "| part | " + " | ".join(cpu) + " |",
            "|---|" + "---:|" * len(cpu),
            "| steady | " + " | ".join(f"{v:.2f}" for v in cpu.values()) + " |",
            *(
                ["| drain | " + " | ".join(f"{drain.get(k, 0.0):.2f}" for k in cpu) + " |"]
                if (drain := ingest.get("cpu_cores_drain"))
                else []
            ),
            "",
            "GET latency per route, warm-up to stop while the central service was up "
            "(from the planned send time; a failed GET has none: its share is beside it):",
            "",
            "| route | requests | failed | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for route, q in ingest.get("routes", {}).items():
            lines.append(
                f"| `{route}` | {q['requests']:,} | {q['failed']:,} | "
                f"{_f(q.get('p50_ms'), '', 1)} | {_f(q.get('p99_ms'), '', 1)} |"
            )
        if ingest.get("exact_problems"):
            lines += ["", "Exactness problems (first 10):", ""]
            lines += [f"- {p}" for p in ingest["exact_problems"]]
    if stats:
        lines += [
            "",
            "## Stats with the store topped up",
            "",
            f"{stats['stored_events']:,} events (the run's, and the rest loaded by SQL: 30 days "
            "of the fleet's heads in the pool's shares; rollups rebuilt), each route timed one "
            f"request at a time. Load: inserts {stats['load_insert_s']:,.0f} s, indexes "
            f"{stats['load_index_s']:,.0f} s, rollups {stats['load_rollup_s']:,.0f} s.",
            "",
            "| route | requests | p50 ms | p99 ms |",
            "|---|---:|---:|---:|",
        ]
        for route, q in stats.get("routes", {}).items():
            lines.append(
                f"| `{route}` | {q['requests']:,} | {q['p50_ms']:.1f} | {q['p99_ms']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def write_report(folder: Path, results: Mapping[str, Any]) -> Path:
    """Write ``fleet.md`` into ``folder`` (made if missing); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "fleet.md"
    out.write_text(render(results), encoding="utf-8")
    return out
