"""Rate limits: refused API keys per client address, requests per key.

Two limits, both answered 429 with ``Retry-After`` and a body saying which
limit and when to come back:

failed authentication (``COINVAL_AUTH_FAILURES_PER_MIN``, default 30)
    A client address may present at most this many refused keys (unknown or
    revoked) in a minute; past it no key it presents is checked until the
    minute ends.  Only key checks count and are held back: a request without a
    key (401 at once) is none, and neither is one whose key this process found
    valid in the last second (:mod:`calibration.recent_keys`).
requests per key (``COINVAL_KEY_REQUESTS_PER_S``, default 0: no budget)
    Each key may make at most this many requests a second, every worker
    together.  Acceptors post their events in batches, so a fleet needs few.

Windows are fixed: a clock minute, a clock second.  In one process (a SQLite
store, or one worker) the counts live in memory (:class:`MemoryCounter`).
With a PostgreSQL store and several workers they live in the store's server,
in an UNLOGGED table made here at start (:class:`PostgresCounter`): rate
counts are not data to keep, so they are outside the store's migrations, not
written to the WAL, and never take the store's write lock.  There a worker
takes a key's budget in small leases (a quarter of its share) instead of one
round trip per request: the keys' total never passes the budget, and a
lease left unused in one worker when the second ends is at most a quarter of
the budget.  A counter that cannot be reached lets the request through (and
logs why): the limits protect the service, they must not take it down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from calibration.pg_side import SideConnections

log = logging.getLogger(__name__)

#: The failed-authentication window, in seconds.
AUTH_WINDOW_S = 60
#: The per-key budget's window, in seconds.
KEY_WINDOW_S = 1
#: The table of the shared counts (PostgreSQL).
TABLE = "coinval_rate_counts"
#: Buckets an in-memory counter holds at most; past it, past windows are dropped,
#: and if that is not enough, everything (a flood of addresses must not fill memory).
MAX_BUCKETS = 100_000
#: How often a process drops past windows from the shared table.
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True)
class Count:
    """A bucket's count in its window, after an :meth:`Counter.add`."""

    n: int
    window: int
    left_s: float


class Counter(Protocol):
    """Counts per (bucket, fixed window)."""

    #: Whether a call does I/O (then it runs off the event loop).
    shared: bool

    def add(self, bucket: str, window_s: int, amount: int) -> Count:
        """Add ``amount`` to ``bucket`` in the present window of ``window_s`` seconds."""
        ...


