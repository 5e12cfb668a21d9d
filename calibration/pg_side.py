"""A few PostgreSQL connections of the service's own, beside the store's pool.

NOTIFY and the shared rate counters need connections that are not the store's:
the store's write transactions take its global write lock (a rate counter must
not queue behind an upload), and its read transactions are read only.  These
are autocommit connections to the same URL, made when first needed (a process
that never sends a NOTIFY or counts a rate never opens one).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: ``application_name`` of these connections (as ``pg_stat_activity`` shows them).
SIDE_NAME = "coinval-side"


class SideConnections:
    """A small, lazily opened pool of autocommit connections to a PostgreSQL store.

    Parameters
    ----------
    url : str
        The store's ``postgresql://`` URL.
    max_size : int
        Connections at most (each wait for one is bounded by ``timeout_s``).
    timeout_s : float
        The longest wait for a free connection, or for a new one to be made.
    """

    def __init__(self, url: str, *, max_size: int = 4, timeout_s: float = 5.0) -> None:
        self.url = url
        self.max_size = max_size
        self.timeout_s = timeout_s
        self._pool: Any = None
        self._closed = False
        self._lock = threading.Lock()

    def _opened(self) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("the side connections are closed")
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self.url,
                    min_size=0,
                    max_size=self.max_size,
                    kwargs={"autocommit": True, "application_name": SIDE_NAME},
                    timeout=self.timeout_s,
                    num_workers=1,
                    open=True,
                    name="coinval-side",
                )
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """An autocommit psycopg connection for the block.

        Raises
        ------
        psycopg.Error, psycopg_pool.PoolTimeout
            The server is out of reach, or every connection stayed busy.
        """
        with self._opened().connection() as conn:
            yield conn

    def reopen(self) -> None:
        """Allow connections again after :meth:`close` (an app started again)."""
        with self._lock:
            self._closed = False

    def close(self) -> None:
        """Close the connections; none is made again until :meth:`reopen` (a request
        thread still running after a stop must not open a pool no one closes)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
