"""The bus's NOTIFY through a connection each process keeps.

Odoo's bus (``bus.bus._ensure_hooks``) tells the websocket process that a transaction's
messages are committed by a ``NOTIFY imbus`` on the ``postgres`` database, through a new
connection each time: Odoo's pool never keeps a connection to ``postgres``
(``odoo.sql_db.Cursor._close``). So every transaction that sent a bus message started a
PostgreSQL backend and logged in (about 3 ms of the worker and a backend's start-up for
PostgreSQL): most PBX events send one (a card, the journal's lists, a command's
progress). Here the same NOTIFY goes through one connection per process, opened on first
use, reopened once if it broke (PostgreSQL restarted) and never shared with a forked
child. What is written and notified, and when, is Odoo's: the messages are inserted
before the commit, the NOTIFY sent after it. Odoo's cron workers are woken the same way
(``models/ir_cron.py``): a PBX event that announces a recording or a settled call
triggers the cron that downloads it or asks the PBX about it.
"""

import logging
import os
import threading

import psycopg2

from odoo import models, sql_db
from odoo.tools import SQL
from odoo.tools.misc import OrderedSet

from odoo.addons.bus.models.bus import ODOO_NOTIFY_FUNCTION, get_notify_payloads

_logger = logging.getLogger(__name__)


class _KeptNotifyConnection:
    """The connection to the ``postgres`` database this process sends the bus's NOTIFY
    through (autocommit: each NOTIFY is delivered at once)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cnx = None
        self._pid = None
        #: Connections opened by this process (a test reads it).
        self.opened = 0

    def notify(self, payloads, channel="imbus", function=ODOO_NOTIFY_FUNCTION):
        """``SELECT function(channel, payload)`` for each payload: Odoo's bus (``imbus``)
        or its cron workers' wake-up (``cron_trigger``, ``models/ir_cron.py``)."""
        if not payloads:
            return
        with self._lock:
            for attempt in (1, 2):
                try:
                    with self._connection().cursor() as cr:
                        for payload in payloads:
                            query = SQL(
                                "SELECT %s(%s, %s)",
                                SQL.identifier(function), channel, payload,
                            )
                            cr.execute(query.code, query.params)
                    return
                except (psycopg2.OperationalError, psycopg2.InterfaceError):
                    self._forget()
                    if attempt == 2:
                        raise

    def _connection(self):
        if self._cnx is None or self._cnx.closed or self._pid != os.getpid():
            # A connection inherited from the parent process is its, not ours: left
            # alone (closing it would end the parent's session).
            _dbname, info = sql_db.connection_info_for("postgres")
            self._cnx = psycopg2.connect(**info)
            self._cnx.autocommit = True
            self._pid = os.getpid()
            self.opened += 1
        return self._cnx

    def _forget(self):
        if self._cnx is not None and self._pid == os.getpid() and not self._cnx.closed:
            try:
                self._cnx.close()
            except psycopg2.Error:
                _logger.debug("The bus's NOTIFY connection was already broken")
        self._cnx = None


_NOTIFY = _KeptNotifyConnection()


class BusBus(models.Model):
    _inherit = "bus.bus"

    def _ensure_hooks(self):
        """Odoo's (``addons/bus/models/bus.py``): the transaction's messages inserted
        before its commit, one NOTIFY of their channels after it; the NOTIFY through this
        process's kept connection (``_NOTIFY``) instead of a new one each time."""
        cr = self.env.cr
        if "bus.bus.values" not in cr.precommit.data:
            cr.precommit.data["bus.bus.values"] = []

            @cr.precommit.add
            def create_bus():
                self.sudo().create(cr.precommit.data.pop("bus.bus.values"))

        if "bus.bus.channels" not in cr.postcommit.data:
            cr.postcommit.data["bus.bus.channels"] = OrderedSet()

            @cr.postcommit.add
            def notify():
                channels = list(cr.postcommit.data.pop("bus.bus.channels"))
                _NOTIFY.notify(get_notify_payloads(channels))
