"""Where a benchmark writes its report: checked before the run, not after it."""

from __future__ import annotations

import argparse
from pathlib import Path


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
