"""Big batches on all cores: row chunks mapped over threads, their arrays joined.

numpy releases the GIL inside its array loops, so threads scale without
copying data between processes, and chunks keep the working arrays in cache.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from coinval.batch import SignatureBatch

CHUNK_ROWS = 1024
"""Rows per chunk when a big batch is split across threads: small enough for the
working arrays to stay in cache, big enough that numpy's per-call cost vanishes."""


class ChunkPool:
    """The threads big batches are split over, started when first needed.

    Importing coinval starts no thread, and a process that decides only small
    batches (the gate's one coin) never starts any.  A forked child (a worker
    of ``coinval classify``) inherits the pool object but not its threads: it
    starts threads of its own when it needs them.

    Parameters
    ----------
    workers : int
        Threads, once started.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> ThreadPoolExecutor:
        """The running threads, started on the first call."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="coinval-chunks"
                )
            return self._executor

    def shutdown(self) -> None:
        """Stop the threads (after the chunks under way); the next call starts new ones."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def after_fork(self) -> None:
        """In a forked child: forget the parent's threads, which did not come along."""
        self._executor = None
        self._lock = threading.Lock()


POOL = ChunkPool(workers=max(2, os.cpu_count() or 2))
"""The process's pool, shared by every engine: one set of threads per process."""
os.register_at_fork(after_in_child=POOL.after_fork)


def map_chunks(
    batch: SignatureBatch,
    work: Callable[[SignatureBatch], tuple[npt.NDArray[Any], ...]],
    pool: ChunkPool = POOL,
) -> tuple[npt.NDArray[Any], ...]:
    """Apply ``work`` to row chunks of a big batch on all cores; join the arrays.

    A small batch (one coin at the gate) runs on the calling thread.

    Parameters
    ----------
    batch : SignatureBatch of n coins
    work : callable
        From a batch of m coins to arrays of first dimension m.
    pool : ChunkPool
        The threads a batch of more than ``2 * CHUNK_ROWS`` coins is split over.

    Returns
    -------
    tuple of ndarrays of first dimension n
    """
    n = len(batch)
    if n <= 2 * CHUNK_ROWS:
        return work(batch)
    # Our threads already fill the cores: BLAS threads of their own inside each
    # chunk's small matrix products would only contend with them for the same cores.
    with threadpool_limits(limits=1, user_api="blas"):
        parts = list(
            pool.executor().map(
                lambda start: work(batch.rows(start, min(start + CHUNK_ROWS, n))),
                range(0, n, CHUNK_ROWS),
            )
        )
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))
