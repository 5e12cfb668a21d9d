"""``coinval classify``: one decision per input line, streamed in order.

A small input or a pipe is decided in-process, a chunk of lines at a time.
A big input is cut into blocks of whole lines, decided by worker processes
in order: so every core works and memory stays bounded by the blocks in
flight.  From a regular file the workers read their blocks themselves and
the main process only counts lines, so it never becomes the bottleneck.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import stat
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from queue import Empty, Queue
from threading import Thread
from typing import IO, Any

from coinval_cli.errors import UsageError

# Lines decided together: big enough for the vectorised core to pay off, small
# enough to keep memory bounded and output flowing.
CHUNK_LINES = 1024
# ... and at most this many bytes, so memory stays bounded even for huge lines.
CHUNK_BYTES = 16 << 20
# Worker processes get the file in blocks of whole lines of about this size.
BLOCK_BYTES = 2 << 20
# Inputs smaller than this are decided in-process: workers cost more to start.
PARALLEL_BYTES = 8 << 20
# Live input (a pipe): a pause this long sends the lines read so far to be decided.
IDLE_S = 0.05

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


def _decide_block(block: bytes | bytearray, first_number: int, size: int | None = None) -> bytes:
    """Decisions for a block of whole lines (numbered from ``first_number``):
    ``block``, or its first ``size`` bytes.

    The worker splits the lines itself, so the main process only moves blocks.
    """
    from coinval.jsonlines import MAX_LINE_BYTES, Line

    # memchr from line end to line end, and views rather than copies of the
    # lines (orjson reads a memoryview): several times cheaper than split.
    view = memoryview(block)
    lines = []
    number = first_number
    start, end = 0, len(block) if size is None else size
    while start < end:
        stop = block.find(b"\n", start, end)
        if stop < 0:
            stop = end
        if stop - start > MAX_LINE_BYTES:
            lines.append(Line(number, error=f"line {number} is longer than {MAX_LINE_BYTES} bytes"))
        else:
            lines.append(Line(number, obj=view[start:stop]))
        start = stop + 1
        number += 1
    out = []
    for start in range(0, len(lines), CHUNK_LINES):
        out.append(_decide_chunk(lines[start : start + CHUNK_LINES]))
    return b"".join(out)


# A worker's block buffer, reused: a fresh 2 MB object per block costs the
# kernel a page fault per 4 kB to hand out zeroed memory.
_read_buffer = bytearray()


def _decide_span(fd: int, start: int, length: int, block: bytes | None, first_number: int) -> bytes:
    """Decisions for a block of whole lines: ``block``, or else ``length`` bytes
    of the file open as ``fd`` (inherited from the main process) from ``start``.
    """
    global _read_buffer
    if block is not None:
        return _decide_block(block, first_number)
    if len(_read_buffer) < length:
        # At most BLOCK_BYTES plus one capped line; never resized in place, as
        # views of it may still be alive.
        _read_buffer = bytearray(length)
    size = 0
    with memoryview(_read_buffer) as view:
        while size < length:
            got = os.preadv(fd, [view[size:length]], start + size)
            if not got:
                break
            size += got
    return _decide_block(_read_buffer, first_number, size)


Span = tuple[int, int, bytes | None, int, int]
"""A block of whole lines for a worker: (start, length, bytes or None, first line number, lines)."""


def _count_lines(buffer: bytearray, size: int) -> int:
    """Newlines in ``buffer[:size]``: memchr hops over long lines (the usual
    ~10 kB signatures) ten times faster than ``count``, which takes over when
    lines are short.
    """
    count = 0
    at = buffer.find(b"\n", 0, size)
    while at >= 0:
        count += 1
        if count == 256:
            return count + buffer.count(b"\n", at + 1, size)
        at = buffer.find(b"\n", at + 1, size)
    return count


def _spans(stream: IO[bytes], seekable: bool) -> Iterator[Span]:
    """Blocks of about BLOCK_BYTES of whole lines, with their first line number.

    From a ``seekable`` regular file the workers read the block themselves (its
    bytes are None): the main process only counts lines, through one reused
    buffer, so it never copies the input into a pipe.  Otherwise, and for a
    block in which a line longer than the cap had to be cut at the cap (the
    worker then reports it as too long; the rest of it is skipped unread into
    memory), the block's bytes go to the worker.
    """
    from coinval.jsonlines import MAX_LINE_BYTES

    buffer = bytearray(BLOCK_BYTES)
    number = 1
    start = stream.tell() if seekable else 0
    while True:
        size = stream.readinto(buffer)  # type: ignore[attr-defined]
        if not size:
            return
        count = _count_lines(buffer, size)
        tail = b""
        cut = False
        if buffer[size - 1] != 0x0A:
            tail = stream.readline(MAX_LINE_BYTES + 1)
            if len(tail) > MAX_LINE_BYTES and not tail.endswith(b"\n"):
                while True:
                    rest = stream.readline(MAX_LINE_BYTES)
                    if not rest or rest.endswith(b"\n"):
                        break
                tail += b"\n"
                cut = True
            # The line the tail ends; or the final line, without a newline.
            count += 1
        if seekable and not cut:
            yield start, size + len(tail), None, number, count
        else:
            yield start, 0, bytes(memoryview(buffer)[:size]) + tail, number, count
        number += count
        if seekable:
            start = stream.tell()


@contextmanager
def _open_input(name: str) -> Iterator[tuple[IO[bytes], int | None]]:
    if name == "-":
        stdin = sys.stdin.buffer
        info = os.fstat(stdin.fileno())
        # `< file` is a regular file (size known, not live); a pipe or terminal is live.
        yield stdin, info.st_size if stat.S_ISREG(info.st_mode) else None
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


def _chunks(stream: IO[bytes], live: bool) -> Iterator[list[Any]]:
    """Raw lines in chunks of at most CHUNK_LINES lines and CHUNK_BYTES bytes.

    ``live`` input (a pipe or terminal) also ends a chunk whenever no new line
    has come for a moment, so a coin fed in alone is decided at once.
    """
    from coinval.jsonlines import read_raw_lines

    lines: Iterator[Any] = read_raw_lines(stream)
    if live:
        lines = _prefetched(lines)
    chunk: list[Any] = []
    size = 0
    for line in lines:
        if line is _IDLE:
            if chunk:
                yield chunk
                chunk, size = [], 0
            continue
        chunk.append(line)
        size += len(line.obj) if line.obj is not None else 0
        if len(chunk) >= CHUNK_LINES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


_IDLE = object()
_END = object()


def _prefetched(lines: Iterator[Any]) -> Iterator[Any]:
    """Lines read by a thread; yields ``_IDLE`` when none came for IDLE_S seconds."""
    queue: Queue[Any] = Queue(maxsize=CHUNK_LINES)

    def reader() -> None:
        try:
            for line in lines:
                queue.put(line)
        finally:
            queue.put(_END)

    Thread(target=reader, name="classify-reader", daemon=True).start()
    while True:
        try:
            item = queue.get(timeout=IDLE_S)
        except Empty:
            yield _IDLE
            continue
        if item is _END:
            return
        yield item


def _jobs(args: argparse.Namespace, size: int | None) -> int:
    if args.jobs is not None:
        return max(1, args.jobs)
    # A pipe may be a sensor feeding coins one by one: decide in-process, at once.
    if size is None or size < PARALLEL_BYTES:
        return 1
    return max(1, os.cpu_count() or 1)


def add_classify_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``coinval classify``: the profile, the moment, the input, workers, progress."""
    parser.add_argument("--profile", required=True, metavar="PROFILE.json")
    parser.add_argument(
        "--at",
        metavar="ISO_DATETIME",
        help="moment the decisions are made for (legal-tender dates; default now, London time)",
    )
    parser.add_argument(
        "input", nargs="?", default="-", metavar="INPUT.jsonl", help="input file, or - for stdin"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes (default: all cores for inputs over 8 MB, else 1)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )


def run_classify(args: argparse.Namespace) -> int:
    """Decide every line of the input and write one decision a line, in order, to stdout."""
    from coinval.legal_tender import now, parse_moment
    from coinval.profile import ProfileError, load

    try:
        profile = load(args.profile)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    try:
        at = parse_moment(args.at) if args.at is not None else now()
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
            for chunk in _chunks(stream, live=size is None):
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
                fd = stream.fileno()
                for start, length, block, first, count in _spans(stream, size is not None):
                    pending.append(
                        (pool.submit(_decide_span, fd, start, length, block, first), count)
                    )
                    # At most two blocks per worker in flight: bounded memory.
                    while len(pending) > 2 * jobs:
                        future, done = pending.popleft()
                        out.write(future.result())
                        out.flush()
                        advance(done)
                while pending:
                    future, done = pending.popleft()
                    out.write(future.result())
                    out.flush()
                    advance(done)
        if bar is not None:
            bar.close()
    if lines == 0:
        print(f"coinval classify: {args.input}: no lines to classify", file=sys.stderr)
    return 0
