from odoo import api, models
from odoo.osv import expression

RECORDING_MODEL = "medpulse.call.recording"


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None):
        """Hide the audio of call recordings from everybody but administrators.

        An attachment is readable by whoever can read its record, so a user allowed to
        listen could fetch the file by id through ``/web/content`` or RPC, unlogged.
        Reading goes through this search in 18.0 (``fetch`` filters ids with it), so
        excluding the files here leaves the audio controller, which logs every access
        and reads the file as superuser, the only way to them.
        """
        if not self.env.su and not self.env.is_system():
            domain = expression.AND([domain, [("res_model", "!=", RECORDING_MODEL)]])
        return super()._search(domain, offset, limit, order)
