from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    mango_recording_retention_days = fields.Integer(
        related="company_id.mango_recording_retention_days",
        readonly=False,
    )
