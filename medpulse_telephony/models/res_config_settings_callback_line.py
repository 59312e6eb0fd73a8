from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    mango_callback_line_id = fields.Many2one(
        related="company_id.mango_callback_line_id",
        readonly=False,
    )
