"""Odoo's cron workers woken through the connection each process keeps for the bus, and
woken once per transaction.

``ir.cron._trigger`` wakes the cron workers after the commit by a ``NOTIFY
cron_trigger`` on the ``postgres`` database, through a new connection each time (Odoo's
pool never keeps one to ``postgres``): the webhook triggers a cron for most recordings
and settled calls (downloads, the PBX's topics and sources), so about one PBX event in
three paid for a PostgreSQL backend's start-up. The same NOTIFY, with Odoo's payload,
goes through the connection ``models/bus_bus.py`` keeps (``_NOTIFY``).

A transaction that folds several calls (the folder, ``controllers/webhook.py``) would
trigger the same cron for each of their events: one row of ``ir.cron.trigger`` each
(and a read of the cron), for one wake-up after the commit. A trigger the transaction
already made (the same cron at the same second, or due now when one due now was made)
is made once (:meth:`IrCron._trigger_list`). The crons the webhook wakes are found by
their XML id through Odoo's cached lookup (:meth:`IrCron._medpulse_trigger`), not
``env.ref``, whose check that the record exists is a query at each wake.
"""

import logging

from odoo import api, fields, models

from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION

from .bus_bus import _NOTIFY

_logger = logging.getLogger(__name__)

#: The transaction's precommit data: the crons' triggers it made, ``(cron id, moment)``.
TRIGGERED_KEY = "medpulse_telephony.cron_triggered"


class IrCron(models.Model):
    _inherit = "ir.cron"

    def _notifydb(self):
        """Odoo's (``odoo/addons/base/models/ir_cron.py``), through the kept connection."""
        _NOTIFY.notify([self.env.cr.dbname], channel="cron_trigger", function=ODOO_NOTIFY_FUNCTION)
        _logger.debug("cron workers notified")

    @api.model
    def _medpulse_trigger(self, xmlid, at=None):
        """Wake the cron of ``xmlid`` (``at``: when; now by default), if it exists.

        ``ir.model.data``'s cached lookup, without ``env.ref``'s query of the cron's row:
        deleting a cron deletes its XML id, which clears that cache."""
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id(xmlid, raise_if_not_found=False)
        if cron_id:
            self.browse(cron_id).sudo()._trigger(at)

    def _trigger_list(self, at_list):
        """Odoo's, less the triggers this transaction already made: ``ir.cron.trigger``
        keeps its moment to the second, and any trigger due now wakes the cron workers
        after the commit, so one per cron and second, or one due now, is enough. What
        was made is kept in the transaction's precommit data, which a rollback, of a
        savepoint too, clears (``odoo.sql_db.BaseCursor.clear``): a trigger whose row
        was rolled back is made again."""
        self.ensure_one()
        now = fields.Datetime.now()
        made = self.env.cr.precommit.data.setdefault(TRIGGERED_KEY, set())
        fresh = []
        for at in at_list:
            key = (self.id, "due" if at <= now else at.replace(microsecond=0))
            if key not in made:
                made.add(key)
                fresh.append(at)
        if not fresh:
            return self.env["ir.cron.trigger"]
        return super()._trigger_list(fresh)
