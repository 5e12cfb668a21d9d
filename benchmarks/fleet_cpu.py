"""Where the CPU goes during the fleet benchmark: the central service, PostgreSQL, the sim.

Read from ``/proc`` (Linux): each process's user + system time, summed over
a component's processes (a process and all its descendants; for PostgreSQL
the postmaster found by its port and every backend under it), and the whole
machine's busy time, which shows how much other work shared the cores.
Figures are cores used on average between two samples (1.0: one core busy).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, user + system ticks, ticks of its children it reaped), None: gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(") ", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _processes() -> dict[int, tuple[int, int, int]]:
    """Every process now: pid -> (parent pid, ticks, reaped children's ticks)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            got = _stat(int(entry))
            if got is not None:
                out[int(entry)] = got
    return out


def _descendants(root: int, table: Mapping[int, tuple[int, int, int]]) -> set[int]:
    found, todo = {root}, [root]
    while todo:
        parent = todo.pop()
        for pid, (ppid, _, _) in table.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def postmaster_pid(port: int) -> int | None:
    """The PostgreSQL server listening on ``port`` (its command line names the port)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            words = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if words and words[0].endswith(b"postgres") and str(port).encode() in words:
            return int(entry)
    return None


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) ticks of every core since boot (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class CpuSample:
    """Ticks spent so far by each component, and the machine's, at one moment."""

    at: float
    ticks: dict[str, int]
    machine_busy: int
    machine_total: int


def sample(at: float, roots: Mapping[str, int | None]) -> CpuSample:
    """Each component's ticks (``roots``: name -> its top process) and the machine's, now."""
    table = _processes()
    ticks = {}
    for name, root in roots.items():
        if root is None or root not in table:
            ticks[name] = 0
            continue
        # The root's reaped children count too: PostgreSQL backends that ended meanwhile.
        mine = _descendants(root, table)
        ticks[name] = sum(table[pid][1] for pid in mine) + table[root][2]
    busy, total = machine_busy_ticks()
    return CpuSample(at, ticks, busy, total)


def cores_used(first: CpuSample, last: CpuSample) -> dict[str, float]:
    """Cores each component used on average between two samples, and the machine's.

    A component whose processes were restarted in between (a killed central)
    is not comparable: its figure is only meaningful over windows without one.
    ``machine`` is every core's busy time, ours and anyone else's; ``others`` what
    of it is not the components' (other work on the machine, the kernel's).
    """
    seconds = max(1e-9, last.at - first.at)
    out = {
        name: max(0, last.ticks.get(name, 0) - first.ticks.get(name, 0)) / TICKS_PER_S / seconds
        for name in last.ticks
    }
    cores = os.cpu_count() or 1
    total = max(1, last.machine_total - first.machine_total)
    machine = cores * (last.machine_busy - first.machine_busy) / total
    out["others"] = max(0.0, machine - sum(out.values()))
    out["machine"] = machine
    return out
