import logging

from odoo import api, models

import mango_vpbx

from .medpulse_call_event import _is_concurrency_error

_logger = logging.getLogger(__name__)


class MedpulseCallEvent(models.Model):
    _inherit = "medpulse.call.event"

    @api.model
    def _receive(self, company, path, json_str):
        """Also route ``result/<command>`` notifications to the command they answer."""
        record = super()._receive(company, path, json_str)
        if not record or record.state != "processed" or record.entry_id:
            return record
        try:
            event = mango_vpbx.parse_event(path, json_str)
        except mango_vpbx.EventError:
            return record
        if isinstance(event, mango_vpbx.CommandResult):
            try:
                with self.env.cr.savepoint():
                    self.env["medpulse.call.command"].sudo()._on_result(company, event)
            except Exception as error:  # noqa: BLE001 - the stored event must survive any bug
                if _is_concurrency_error(error):
                    raise
                _logger.exception("Could not apply PBX command result %s", record.id)
                record.write({"state": "error", "error": str(error)})
        return record
