from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    mango_callback_line_id = fields.Many2one(
        "medpulse.telephony.line",
        string="Line for click-to-call",
        domain="[('company_id', '=', id)]",
        help="The clinic number patients see when an operator calls them from Odoo. "
        "Empty: the PBX uses each employee's outgoing line.",
    )
