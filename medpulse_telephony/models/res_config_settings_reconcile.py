from odoo import api, fields, models

CRON_XMLID = "medpulse_telephony.ir_cron_medpulse_call_reconcile"


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    mango_reconcile_minutes = fields.Integer(
        string="Reconcile every (minutes)", default=15,
        help="How often the journal is compared with the PBX's call statistics.",
    )

    @api.model
    def get_values(self):
        res = super().get_values()
        cron = self.env.ref(CRON_XMLID, raise_if_not_found=False)
        if cron:
            factor = {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080, "months": 43200}
            res["mango_reconcile_minutes"] = cron.sudo().interval_number * factor.get(cron.sudo().interval_type, 1)
        return res

    def set_values(self):
        super().set_values()
        cron = self.env.ref(CRON_XMLID, raise_if_not_found=False)
        minutes = max(self.mango_reconcile_minutes, 1)
        if cron and (cron.sudo().interval_type, cron.sudo().interval_number) != ("minutes", minutes):
            cron.sudo().write({"interval_type": "minutes", "interval_number": minutes})
