from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class ResUsers(models.Model):
    _inherit = "res.users"

    pbx_extension = fields.Char(
        string="PBX extension",
        copy=False,
        index="btree_not_null",
        help="The user's short number on the PBX, as a string: leading zeros matter (0511).",
    )
    pbx_user_id = fields.Char(string="PBX user id", copy=False, help="The employee's user_id in the PBX.")
    pbx_number_ids = fields.One2many(
        "medpulse.telephony.user.number", "user_id", string="PBX numbers",
        help="Devices the PBX rings for this user: desk SIP phone, softphone, mobile.",
    )

    _sql_constraints = [
        (
            "pbx_extension_company_uniq",
            "UNIQUE(company_id, pbx_extension)",
            "Another user of this company already has this PBX extension.",
        ),
    ]

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + ["pbx_extension", "pbx_user_id", "pbx_number_ids"]

    @api.constrains("pbx_extension")
    def _check_pbx_extension(self):
        for user in self:
            if user.pbx_extension and not user.pbx_extension.isdigit():
                raise ValidationError(
                    _("A PBX extension is made of digits only (got %s).", user.pbx_extension)
                )

    @api.model
    def _find_pbx_operators(self, company, extensions=(), numbers=()):
        """Users of ``company`` matching PBX extensions or device numbers.

        A leg rings an operator by extension; when the PBX sends no extension, by the
        number of one of the operator's devices (``medpulse.telephony.user.number``).
        """
        users = self.browse()
        extensions = [ext for ext in extensions if ext]
        if extensions:
            users |= self.sudo().with_context(active_test=False).search(
                [("pbx_extension", "in", extensions), ("company_ids", "in", company.ids)]
            )
        keys = [
            key
            for key in (
                self.env["medpulse.telephony.user.number"]._number_keys(company, number)[1]
                for number in numbers
            )
            if key
        ]
        if keys:
            users |= self.env["medpulse.telephony.user.number"].sudo().search(
                [("number_key", "in", keys), ("company_id", "=", company.id)]
            ).user_id
        return users.with_env(self.env)

    @api.model
    def _find_pbx_operator(self, company, extension=None, number=None):
        """The one operator of a PBX party: by extension first, else by device number."""
        if extension:
            user = self._find_pbx_operators(company, extensions=[extension])
            if user:
                return user[:1]
        if number:
            return self._find_pbx_operators(company, numbers=[number])[:1]
        return self.browse()
