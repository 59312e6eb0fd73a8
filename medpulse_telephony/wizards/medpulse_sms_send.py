"""The "Send SMS" dialog: from the patient, the appointment or the call, through a template."""

from odoo import _, api, fields, models
from odoo.exceptions import UserError

import mango_vpbx


class MedpulseSmsSend(models.TransientModel):
    _name = "medpulse.sms.send"
    _description = "Send an SMS"

    patient_id = fields.Many2one("medpulse.patient", required=True)
    appointment_id = fields.Many2one(
        "medpulse.appointment", domain="[('patient_id', '=', patient_id)]",
        help="The appointment the SMS is about: it fills {date}, {time}, {doctor} and {service}.",
    )
    call_id = fields.Many2one("medpulse.call", string="From call", readonly=True)
    phone_id = fields.Many2one(
        "medpulse.patient.phone", string="Number",
        domain="[('patient_id', '=', patient_id)]",
        compute="_compute_phone_id", store=True, readonly=False,
    )
    consent_sms = fields.Boolean(related="patient_id.consent_sms")
    template_id = fields.Many2one("medpulse.sms.template")
    text = fields.Text(compute="_compute_text", store=True, readonly=False)
    char_count = fields.Integer(string="Length", compute="_compute_size")
    segments = fields.Integer(compute="_compute_size")
    limit = fields.Integer(compute="_compute_size")
    fits = fields.Boolean(compute="_compute_size")
    size_info = fields.Char(string="Size", compute="_compute_size")

    @api.model
    def default_get(self, fields_list):
        """Filled from where the dialog opens: the patient (of the appointment or the
        call), the caller's number when the SMS follows a call, and the appointment the
        SMS is most likely about (booked during the call, else the patient's next)."""
        values = super().default_get(fields_list)
        appointment = self.env["medpulse.appointment"].browse(values.get("appointment_id"))
        call = self.env["medpulse.call"].browse(values.get("call_id"))
        patient = self.env["medpulse.patient"].browse(values.get("patient_id"))
        if not patient and appointment:
            patient = appointment.patient_id
        if not patient and call:
            patient = call.patient_id
        if not patient:
            return values
        values["patient_id"] = patient.id
        if call and not values.get("phone_id"):
            caller = patient.phone_ids.filtered(
                lambda phone: phone.number_e164 == call.external_e164)
            if caller:
                values["phone_id"] = caller[0].id
        if not appointment and call:
            appointment = self.env["medpulse.appointment"].search(
                [("call_id", "=", call.id), ("patient_id", "=", patient.id),
                 ("state", "not in", ("cancelled", "no_show"))],
                order="start desc", limit=1,
            )
        appointment = appointment or patient.next_appointment_id
        if appointment:
            values["appointment_id"] = appointment.id
        return values

    @api.depends("patient_id")
    def _compute_phone_id(self):
        for wizard in self:
            if wizard.phone_id.patient_id != wizard.patient_id:
                wizard.phone_id = wizard.patient_id.phone_ids[:1]

    @api.depends("template_id", "patient_id", "appointment_id")
    def _compute_text(self):
        for wizard in self:
            if wizard.template_id and wizard.patient_id:
                # In the user's language: the template's body is translated per language.
                wizard.text = wizard.template_id._render(wizard.patient_id, wizard.appointment_id)
            elif not wizard.text:
                wizard.text = False

    @api.depends("text")
    def _compute_size(self):
        for wizard in self:
            size = mango_vpbx.sms.measure(wizard.text or "")
            wizard.char_count, wizard.segments = size.length, size.segments
            wizard.limit = size.limit
            wizard.fits = size.fits
            if size.fits:
                wizard.size_info = _(
                    "%(length)s of %(limit)s characters, %(segments)s SMS part(s)",
                    length=size.length, limit=size.limit, segments=size.segments,
                )
            else:
                wizard.size_info = _(
                    "Too long: %(length)s characters, the PBX sends at most %(limit)s (4 parts)",
                    length=size.length, limit=size.limit,
                )

    def action_send(self):
        self.ensure_one()
        answer = self.env["medpulse.sms"]._send(
            self.patient_id, self.text or "", self.phone_id.number,
            appointment=self.appointment_id, template=self.template_id,
        )
        if not answer["ok"]:
            # The SMS is logged (failed or refused) on its own committed cursor.
            raise UserError(answer["message"])
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("SMS"),
                "message": answer["message"],
                "type": "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
