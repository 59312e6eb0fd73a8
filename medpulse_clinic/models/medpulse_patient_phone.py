from odoo import api, fields, models

import mango_vpbx


class MedpulsePatientPhone(models.Model):
    _name = "medpulse.patient.phone"
    _description = "Patient Phone Number"
    _order = "patient_id, sequence, id"
    _rec_name = "number"

    patient_id = fields.Many2one(
        "medpulse.patient", required=True, ondelete="cascade", index=True,
    )
    company_id = fields.Many2one(
        related="patient_id.company_id", store=True, index=True, string="Company",
    )
    sequence = fields.Integer(default=10)
    number = fields.Char(
        required=True, help="The number as it was given, in any format.",
    )
    # Caller identification is an equality search on this column, hence the index.
    number_e164 = fields.Char(
        string="Normalised Number", compute="_compute_number_e164", store=True, index=True,
        help="The number in international E.164 format (+79161234567), used to recognise "
        "callers. Empty when the number cannot be understood.",
    )
    label = fields.Selection(
        [
            ("own", "Own"),
            ("relative", "Relative"),
            ("work", "Work"),
            ("other", "Other"),
        ],
        default="own", required=True,
    )
    relative_name = fields.Char(
        string="Whose Number", help="Who answers this number, when it is not the patient's own.",
    )

    @api.model
    def _normalize(self, raw, company=None):
        """Return ``raw`` as E.164 or None, the way the PBX side does.

        One normaliser for the whole product (``mango_vpbx``), so a number typed
        here and the number the PBX sends always meet on the same string.
        """
        if not raw:
            return None
        company = company or self.env.company
        return mango_vpbx.phones.normalize_number(
            raw, default_region=company._medpulse_phone_region()
        )

    @api.depends("number", "patient_id.company_id")
    def _compute_number_e164(self):
        for phone in self:
            phone.number_e164 = phone._normalize(phone.number, phone.patient_id.company_id) or False
