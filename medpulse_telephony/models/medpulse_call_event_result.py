import logging

from odoo import models

import mango_vpbx

from .medpulse_call_event import _is_concurrency_error

_logger = logging.getLogger(__name__)


class MedpulseCallEvent(models.Model):
    _inherit = "medpulse.call.event"

    def _process(self, event):
        """Also route ``result/<command>`` notifications to the command they answer."""
        super()._process(event)
        if self.state != "processed" or self.entry_id or not isinstance(event, mango_vpbx.CommandResult):
            return
        try:
            with self.env.cr.savepoint():
                self.env["medpulse.call.command"].sudo()._on_result(self.company_id, event)
        except Exception as error:  # noqa: BLE001 - the stored event must survive any bug
            if _is_concurrency_error(error):
                raise
            _logger.exception("Could not apply PBX command result %s", self.id)
            self.write({"state": "error", "error": str(error)})
