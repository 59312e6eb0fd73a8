from odoo import api, fields, models, tools


class ResCompany(models.Model):
    _inherit = "res.company"

    # Not the company's own country: a clinic's patients give local numbers whatever
    # country its accounting lives in, and the PBX side reads numbers the same way.
    medpulse_phone_country_id = fields.Many2one(
        "res.country", string="Country of Phone Numbers",
        default=lambda self: self.env.ref("base.ru", raise_if_not_found=False),
        help="Numbers typed or received without a country code are read as numbers of "
        "this country.",
    )

    # Issue 21: what "Agrees to SMS" of a new patient is. Off unless the clinic
    # collects the consent at registration.
    medpulse_consent_sms_default = fields.Boolean(
        string="New Patients Agree to SMS",
        help="Whether a new patient's \"Agrees to SMS\" is ticked when the patient is "
        "created. Tick it only when the registration form collects this consent.",
    )

    def _medpulse_phone_region(self):
        """Country code of the numbers written without one (``medpulse_phone_country_id``).

        Kept per worker: every PBX event normalises numbers with it, and reading it
        would otherwise fetch the whole company row (and its country) in each of the
        webhook's transactions. A change of the setting clears it (:meth:`write`).
        """
        self.ensure_one()
        return self._medpulse_phone_region_of(self.id)

    @api.model
    @tools.ormcache("company_id")
    def _medpulse_phone_region_of(self, company_id):
        return self.sudo().browse(company_id).medpulse_phone_country_id.code or "RU"

    def write(self, vals):
        result = super().write(vals)
        if "medpulse_phone_country_id" in vals:
            self.env.registry.clear_cache()
        return result
