from odoo import fields, models


class MedpulseDoctor(models.Model):
    _name = "medpulse.doctor"
    _description = "Doctor"
    _inherit = ["mail.thread"]
    _order = "name"

    name = fields.Char(string="Full Name", required=True, tracking=True)
    specialty_id = fields.Many2one(
        "medpulse.specialty", tracking=True, index=True,
    )
    user_id = fields.Many2one(
        "res.users", index=True, tracking=True,
        help="The user account of the doctor: the doctor sees the appointments of this "
        "schedule only.",
    )
    company_id = fields.Many2one(
        "res.company", default=lambda self: self.env.company, index=True,
    )
    resource_calendar_id = fields.Many2one(
        "resource.calendar", string="Working Hours",
        default=lambda self: self.env.company.resource_calendar_id,
        help="Appointments are proposed inside these hours; booking outside them is "
        "allowed but flagged.",
    )
    service_ids = fields.Many2many(
        "medpulse.service", "medpulse_doctor_service_rel", "doctor_id", "service_id",
        string="Services",
    )
    appointment_ids = fields.One2many("medpulse.appointment", "doctor_id", string="Appointments")
    color = fields.Integer()
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("user_company_uniq", "unique(user_id, company_id)",
         "This user is already linked to another doctor."),
    ]
