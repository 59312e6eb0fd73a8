from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    pbx_callback_line_id = fields.Many2one(
        "medpulse.telephony.line",
        string="Line for my calls",
        help="The clinic number patients see when this user calls them from Odoo; "
        "overrides the company's line for click-to-call.",
    )

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + ["pbx_callback_line_id"]
