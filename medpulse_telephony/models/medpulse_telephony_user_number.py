from odoo import api, fields, models


class MedpulseTelephonyUserNumber(models.Model):
    """A device an operator answers on: desk SIP phone, softphone, mobile.

    The PBX sometimes rings a leg with only ``to.number`` (no extension): this is how
    such a leg is matched to its operator.
    """

    _name = "medpulse.telephony.user.number"
    _description = "Operator's PBX number"
    _order = "user_id, sequence, id"
    _rec_name = "number"

    user_id = fields.Many2one("res.users", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    sequence = fields.Integer(default=10)
    number = fields.Char(required=True, help="As the PBX knows it: digits or a SIP URI.")
    kind = fields.Selection(
        [
            ("desk", "Desk phone"),
            ("softphone", "Softphone"),
            ("mobile", "Mobile"),
            ("other", "Other"),
        ],
        default="other",
        required=True,
    )
    number_e164 = fields.Char(
        string="Number (E.164)", compute="_compute_number_key", store=True, index="btree_not_null"
    )
    number_key = fields.Char(
        compute="_compute_number_key", store=True, index=True,
        help="What a ringing leg's to.number is compared with: E.164 for phone numbers, "
        "the lower-cased URI for SIP addresses.",
    )

    _sql_constraints = [
        (
            "number_user_uniq",
            "UNIQUE(user_id, number)",
            "This number is already listed for this user.",
        ),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        numbers = super().create(vals_list)
        self.env["res.users"]._medpulse_pbx_directory_changed()
        return numbers

    def write(self, vals):
        result = super().write(vals)
        self.env["res.users"]._medpulse_pbx_directory_changed()
        return result

    def unlink(self):
        result = super().unlink()
        self.env["res.users"]._medpulse_pbx_directory_changed()
        return result

    @api.depends("number", "company_id.medpulse_pbx_default_region")
    def _compute_number_key(self):
        for rec in self:
            rec.number_e164, rec.number_key = self._number_keys(rec.company_id, rec.number)

    @api.model
    def _number_keys(self, company, number):
        """(E.164 or False, matching key or False) of a number as the PBX sends it."""
        if not number:
            return False, False
        number = number.strip()
        if number.lower().startswith("sip:") or "@" in number:
            return False, number.lower()
        e164 = company._medpulse_pbx_normalize(number)
        return e164, e164 or number
