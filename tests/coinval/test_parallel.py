"""Big batches over threads: started only when needed, stopped and started again,
and started afresh in a forked child."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from coinval.batch import SignatureBatch
from coinval.features.parallel import CHUNK_ROWS, ChunkPool, map_chunks

ROOT = Path(__file__).resolve().parents[2]


def _batch(n: int) -> SignatureBatch:
    rows = np.arange(n, dtype=np.float64)
    return SignatureBatch(
        eddy_lo=np.zeros((n, 4)),
        eddy_hi=np.zeros((n, 4)),
        eddy_rate_hz=np.ones(n),
        rim=np.zeros((n, 4)),
        thickness_mm=rows,
        speed_mm_s=np.ones(n),
        temperature_c=np.zeros(n),
    )


def test_importing_the_core_starts_no_thread() -> None:
    code = "import threading, coinval.engine, coinval.teach; print(threading.active_count())"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "1"


def test_only_a_big_batch_goes_to_the_threads_and_comes_back_in_order() -> None:
    pool = ChunkPool(workers=2)
    ran_on: set[threading.Thread] = set()

    def work(part: SignatureBatch) -> tuple[npt.NDArray[np.float64], ...]:
        ran_on.add(threading.current_thread())
        return (part.thickness_mm * 2.0,)

    (small,) = map_chunks(_batch(2 * CHUNK_ROWS), work, pool)
    np.testing.assert_array_equal(small, 2.0 * np.arange(2 * CHUNK_ROWS))
    assert ran_on == {threading.current_thread()}
    ran_on.clear()
    n = 2 * CHUNK_ROWS + 1
    (big,) = map_chunks(_batch(n), work, pool)
    np.testing.assert_array_equal(big, 2.0 * np.arange(n))
    assert ran_on and threading.current_thread() not in ran_on
    pool.shutdown()
    assert not any(t.is_alive() for t in ran_on)
    (again,) = map_chunks(_batch(n), work, pool)
    np.testing.assert_array_equal(again, big)
    pool.shutdown()


def test_a_forked_child_starts_threads_of_its_own() -> None:
    """The parent's threads do not come along: a child using its pool would wait forever."""
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        import numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from tests.coinval.test_parallel import _batch
        from coinval.features.parallel import CHUNK_ROWS, map_chunks
        n = 2 * CHUNK_ROWS + 1
        work = lambda part: (part.thickness_mm + 1.0,)
        map_chunks(_batch(n), work)  # the parent's threads start
        pid = os.fork()
        if pid == 0:
            signal.alarm(30)  # a child left waiting on threads it has not ends itself
            (got,) = map_chunks(_batch(n), work)
            os._exit(0 if np.array_equal(got, np.arange(n) + 1.0) else 1)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
