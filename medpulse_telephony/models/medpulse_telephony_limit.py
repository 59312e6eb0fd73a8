"""The PBX request budget of every Odoo worker and the cron, kept in the database.

``mango_vpbx.VpbxClient`` asks a :class:`mango_vpbx.limits.LimitStore` before each
request: is the account blocked (after an invalid request, to avoid the PBX's
two-minute lockout), and is there a free slot in the PBX's rate limits. The
default store lives in one process's memory; Odoo runs several worker processes
and a cron, so :class:`DatabaseLimitStore` keeps that state in
``medpulse_telephony_limit`` and serialises it with PostgreSQL advisory locks.

Each operation runs in its own short transaction on a separate cursor, committed
at once: a slot taken must stay taken even when the business transaction that
asked for it rolls back (the request was sent anyway), and a lock must not be held
while that transaction goes on.

One request per account at a time (:meth:`DatabaseLimitStore.exclusive`): the client
holds an advisory lock of the account, on a connection of its own, from just before
it sends until the answer is recorded. A worker or the cron that wants to send
meanwhile waits for it, then sees the block a 3xxx answer left, so two requests can
never both be answered 3xxx (the second one would lock the account for two minutes).

Interactive first, batch work yields (issue 21): a store has a ``priority``. A person's
request (click-to-call, transfer, an SMS typed by a person) is ``interactive``; the
reminders' SMS are ``batch``. A batch request

- takes at most half of each rate-limit bucket (:func:`batch_capacity`), so an interactive
  request always finds a free slot and never sleeps for the rate behind a batch;
- never takes its account's turn while an interactive request waits for it: a waiting
  interactive request leaves a ``demand`` row (committed), and a batch request waits until
  no demand is left, and gives the turn back when one appeared while it queued for it.

So an interactive request waits for at most the one batch request already in flight.
"""

import time
import zlib
from contextlib import contextmanager

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.sql_db import db_connect
from odoo.tools import SQL

# First key of the two-key advisory locks, so ours never collide with other modules'.
_LOCK_NAMESPACE = 0x4D56  # "MV"

INTERACTIVE = "interactive"
BATCH = "batch"
PRIORITIES = [(INTERACTIVE, "Interactive"), (BATCH, "Batch")]
#: How often a batch request looks again whether the interactive ones are done (seconds).
_POLL_SECONDS = 0.02


