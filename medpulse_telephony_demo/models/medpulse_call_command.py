""""Ring me" is a PBX command like the others: a kind of its own in the command log."""

from odoo import fields, models


class MedpulseCallCommand(models.Model):
    _inherit = "medpulse.call.command"

    kind = fields.Selection(
        selection_add=[("ring_me", "Ring me (PBX emulator)")],
        ondelete={"ring_me": "cascade"},
    )