class MemoryCounter:
    """Counts of this process only, in windows of ``clock`` (monotonic seconds)."""

    shared = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def add(self, bucket: str, window_s: int, amount: int) -> Count:
        now = self._clock()
        window = int(now // window_s) * window_s
        with self._lock:
            if len(self._counts) >= MAX_BUCKETS:
                self._prune(now)
            n = self._counts.get((bucket, window), 0) + amount
            self._counts[(bucket, window)] = n
        return Count(n, window, window + window_s - now)

    def _prune(self, now: float) -> None:
        oldest = now - 2 * AUTH_WINDOW_S
        self._counts = {k: n for k, n in self._counts.items() if k[1] >= oldest}
        if len(self._counts) >= MAX_BUCKETS:
            self._counts.clear()


class PostgresCounter:
    """Counts shared by every process of a PostgreSQL store, in an UNLOGGED table.

    Windows follow the server's clock, so workers on several hosts agree.
    """

    shared = True

    def __init__(self, side: SideConnections) -> None:
        self._side = side
        self._next_prune = 0.0

    def prepare(self) -> None:
        """Make the table if it is not there (at start; two processes at once are fine)."""
        import psycopg

        ddl = (
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {TABLE} ("
            " bucket TEXT NOT NULL,"
            " window_start BIGINT NOT NULL,"
            " n INTEGER NOT NULL,"
            " PRIMARY KEY (bucket, window_start))"
        )
        for attempt in (1, 2):
            try:
                with self._side.connection() as conn:
                    conn.execute(ddl)
                return
            except (
                psycopg.errors.UniqueViolation,
                psycopg.errors.DuplicateTable,
                psycopg.errors.DuplicateObject,
            ):
                # Two processes made it in the same moment: IF NOT EXISTS does not
                # cover that race (it fails on the table's name, or on its row type
                # "already exists"); the table is there now.
                if attempt == 2:
                    raise

    def add(self, bucket: str, window_s: int, amount: int) -> Count:
        self._maybe_prune()
        with self._side.connection() as conn:
            row = conn.execute(
                f"INSERT INTO {TABLE} AS c (bucket, window_start, n) VALUES"
                " (%s, (floor(extract(epoch FROM clock_timestamp()) / %s) * %s)::bigint, %s)"
                " ON CONFLICT (bucket, window_start) DO UPDATE SET n = c.n + EXCLUDED.n"
                " RETURNING c.n, c.window_start, extract(epoch FROM clock_timestamp())",
                (bucket, window_s, window_s, amount),
            ).fetchone()
        n, window, now = int(row[0]), int(row[1]), float(row[2])
        return Count(n, window, window + window_s - now)

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY_S
        with self._side.connection() as conn:
            conn.execute(
                f"DELETE FROM {TABLE}"
                " WHERE window_start < extract(epoch FROM clock_timestamp()) - %s",
                (2 * AUTH_WINDOW_S,),
            )


@dataclass(frozen=True)
class Refusal:
    """A request refused by a limit: why, and in how many seconds to try again."""

    message: str
    retry_after_s: int


@dataclass(frozen=True)
class Ticket:
    """A key check let through; a refused key is counted with :meth:`RateLimits.key_was_refused`."""

    bucket: str | None = None


@dataclass
class _Lease:
    """Requests of one key this worker may serve until ``until`` (monotonic)."""

    window: int
    tokens: int
    until: float


def _seconds(left_s: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least one."""
    return max(1, math.ceil(left_s))


class RateLimits:
    """The service's two limits over a :class:`Counter`.

    Parameters
    ----------
    counter : Counter
    auth_failures_per_min : int
        Refused keys one address may present a minute; 0: no limit.
    key_requests_per_s : int
        Requests one key may make a second; 0: no budget.
    workers : int
        Processes sharing the counter (sizes a worker's lease of a key's budget).
    clock : callable
        Monotonic seconds, for the leases.
    """

    def __init__(
        self,
        counter: Counter,
        *,
        auth_failures_per_min: int,
        key_requests_per_s: int,
        workers: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counter = counter
        self.auth_failures_per_min = auth_failures_per_min
        self.key_requests_per_s = key_requests_per_s
        self.lease_size = max(1, key_requests_per_s // (4 * max(1, workers)))
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self._failing = False

    @property
    def shared(self) -> bool:
        """Whether the limits' calls do I/O (then they run off the event loop)."""
        return self.counter.shared

    def before_key_check(self, address: str) -> Ticket | Refusal:
        """A refusal when ``address`` is past its refused keys this minute, else a ticket.

        Only refused keys count (:meth:`key_was_refused`), never a check still
        running nor one this refuses: counting checks before they were made let
        a fleet behind one address, starting at once, be refused without a bad
        key, and counting the refusals kept it refused.  Checks running at once
        in several workers may pass the limit by as many as run at once.
        """
        limit = self.auth_failures_per_min
        if limit <= 0:
            return Ticket()
        bucket = f"auth:{address}"
        count = self._add(bucket, AUTH_WINDOW_S, 0)
        if count is None:
            return Ticket()
        if count.n >= limit:
            wait = _seconds(count.left_s)
            return Refusal(
                f"too many refused API keys from {address}: {limit} a minute "
                f"(COINVAL_AUTH_FAILURES_PER_MIN); no key from it is checked for the next "
                f"{wait} s",
                wait,
            )
        return Ticket(bucket)

    def key_was_refused(self, ticket: Ticket) -> None:
        """The key of ``ticket``'s check was refused: it counts against its address."""
        if ticket.bucket is None:
            return
        self._add(ticket.bucket, AUTH_WINDOW_S, 1)

    def spend(self, key_id: str) -> Refusal | None:
        """Count one request of ``key_id``; a refusal when its budget for the second is spent."""
        budget = self.key_requests_per_s
        if budget <= 0:
            return None
        if not self.counter.shared:
            count = self._add(f"key:{key_id}", KEY_WINDOW_S, 1)
            if count is None or count.n <= budget:
                return None
            return self._over_budget(key_id, count.left_s)
        return self._spend_leased(key_id, budget)

    def _spend_leased(self, key_id: str, budget: int) -> Refusal | None:
        now = self._clock()
        with self._lock:
            lease = self._leases.get(key_id)
            if lease is not None and now < lease.until:
                if lease.tokens > 0:
                    lease.tokens -= 1
                    return None
                if lease.tokens < 0:  # the window's budget is spent, everywhere
                    return self._over_budget(key_id, lease.until - now)
        take = self.lease_size
        count = self._add(f"key:{key_id}", KEY_WINDOW_S, take)
        if count is None:
            return None
        granted = min(take, budget - (count.n - take))
        until = now + count.left_s
        with self._lock:
            if len(self._leases) >= MAX_BUCKETS:
                self._leases.clear()
            lease = self._leases.get(key_id)
            if granted <= 0:
                self._leases[key_id] = _Lease(count.window, -1, until)
                return self._over_budget(key_id, count.left_s)
            if lease is not None and lease.window == count.window and lease.tokens > 0:
                granted += lease.tokens  # two threads of this worker leased at once
            self._leases[key_id] = _Lease(count.window, granted - 1, until)
        return None

    def _over_budget(self, key_id: str, left_s: float) -> Refusal:
        wait = _seconds(left_s)
        return Refusal(
            f"key {key_id} is over its budget of {self.key_requests_per_s} requests a second "
            f"(COINVAL_KEY_REQUESTS_PER_S): try again in {wait} s",
            wait,
        )

    def _add(self, bucket: str, window_s: int, amount: int) -> Count | None:
        try:
            count = self.counter.add(bucket, window_s, amount)
        except Exception as exc:
            self._trouble(exc)
            return None
        if self._failing:
            self._failing = False
            log.warning("rate limits counted again")
        return count

    def _trouble(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning("rate limits not counted (requests let through): %s", exc)
