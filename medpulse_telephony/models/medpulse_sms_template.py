"""Texts an SMS starts from, with placeholders filled from the patient and the appointment."""

import re

import pytz

from odoo import fields, models
from odoo.tools.misc import format_date, format_time

#: ``{name}`` placeholders a template may use: the only ones replaced (no expressions).
PLACEHOLDER = re.compile(r"\{(\w+)\}")


class MedpulseSmsTemplate(models.Model):
    _name = "medpulse.sms.template"
    _description = "SMS template"
    _order = "sequence, name, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    body = fields.Text(
        required=True, translate=True,
        help="The text, in each language of the clinic. Placeholders: {patient} full name, "
        "{first_name}, {date} and {time} of the appointment (in the clinic's time zone), "
        "{doctor}, {service}, {clinic}, {clinic_address}, {clinic_phone}.",
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", index=True, default=lambda self: self.env.company,
        help="Empty: every company's.",
    )

    def _render(self, patient, appointment=None, company=None):
        """The body with its placeholders filled, in the current language.

        ``appointment``: the appointment the SMS is about (else nothing fills {date},
        {time}, {doctor}, {service}). Unknown placeholders stay as written.
        """
        self.ensure_one()
        return render(self.env, self.body or "", patient, appointment,
                      company or patient.company_id or self.env.company)


def placeholder_values(env, patient, appointment, company):
    """The values of the placeholders (see :class:`MedpulseSmsTemplate`)."""
    partner = company.partner_id
    address = ", ".join(part for part in (partner.street, partner.street2, partner.city) if part)
    values = {
        "patient": patient.name or "",
        "first_name": patient.first_name or "",
        "clinic": company.name or "",
        "clinic_address": address,
        "clinic_phone": partner.phone or "",
        "date": "",
        "time": "",
        "doctor": "",
        "service": "",
    }
    if appointment:
        tz = pytz.timezone(company.resource_calendar_id.tz or "UTC")
        start = pytz.utc.localize(appointment.start).astimezone(tz)
        values.update(
            date=format_date(env, start.date()),
            time=format_time(env, start.time(), time_format="short"),
            doctor=appointment.doctor_id.name or "",
            service=appointment.service_id.name or "",
        )
    return values


def render(env, body, patient, appointment, company):
    values = placeholder_values(env, patient, appointment, company)
    return PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), body)
