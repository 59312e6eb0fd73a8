from odoo import models

import mango_vpbx


class MedpulseCallEvent(models.Model):
    _inherit = "medpulse.call.event"

    def _apply(self, event):
        """Also route ``result/<command>`` notifications to the command they answer."""
        super()._apply(event)
        if not self.entry_id and isinstance(event, mango_vpbx.events.CommandResult):
            self.env["medpulse.call.command"].sudo()._on_result(self.company_id, event)
