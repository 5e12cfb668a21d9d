"""Flags the benchmark commands share: the heads to run on, the report to write.

Both checked before any measuring, so that a bad one is a usage error (exit 2)
at once, not a traceback after minutes."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.heads import get_head

MOST_HEADS = 1000
"""Heads a run may ask for (59 take about 4 minutes on 2 cores at 400 coins a cell)."""


def expand_heads(spec: str) -> list[str]:
    """``A,seed:1-3,A`` -> ``["A", "seed:1", "seed:2", "seed:3"]``; each checked to exist.

    A range may carry the second physics' prefix too: ``phys2:seed:1-3``.

    Raises
    ------
    ValueError
        For an empty list, a bad range or a head the simulator does not know.
    """
    heads: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        prefix = "phys2:" if part.lower().startswith("phys2:") else ""
        rest = part[len(prefix) :]
        if rest.lower().startswith("seed:") and "-" in rest[5:]:
            lo, _, hi = rest[5:].partition("-")
            if not (lo.isdigit() and hi.isdigit()) or int(lo) > int(hi):
                raise ValueError(f"{part!r}: a range is seed:M-N with M <= N")
            if int(hi) - int(lo) >= MOST_HEADS:
                raise ValueError(f"{part!r}: more than {MOST_HEADS} heads")
            heads += [f"{prefix}seed:{i}" for i in range(int(lo), int(hi) + 1)]
        else:
            heads.append(part)
    heads = list(dict.fromkeys(heads))  # each head once, in the order first given
    if not heads:
        raise ValueError("no heads given")
    if len(heads) > MOST_HEADS:
        raise ValueError(f"{len(heads)} heads: at most {MOST_HEADS} a run")
    for head in heads:
        get_head(head)
    return heads


def heads_flag(parser: argparse.ArgumentParser, spec: str) -> list[str]:
    """``--heads`` as a list of head names (see :func:`expand_heads`), or a usage error."""
    try:
        return expand_heads(spec)
    except ValueError as exc:
        parser.error(f"--heads: {exc}")


def writable_report(parser: argparse.ArgumentParser, out: str) -> Path:
    """``out`` as a path whose directory exists and which can be written.

    A report that cannot be written is a usage error (exit 2) now, rather than a
    traceback after minutes of measuring.
    """
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        parser.error(f"--out {out}: {exc.strerror or exc}")
    return path
