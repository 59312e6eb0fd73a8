from odoo import fields, models


class ResCompany(models.Model):
    """Where the reconciliation with the PBX's statistics stands, per PBX account."""

    _inherit = "res.company"

    mango_reconciled_until = fields.Datetime(
        string="Reconciled with the PBX until", readonly=True, copy=False,
        help="The journal was compared with the PBX's statistics up to this moment; the next "
        "reconciliation starts here, however long ago it was.",
    )
    mango_last_error = fields.Text(string="Last PBX error", readonly=True, copy=False)
    mango_last_error_at = fields.Datetime(string="Last PBX error at", readonly=True, copy=False)

    def _mango_record_error(self, message):
        """Remember a failure of a background request to the PBX for the health screen."""
        self.sudo().write({"mango_last_error": message, "mango_last_error_at": fields.Datetime.now()})
