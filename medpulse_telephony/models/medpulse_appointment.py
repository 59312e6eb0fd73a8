from odoo import api, fields, models

CONFIRMATION_STATES = [
    ("none", "Not confirmed"),
    ("confirmed", "Confirmed"),
    ("moved", "Moved"),
    ("cancelled", "Cancelled"),
    ("unreachable", "Unreachable"),
]
#: The states of an appointment that its reminders and confirmation calls are for.
ACTIVE_STATES = ("scheduled", "confirmed")


class MedpulseAppointment(models.Model):
    _inherit = "medpulse.appointment"

    # Issue 21: what the confirmation call list found out, shown on the schedule.
    confirmation_state = fields.Selection(
        CONFIRMATION_STATES, string="Confirmation", default="none", required=True,
        index=True, tracking=True, copy=False,
        help="What the patient said to the confirmation call: confirmed, moved to another "
        "time, cancelled, or could not be reached. A move by other means makes a "
        "confirmed appointment unconfirmed again.",
    )
    reminder_ids = fields.One2many(
        "medpulse.reminder", "appointment_id", string="Reminders", readonly=True,
        groups="medpulse_clinic.group_clinic_receptionist",
    )

    # The call's number and type are for those who read calls: not for doctors.
    call_id = fields.Many2one(
        "medpulse.call", string="Booked during call", index="btree_not_null", ondelete="set null",
        groups="medpulse_telephony.group_telephony_operator",
        help="The phone call in which this appointment was booked.",
    )

    @api.model
    def default_get(self, fields_list):
        """Booked from a call's card (``default_call_id``): the form says "Phone Call" at once."""
        defaults = super().default_get(fields_list)
        if defaults.get("call_id") and "origin" in fields_list:
            defaults["origin"] = "phone"
        return defaults

    @api.model_create_multi
    def create(self, vals_list):
        """An appointment booked during a call was booked by phone, whatever the form sent;
        one booked from the card turns the card of that call to "booked". A booking reaches
        the patient: their open call-backs are done."""
        for vals in vals_list:
            if vals.get("call_id"):
                vals["origin"] = "phone"
        # The reports count calls with a booking (medpulse.call.tally).
        calls = self.env["medpulse.call"].browse(
            {vals["call_id"] for vals in vals_list if vals.get("call_id")}
        )
        with self.env["medpulse.call.tally"]._tracking(calls):
            appointments = super().create(vals_list)
        for call in appointments.call_id:
            call._notify_card_update()
        self.env["medpulse.call.callback"]._on_appointments_booked(appointments)
        return appointments

    def write(self, vals):
        """A time confirmed by the patient is no longer confirmed once the appointment moves
        (unless the confirmation call moved it); reminders and confirmation calls of a time
        that is no longer the appointment's, or of a cancelled appointment, are dropped."""
        moving = self.browse()
        if "start" in vals:
            start = fields.Datetime.to_datetime(vals["start"])
            moving = self.filtered(lambda appointment: appointment.start != start)
        ending = self.browse()
        if vals.get("state") and vals["state"] not in ACTIVE_STATES:
            ending = self.filtered(lambda appointment: appointment.state in ACTIVE_STATES)
        calls = self.env["medpulse.call"]
        if "call_id" in vals or "state" in vals:
            calls = self.sudo().call_id | calls.browse(vals.get("call_id") or [])
        with self.env["medpulse.call.tally"]._tracking(calls):
            result = super().write(vals)
        if moving and "confirmation_state" not in vals:
            confirmed = moving.filtered(lambda a: a.confirmation_state == "confirmed")
            if confirmed:
                confirmed.write({"confirmation_state": "none"})
        if moving or ending:
            self.env["medpulse.reminder"]._on_appointments_changed(moving | ending)
        return result

    def unlink(self):
        with self.env["medpulse.call.tally"]._tracking(self.sudo().call_id):
            return super().unlink()
