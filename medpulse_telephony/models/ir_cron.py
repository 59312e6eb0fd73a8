"""Odoo's cron workers woken through the connection each process keeps for the bus.

``ir.cron._trigger`` wakes the cron workers after the commit by a ``NOTIFY
cron_trigger`` on the ``postgres`` database, through a new connection each time (Odoo's
pool never keeps one to ``postgres``): the webhook triggers a cron for most recordings
and settled calls (downloads, the PBX's topics and sources), so about one PBX event in
three paid for a PostgreSQL backend's start-up. The same NOTIFY, with Odoo's payload,
goes through the connection ``models/bus_bus.py`` keeps (``_NOTIFY``).
"""

import logging

from odoo import models

from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION

from .bus_bus import _NOTIFY

_logger = logging.getLogger(__name__)


class IrCron(models.Model):
    _inherit = "ir.cron"

    def _notifydb(self):
        """Odoo's (``odoo/addons/base/models/ir_cron.py``), through the kept connection."""
        _NOTIFY.notify([self.env.cr.dbname], channel="cron_trigger", function=ODOO_NOTIFY_FUNCTION)
        _logger.debug("cron workers notified")
