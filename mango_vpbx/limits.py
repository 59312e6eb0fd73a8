"""Rate limits and the invalid-request lockout, kept in a store shared by every client.

The PBX limits request rates per command (:data:`RATE_LIMITS`) and, worse,
locks the whole account for two minutes when a second request within two
minutes is answered with a 3xxx code (bad request). Several Odoo workers and
the cron talk to one PBX account, so the budget must be shared: the client
keeps it in a :class:`LimitStore`. :class:`MemoryLimitStore` serves one
process, :class:`SqliteLimitStore` several processes on one machine, and the
Odoo layer provides one in its database.

A store knows nothing of HTTP: it grants slots in sliding windows, all-or-nothing
for several buckets at once, remembers "blocked until" times per scope, and lets
one client at a time hold a scope (:meth:`LimitStore.exclusive`). All three must
be atomic across the clients that share the store. Every store takes a ``clock``
(seconds, like :func:`time.time`) so tests can move time.

Why one request at a time: the "blocked until" of a 3xxx answer only protects
requests sent *after* that answer. Two requests in flight at once (two workers,
a worker and the cron) can both be answered 3xxx, and the second 3xxx within two
minutes locks the account. The client therefore holds its account's
``in-flight`` scope from just before sending until the answer is recorded.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable

__all__ = ["Bucket", "RATE_LIMITS", "ANY_REQUEST", "LimitStore", "MemoryLimitStore",
           "SqliteLimitStore", "buckets_for"]

#: ``(name, capacity, period in seconds)``: at most ``capacity`` grants per ``period``.
Bucket = tuple[str, int, float]

#: Key of the limit that applies to every request.
ANY_REQUEST = "*"

#: Per-account limits of the PBX (specification §1.4): path -> (capacity, period).
RATE_LIMITS: dict[str, tuple[int, float]] = {
    ANY_REQUEST: (10, 1.0),
    "commands/callback": (4, 1.0),
    "commands/call/hangup": (4, 1.0),
    "commands/recording/start": (4, 1.0),
    "queries/recording/post": (10, 1.0),
    "config/users/request": (1, 2.0),
    "account/balance": (2, 1.0),
    "commands/transfer": (1, 2.0),
    "stats/request": (1, 2.0),
    "stats/result": (50, 1.0),
    "commands/route": (1, 2.0),
}


def buckets_for(account: str, path: str) -> list[Bucket]:
    """The buckets a request to ``path`` must get a slot in, for one account."""
    buckets = [(f"{account}:{ANY_REQUEST}", *RATE_LIMITS[ANY_REQUEST])]
    if path in RATE_LIMITS:
        buckets.append((f"{account}:{path}", *RATE_LIMITS[path]))
    return buckets


@runtime_checkable
class LimitStore(Protocol):
    """Where the rate-limit and lockout state of PBX accounts lives."""

    clock: Callable[[], float]

    def acquire(self, buckets: Sequence[Bucket]) -> float:
        """Take one slot in every bucket, atomically and all-or-nothing.

        Return ``0.0`` when granted, else the seconds to wait before a slot frees
        in the fullest bucket (nothing is taken then).
        """
        ...

    def blocked_until(self, scope: str) -> float | None:
        """The clock time until which ``scope`` is blocked, or ``None`` when it is not."""
        ...

    def block(self, scope: str, until: float) -> float:
        """Block ``scope`` until ``until`` (or longer if already blocked longer); return the end."""
        ...

    def exclusive(self, scope: str, wait: float, hold: float) -> AbstractContextManager[None]:
        """Hold ``scope`` alone, among every client of the store, for a ``with`` block.

        Waits at most ``wait`` seconds (real time) for the current holder to leave,
        then raises :class:`TimeoutError`. ``hold`` is the longest the block can
        last: a store shared by processes forgets a holder that died without
        leaving after that long (by its ``clock``).
        """
        ...


def _poll(try_once: Callable[[], bool], wait: float, scope: str) -> None:
    """Call ``try_once`` until it succeeds, for at most ``wait`` seconds of real time."""
    deadline = time.monotonic() + max(wait, 0.0)
    while not try_once():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{scope} is held by another request")
        time.sleep(min(0.02, remaining))


class MemoryLimitStore:
    """A thread-safe store for the clients of one process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._grants: dict[str, deque[float]] = {}
        self._blocks: dict[str, float] = {}
        self._holders: dict[str, threading.Lock] = {}

    def acquire(self, buckets: Sequence[Bucket]) -> float:
        with self._lock:
            now = self.clock()
            wait = 0.0
            for name, capacity, period in buckets:
                grants = self._grants.setdefault(name, deque())
                while grants and grants[0] <= now - period:
                    grants.popleft()
                if len(grants) >= capacity:
                    wait = max(wait, grants[len(grants) - capacity] + period - now)
            if wait > 0:
                return wait
            for name, _capacity, _period in buckets:
                self._grants[name].append(now)
            return 0.0

    def blocked_until(self, scope: str) -> float | None:
        with self._lock:
            until = self._blocks.get(scope)
            return until if until is not None and until > self.clock() else None

    def block(self, scope: str, until: float) -> float:
        with self._lock:
            self._blocks[scope] = max(until, self._blocks.get(scope, until))
            return self._blocks[scope]

    @contextmanager
    def exclusive(self, scope: str, wait: float, hold: float) -> Iterator[None]:
        with self._lock:
            holder = self._holders.setdefault(scope, threading.Lock())
        if not holder.acquire(timeout=max(wait, 0.0)):
            raise TimeoutError(f"{scope} is held by another request")
        try:
            yield
        finally:
            holder.release()


