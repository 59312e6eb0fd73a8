from odoo import fields, models


class MedpulseSpecialty(models.Model):
    _name = "medpulse.specialty"
    _description = "Medical Specialty"
    _order = "name"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    doctor_ids = fields.One2many("medpulse.doctor", "specialty_id", string="Doctors")
    service_ids = fields.One2many("medpulse.service", "specialty_id", string="Services")

    _sql_constraints = [
        ("name_uniq", "unique(name)", "A specialty with this name already exists."),
    ]
