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
    kind = fields.Selection([("grant", "Grant"), ("block", "Block")], required=True)
    at = fields.Float(
        required=True,
        digits=(16, 3),
        help="Seconds since the epoch: when the slot was granted, or when the block ends.",
    )

    @api.model
    def _limit_store(self):
        """The store to give ``mango_vpbx.VpbxClient(limiter=...)``."""
        return DatabaseLimitStore(self.env.registry)


class DatabaseLimitStore:
    """A :class:`mango_vpbx.limits.LimitStore` in the Odoo database.

    ``registry`` is the Odoo registry of the database (its ``cursor()`` gives the
    separate transactions); ``clock`` is in seconds like :func:`time.time`, so
    tests can move time.
    """

    def __init__(self, registry, clock=time.time):
        self.registry = registry
        self.clock = clock

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
        must not wait for it. PostgreSQL drops the lock if the worker dies (``hold`` is
        not needed); ``wait`` becomes the lock timeout (:class:`TimeoutError` after it).
        """
        cr = db_connect(self.registry.db_name).cursor()
        try:
            timeout_ms = max(1, int(wait * 1000))  # 0 would mean "wait forever"
            cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", f"{timeout_ms}ms"))
            try:
                cr.execute(
                    SQL("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK_NAMESPACE, _lock_key(scope)),
                    log_exceptions=False,
                )
            except pg_errors.LockNotAvailable:
                raise TimeoutError(f"{scope} is held by another request") from None
            yield
        finally:
            cr.close()  # rolls back: the lock goes with the transaction
