"""Flags the report-writing bench commands share: the heads to run on, the report to write.

Both are checked before any measuring, so that a bad one is a usage error
(exit 2) at once, not a traceback after minutes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coinval_cli.errors import UsageError

MOST_HEADS = 1000
"""Heads one run may ask for."""


def parse_heads(text: str) -> tuple[str, ...]:
    """``A,seed:1-3,A`` -> ``("A", "seed:1", "seed:2", "seed:3")``: simulated heads, each once.

    A range may carry the second physics' prefix too: ``phys2:seed:1-3``.

    Raises
    ------
    UsageError
        For an empty list, a bad range or a head the simulator does not know.
    """
    from sim.heads import get_head

    heads: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        prefix = "phys2:" if part.lower().startswith("phys2:") else ""
        rest = part[len(prefix) :]
        if rest.lower().startswith("seed:") and "-" in rest[5:]:
            lo, _, hi = rest[5:].partition("-")
            if not (lo.isdigit() and hi.isdigit()) or int(lo) > int(hi):
                raise UsageError(f"--heads {part!r}: a range is seed:M-N with M <= N")
            if int(hi) - int(lo) >= MOST_HEADS:
                raise UsageError(f"--heads {part!r}: more than {MOST_HEADS} heads")
            heads += [f"{prefix}seed:{i}" for i in range(int(lo), int(hi) + 1)]
        else:
            heads.append(part)
    unique = tuple(dict.fromkeys(heads))  # each head once, in the order first given
    if not unique:
        raise UsageError("--heads: no heads given")
    if len(unique) > MOST_HEADS:
        raise UsageError(f"--heads: {len(unique)} heads, at most {MOST_HEADS} a run")
    for head in unique:
        try:
            get_head(head)
        except ValueError as exc:
            raise UsageError(f"--heads: {exc}") from None
    return unique


def add_out_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """``--out``: the Markdown report to write (``default`` under ``reports/``)."""
    parser.add_argument(
        "--out", default=default, metavar="REPORT.md", help=f"report to write (default {default})"
    )


def writable_report(out: str) -> Path:
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
        raise UsageError(f"--out {out}: {exc.strerror or exc}") from None
    return path
