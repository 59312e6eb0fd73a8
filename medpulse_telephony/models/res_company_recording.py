from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    mango_recording_retention_days = fields.Integer(
        string="Keep call recordings (days)",
        default=180,
        help="The audio of older recordings is deleted, their access log is kept. "
        "Recordings marked 'Keep' are exempt. 0 keeps recordings forever.",
    )

    _sql_constraints = [
        (
            "mango_recording_retention_days_positive",
            "CHECK(mango_recording_retention_days >= 0)",
            "The retention period of call recordings cannot be negative.",
        ),
    ]
