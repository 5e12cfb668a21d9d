"""``coinval classify``: one decision per input line, streamed in order.

Lines are read in the main process with a length cap and handed out in
chunks; parsing, validation, deciding and writing each chunk's decisions run
in worker processes when the input is big, so every core works and memory
stays bounded by the chunks in flight.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from coinval.cli import UsageError

# Lines decided together: big enough for the vectorised core to pay off, small
# enough to keep memory bounded and output flowing.
CHUNK_LINES = 1024
# Inputs smaller than this are decided in-process: workers cost more to start.
PARALLEL_BYTES = 8 << 20

_engine: Any = None
_at: dt.datetime | None = None


def _init_worker(profile_text: str, at_iso: str) -> None:
    """Load the profile once per process (also used in-process)."""
    global _engine, _at
    from coinval.engine import Engine
    from coinval.profile import loads

    _engine = Engine(loads(profile_text))
    _at = dt.datetime.fromisoformat(at_iso)


def _decide_chunk(raw: list[Any]) -> bytes:
    """Decisions, as JSON Lines bytes, for a chunk of raw lines (in order)."""
    from coinval.engine import invalid
    from coinval.jsonlines import decode_line, dumps_line

    assert _engine is not None and _at is not None
    lines = [decode_line(line) for line in raw]
    objs = [line.obj for line in lines if line.error is None]
    decided = iter(_engine.decide_objects(objs, _at))
    return b"".join(
        dumps_line(
            invalid(None, line.error).to_json_dict()
            if line.error is not None
            else next(decided).to_json_dict()
        )
        for line in lines
    )


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


def _chunks(stream: IO[bytes]) -> Iterator[list[Any]]:
    from coinval.jsonlines import read_raw_lines

    chunk: list[Any] = []
    for line in read_raw_lines(stream):
        chunk.append(line)
        if len(chunk) >= CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _jobs(args: argparse.Namespace, size: int | None) -> int:
    if args.jobs is not None:
        return max(1, args.jobs)
    if size is not None and size < PARALLEL_BYTES:
        return 1
    return max(1, os.cpu_count() or 1)


def run_classify(args: argparse.Namespace) -> int:
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
    profile_text = profile.dumps()
    out = sys.stdout.buffer
    lines = 0
    with _open_input(args.input) as (stream, size):
        bar = _progress(args, size)
        jobs = _jobs(args, size)
        position = 0

        def advance(count: int) -> None:
            nonlocal lines, position
            lines += count
            if bar is not None:
                new = stream.tell() if size is not None else position + count
                bar.update(new - position)
                position = new

        if jobs == 1:
            _init_worker(profile_text, at.isoformat())
            for chunk in _chunks(stream):
                out.write(_decide_chunk(chunk))
                out.flush()
                advance(len(chunk))
        else:
            # fork: workers inherit the imported modules, so they start at once.
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(
                jobs,
                mp_context=context,
                initializer=_init_worker,
                initargs=(profile_text, at.isoformat()),
            ) as pool:
                pending: deque[tuple[Future[bytes], int]] = deque()
                for chunk in _chunks(stream):
                    pending.append((pool.submit(_decide_chunk, chunk), len(chunk)))
                    # At most two chunks per worker in flight: bounded memory.
                    while len(pending) > 2 * jobs:
                        future, count = pending.popleft()
                        out.write(future.result())
                        out.flush()
                        advance(count)
                while pending:
                    future, count = pending.popleft()
                    out.write(future.result())
                    out.flush()
                    advance(count)
        if bar is not None:
            bar.close()
    if lines == 0:
        print(f"coinval classify: {args.input}: no lines to classify", file=sys.stderr)
    return 0
