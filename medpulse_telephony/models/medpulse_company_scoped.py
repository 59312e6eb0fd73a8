from odoo import _, api, models
from odoo.exceptions import AccessError


class MedpulseCompanyScoped(models.AbstractModel):
    """Wizards and screens that work on the data of one company (``company_id``).

    The company must be one of the user's allowed companies, checked by the server when
    the record is created or its company changes, and by every action before it reads:
    a field shown read-only is no guarantee (a client sends any value over RPC), and
    these screens read their company's data as superuser (the PBX account, the
    statistics' patients, counts).
    """

    _name = "medpulse.company.scoped"
    _description = "Data of one of the user's companies"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        records._check_allowed_company()
        return records

    def write(self, vals):
        result = super().write(vals)
        if "company_id" in vals:
            self._check_allowed_company()
        return result

    def _check_allowed_company(self):
        """Raise unless every record's company is one the user works in now."""
        if self.env.su:
            return
        allowed = self.env.companies
        if any(record.company_id not in allowed for record in self):
            raise AccessError(_("This company is not one of the companies you are working in."))