def batch_capacity(capacity):
    """The slots of a bucket a batch request may use: half, at least one."""
    return max(1, capacity // 2)


def _lock_key(name):
    # crc32 is stable across processes and Python runs (hash() is salted); as a signed
    # 32-bit integer it fits PostgreSQL's int4 key.
    value = zlib.crc32(name.encode("utf-8"))
    return value - (1 << 32) if value >= (1 << 31) else value


class MedpulseTelephonyLimit(models.Model):
    """One grant of a rate-limit slot, or one "blocked until" time of a scope."""

    _name = "medpulse.telephony.limit"
    _description = "PBX request budget"
    _log_access = False

    key = fields.Char(required=True, index=True, help="Bucket (grants) or scope (blocks).")
    kind = fields.Selection(
        [("grant", "Grant"), ("block", "Block"), ("demand", "Interactive request waiting")],
        required=True,
    )
    at = fields.Float(
        required=True,
        digits=(16, 3),
        help="Seconds since the epoch: when the slot was granted, when the block ends, or "
        "until when an interactive request waits for its turn.",
    )

    @api.model
    def _limit_store(self, priority=INTERACTIVE):
        """The store to give ``mango_vpbx.VpbxClient(limiter=...)``, for requests of
        ``priority`` (``interactive`` or ``batch``, see the module)."""
        return DatabaseLimitStore(self.env.registry, priority=priority)


class DatabaseLimitStore:
    """A :class:`mango_vpbx.limits.LimitStore` in the Odoo database.

    ``registry`` is the Odoo registry of the database (its ``cursor()`` gives the
    separate transactions); ``clock`` is in seconds like :func:`time.time`, so
    tests can move time; ``priority`` is ``interactive`` (default) or ``batch``.
    """

    def __init__(self, registry, clock=time.time, priority=INTERACTIVE):
        if priority not in (INTERACTIVE, BATCH):
            raise ValueError(f"unknown priority {priority!r}")
        self.registry = registry
        self.clock = clock
        self.priority = priority

    def _transaction(self, names, work):
        with self.registry.cursor() as cr:
            # Sorted, so two workers locking the same buckets cannot deadlock.
            for name in sorted(set(names)):
                cr.execute(
                    SQL("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK_NAMESPACE, _lock_key(name))
                )
            return work(cr)

    def acquire(self, buckets):
        def work(cr):
            now = self.clock()
            wait = 0.0
            for name, capacity, period in buckets:
                if self.priority == BATCH:
                    capacity = batch_capacity(capacity)
                cr.execute(
                    SQL(
                        "DELETE FROM medpulse_telephony_limit "
                        "WHERE kind = 'grant' AND key = %s AND at <= %s",
                        name,
                        now - period,
                    )
                )
                cr.execute(
                    SQL(
                        "SELECT at FROM medpulse_telephony_limit WHERE kind = 'grant' AND key = %s "
                        "ORDER BY at DESC LIMIT %s",
                        name,
                        capacity,
                    )
                )
                rows = cr.fetchall()
                if len(rows) >= capacity:
                    wait = max(wait, rows[-1][0] + period - now)
            if wait > 0:
                return wait
            for name, _capacity, _period in buckets:
                cr.execute(
                    SQL(
                        "INSERT INTO medpulse_telephony_limit (key, kind, at) "
                        "VALUES (%s, 'grant', %s)",
                        name,
                        now,
                    )
                )
            return 0.0

        return float(self._transaction([name for name, _c, _p in buckets], work))

    def blocked_until(self, scope):
        with self.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT max(at) FROM medpulse_telephony_limit "
                    "WHERE kind = 'block' AND key = %s",
                    scope,
                )
            )
            until = cr.fetchone()[0]
        return until if until is not None and until > self.clock() else None

    def block(self, scope, until):
        def work(cr):
            cr.execute(
                SQL(
                    "SELECT max(at) FROM medpulse_telephony_limit "
                    "WHERE kind = 'block' AND key = %s",
                    scope,
                )
            )
            current = cr.fetchone()[0]
            end = max(until, current) if current is not None else until
            cr.execute(
                SQL("DELETE FROM medpulse_telephony_limit WHERE kind = 'block' AND key = %s", scope)
            )
            cr.execute(
                SQL(
                    "INSERT INTO medpulse_telephony_limit (key, kind, at) VALUES (%s, 'block', %s)",
                    scope,
                    end,
                )
            )
            return end

        return float(self._transaction([scope], work))

    @contextmanager
    def exclusive(self, scope, wait, hold):
        """Hold ``scope`` alone across every worker and the cron for a ``with`` block.

        A connection of its own, never the caller's transaction nor a test cursor: the
        lock lasts for an HTTP request, during which the PBX may call the webhook, which
        must not wait for it. PostgreSQL drops the lock if the worker dies (``hold`` only
        bounds how long a ``demand`` row counts); ``wait`` is the longest wait for the
        turn (:class:`TimeoutError` after it). An interactive request that has to wait
        says so (a ``demand`` row) until it has the turn; a batch request lets every such
        one go first (see the module).
        """
        cr = db_connect(self.registry.db_name).cursor()
        deadline = time.monotonic() + max(wait, 0.0)
        try:
            if self.priority == BATCH:
                self._take_after_interactive(cr, scope, deadline)
            elif not self._try_lock(cr, scope):
                demand = self._add_demand(scope, wait + hold)
                try:
                    self._lock(cr, scope, deadline)
                finally:
                    self._drop_demand(demand)
            yield
        finally:
            cr.close()  # rolls back: the lock goes with the transaction

    def interactive_waiting(self, scope):
        """Whether an interactive request waits for ``scope`` now."""
        with self.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT 1 FROM medpulse_telephony_limit "
                    "WHERE kind = 'demand' AND key = %s AND at > %s LIMIT 1",
                    scope,
                    self.clock(),
                )
            )
            return bool(cr.fetchone())

    def _take_after_interactive(self, cr, scope, deadline):
        while True:
            while self.interactive_waiting(scope):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{scope} is wanted by interactive requests")
                time.sleep(_POLL_SECONDS)
            self._lock(cr, scope, deadline)
            if not self.interactive_waiting(scope):
                return
            # An interactive request queued while this one did: give the turn back (the
            # lock goes to it, PostgreSQL grants waiters in order) and wait again.
            cr.rollback()

    @staticmethod
    def _try_lock(cr, scope):
        cr.execute(
            SQL("SELECT pg_try_advisory_xact_lock(%s, %s)", _LOCK_NAMESPACE, _lock_key(scope))
        )
        return cr.fetchone()[0]

    @staticmethod
    def _lock(cr, scope, deadline):
        # 0 would mean "wait forever"; the setting is the transaction's, set again each time.
        timeout_ms = max(1, int((deadline - time.monotonic()) * 1000))
        cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", f"{timeout_ms}ms"))
        try:
            cr.execute(
                SQL("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK_NAMESPACE, _lock_key(scope)),
                log_exceptions=False,
            )
        except pg_errors.LockNotAvailable:
            raise TimeoutError(f"{scope} is held by another request") from None

    def _add_demand(self, scope, seconds):
        def work(cr):
            now = self.clock()
            cr.execute(
                SQL("DELETE FROM medpulse_telephony_limit WHERE kind = 'demand' AND at <= %s", now)
            )
            cr.execute(
                SQL(
                    "INSERT INTO medpulse_telephony_limit (key, kind, at) "
                    "VALUES (%s, 'demand', %s) RETURNING id",
                    scope,
                    now + seconds,
                )
            )
            return cr.fetchone()[0]

        return self._transaction([], work)

    def _drop_demand(self, demand_id):
        def work(cr):
            cr.execute(SQL("DELETE FROM medpulse_telephony_limit WHERE id = %s", demand_id))

        self._transaction([], work)
