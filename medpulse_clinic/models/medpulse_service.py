from odoo import api, fields, models


class MedpulseService(models.Model):
    _name = "medpulse.service"
    _description = "Clinic Service"
    _order = "specialty_id, name"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(index=True)
    specialty_id = fields.Many2one("medpulse.specialty", index=True)
    duration = fields.Integer(
        string="Duration (min)", default=30, required=True,
        help="Length of an appointment for this service, in minutes.",
    )
    company_id = fields.Many2one(
        "res.company", default=lambda self: self.env.company, index=True,
    )
    currency_id = fields.Many2one(
        "res.currency", required=True,
        default=lambda self: self.env.company.currency_id,
    )
    price = fields.Monetary(currency_field="currency_id")
    doctor_ids = fields.Many2many(
        "medpulse.doctor", "medpulse_doctor_service_rel", "service_id", "doctor_id",
        string="Doctors",
    )
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("duration_positive", "CHECK(duration > 0)", "The duration of a service must be positive."),
        ("code_company_uniq", "unique(code, company_id)", "The service code must be unique."),
    ]

    @api.depends("code", "name")
    def _compute_display_name(self):
        for service in self:
            service.display_name = (
                f"[{service.code}] {service.name}" if service.code else service.name
            )
