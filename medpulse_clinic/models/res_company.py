from odoo import fields, models


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
        self.ensure_one()
        return self.medpulse_phone_country_id.code or "RU"
