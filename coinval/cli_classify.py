"""``coinval classify``: one decision per input line, streamed in order."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from coinval.cli import UsageError

# Lines decided together: big enough for the vectorised core to pay off, small
# enough to keep memory bounded and output flowing.
CHUNK_LINES = 1024


@contextmanager
def _open_input(name: str) -> Iterator[tuple[IO[bytes], int | None]]:
    if name == "-":
        yield sys.stdin.buffer, None
        return
    try:
        stream = Path(name).open("rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise UsageError(f"{name}: cannot open: {exc.strerror or exc}") from None
    with stream:
        size = os.fstat(stream.fileno()).st_size
        yield stream, size


def _progress(args: argparse.Namespace, total: int | None) -> Any:
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="classify", file=sys.stderr)


def run_classify(args: argparse.Namespace) -> int:
    from coinval.engine import Engine, invalid
    from coinval.jsonlines import dumps_line, read_lines
    from coinval.legal_tender import now, parse_moment
    from coinval.profile import ProfileError, load

    try:
        profile = load(args.profile)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    try:
        at = parse_moment(args.at) if args.at else now()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    engine = Engine(profile)
    out = sys.stdout.buffer
    lines = 0
    with _open_input(args.input) as (stream, size):
        bar = _progress(args, size)
        position = 0
        chunk: list[Any] = []
        errors: dict[int, str] = {}

        def flush() -> None:
            objs = [obj for i, obj in enumerate(chunk) if i not in errors]
            decided = iter(engine.decide_objects(objs, at))
            parts = [
                dumps_line(
                    invalid(None, errors[i]).to_json_dict()
                    if i in errors
                    else next(decided).to_json_dict()
                )
                for i in range(len(chunk))
            ]
            out.write(b"".join(parts))
            out.flush()
            chunk.clear()
            errors.clear()

        for line in read_lines(stream):
            lines += 1
            if line.error is not None:
                errors[len(chunk)] = line.error
            chunk.append(line.obj)
            if len(chunk) >= CHUNK_LINES:
                flush()
                if bar is not None and size is not None:
                    new = stream.tell()
                    bar.update(new - position)
                    position = new
        if chunk:
            flush()
        if bar is not None:
            bar.close()
    if lines == 0:
        print(f"coinval classify: {args.input}: no lines to classify", file=sys.stderr)
    return 0