class SqliteLimitStore:
    """A store in an SQLite file, shared by the processes of one machine.

    Each operation is one ``BEGIN IMMEDIATE`` transaction, so concurrent
    processes see a consistent budget.
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.time,
                 timeout: float = 10.0) -> None:
        self.path = path
        self.clock = clock
        self.timeout = timeout
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vpbx_grant (bucket TEXT NOT NULL, at REAL NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS vpbx_grant_bucket ON vpbx_grant (bucket, at)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vpbx_block "
                "(scope TEXT PRIMARY KEY, until REAL NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vpbx_holder "
                "(scope TEXT PRIMARY KEY, holder TEXT NOT NULL, until REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)

    def _transaction(self, work: Callable[[sqlite3.Connection], object]) -> object:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        finally:
            conn.close()

    def acquire(self, buckets: Sequence[Bucket]) -> float:
        def work(conn: sqlite3.Connection) -> float:
            now = self.clock()
            wait = 0.0
            for name, capacity, period in buckets:
                conn.execute("DELETE FROM vpbx_grant WHERE bucket = ? AND at <= ?",
                             (name, now - period))
                rows = conn.execute(
                    "SELECT at FROM vpbx_grant WHERE bucket = ? ORDER BY at DESC LIMIT ?",
                    (name, capacity),
                ).fetchall()
                if len(rows) >= capacity:
                    wait = max(wait, rows[-1][0] + period - now)
            if wait > 0:
                return wait
            conn.executemany("INSERT INTO vpbx_grant (bucket, at) VALUES (?, ?)",
                             [(name, now) for name, _c, _p in buckets])
            return 0.0

        return float(self._transaction(work))  # type: ignore[arg-type]

    def blocked_until(self, scope: str) -> float | None:
        conn = self._connect()
        try:
            row = conn.execute("SELECT until FROM vpbx_block WHERE scope = ?", (scope,)).fetchone()
        finally:
            conn.close()
        return row[0] if row and row[0] > self.clock() else None

    def block(self, scope: str, until: float) -> float:
        def work(conn: sqlite3.Connection) -> float:
            conn.execute(
                "INSERT INTO vpbx_block (scope, until) VALUES (?, ?) ON CONFLICT(scope) "
                "DO UPDATE SET until = MAX(until, excluded.until)",
                (scope, until),
            )
            return conn.execute("SELECT until FROM vpbx_block WHERE scope = ?",
                                (scope,)).fetchone()[0]

        return float(self._transaction(work))  # type: ignore[arg-type]

    @contextmanager
    def exclusive(self, scope: str, wait: float, hold: float) -> Iterator[None]:
        # A row per held scope, not a held SQLite transaction: that would stop the
        # holder's own block() (another connection) until the end of its request.
        me = uuid.uuid4().hex

        def take(conn: sqlite3.Connection) -> bool:
            now = self.clock()
            conn.execute("DELETE FROM vpbx_holder WHERE scope = ? AND until <= ?", (scope, now))
            inserted = conn.execute(
                "INSERT OR IGNORE INTO vpbx_holder (scope, holder, until) VALUES (?, ?, ?)",
                (scope, me, now + hold),
            )
            return inserted.rowcount == 1

        _poll(lambda: bool(self._transaction(take)), wait, scope)
        try:
            yield
        finally:
            self._transaction(lambda conn: conn.execute(
                "DELETE FROM vpbx_holder WHERE scope = ? AND holder = ?", (scope, me)))
