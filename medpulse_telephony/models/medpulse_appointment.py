from datetime import timedelta

import pytz

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_datetime

CONFIRMATION_STATES = [
    ("none", "Not confirmed"),
    ("confirmed", "Confirmed"),
    ("moved", "Moved"),
    ("cancelled", "Cancelled"),
    ("unreachable", "Unreachable"),
]
#: The states of an appointment that its reminders and confirmation calls are for.
ACTIVE_STATES = ("scheduled", "confirmed")
#: Who changes appointments on the patient's word (the card, the call lists).
RECEPTION = "medpulse_clinic.group_clinic_receptionist"
#: Free times offered to a patient: on the card, on the confirmation and recall lists.
PROPOSED_SLOTS = 3


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
        self.env["medpulse.confirmation.item"]._on_appointments_booked(appointments)
        return appointments

    def write(self, vals):
        """A time confirmed by the patient is no longer confirmed once the appointment moves
        (unless the confirmation call moved it); reminders and confirmation calls of a time
        that is no longer the appointment's, or of a cancelled appointment, are dropped. A
        no-show goes on the recall list, and leaves it when it is undone. A future time freed by
        a cancellation or a move is offered to the waiting list."""
        freed = self.env["medpulse.waitlist.slot"]._freed_by(self, vals)
        moving = self.browse()
        if "start" in vals:
            start = fields.Datetime.to_datetime(vals["start"])
            moving = self.filtered(lambda appointment: appointment.start != start)
        no_show = undone = self.browse()
        if vals.get("state") == "no_show":
            no_show = self.filtered(lambda appointment: appointment.state != "no_show")
        elif vals.get("state"):
            undone = self.filtered(lambda appointment: appointment.state == "no_show")
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
        if freed:
            self.env["medpulse.waitlist.slot"]._offer_freed(freed)
        if no_show:
            self.env["medpulse.confirmation.item"]._list_no_shows(no_show)
        if undone:  # not a no-show after all: no recall
            self.env["medpulse.confirmation.item"]._on_appointments_changed(undone)
        return result

    # ------------------------------------------------ the patient's word (issue 22)

    # What the patient says on the phone, written back to the appointment by the card of an
    # incoming call and by the call lists (confirmation, no-show recall): one implementation,
    # through the appointment's own write, cancel and create (so whatever follows an
    # appointment's cancellation or move, e.g. the waiting list, follows these too).

    @api.model
    def _next_free_slots(self, doctor, service, count=PROPOSED_SLOTS, exclude_ids=(),
                         company=None):
        """The doctor's next ``count`` free starts for ``service`` (naive UTC), from the next
        full hour of the clinic's clock (time to tell the patient; a clinic half an hour off
        UTC offers 10:30, not 10:00)."""
        from .medpulse_reminder import company_tz  # the reminders import this module

        tz = company_tz(company or self.env.company)
        local = pytz.utc.localize(fields.Datetime.now()).astimezone(tz)
        hour = tz.normalize(local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
        after = hour.astimezone(pytz.utc).replace(tzinfo=None)
        starts = []
        for _index in range(count):
            start = self._find_next_free_slot(doctor, service, after=after, exclude_ids=exclude_ids)
            if not start:
                break
            starts.append(start)
            after = start + timedelta(minutes=service.duration or 15)
        return starts

    @api.model
    def _slot_offers(self, company, starts):
        """Free starts as the card offers them: the value to book and its label in the
        clinic's time zone (the schedule's), whatever the operator's own."""
        from .medpulse_reminder import company_tz

        zone = company_tz(company).zone
        return [
            {"start": fields.Datetime.to_string(start),
             "label": format_datetime(self.env, start, tz=zone, dt_format="short")}
            for start in starts
        ]

    @api.model
    def _check_reception(self, company):
        """Only the reception changes appointments on the patient's word, in its companies."""
        if not self.env.user.has_group(RECEPTION):
            raise AccessError(self.env._(
                "Only the reception confirms, moves, cancels or books appointments."))
        if company not in self.env.companies:
            raise UserError(self.env._(
                "This appointment belongs to another company: it cannot be changed here."))

    @api.model
    def _lock_doctor_schedule(self, doctor):
        """Serialise bookings of one doctor: two operators taking the same slot at once
        both pass the double-booking check on their own snapshot. Updating the doctor's
        row makes the second wait for the first, then fail with a serialization error
        that Odoo retries on a new snapshot, where the check sees the first booking."""
        self.env.cr.execute(SQL(
            "UPDATE medpulse_doctor SET write_date = write_date WHERE id = %s", doctor.id,
        ), log_exceptions=False)  # a colleague's booking meanwhile: retried, not an error

    def _patient_confirms(self, body=None):
        """The patient confirms: the confirmation call's state, and the appointment."""
        self.ensure_one()
        self.write({"confirmation_state": "confirmed"})
        if self.state == "scheduled":
            self.action_confirm()
        if body:
            self.message_post(body=body)

    def _patient_moves(self, start, body=None):
        """The patient takes another free time; a taken one raises the double-booking
        refusal (``ValidationError``)."""
        self.ensure_one()
        self._lock_doctor_schedule(self.doctor_id)
        self.write({"start": start, "confirmation_state": "moved"})
        if body:
            self.message_post(body=body)

    def _patient_cancels(self, body):
        """The patient cancels (the reason is in ``body``, left in the history)."""
        self.ensure_one()
        self.write({"confirmation_state": "cancelled"})
        self.action_cancel()
        self.message_post(body=body)

    @api.model
    def _book_for_patient(self, vals, body=None):
        """Book a free time for a patient on the phone; a taken one raises the
        double-booking refusal."""
        self._lock_doctor_schedule(self.env["medpulse.doctor"].browse(vals["doctor_id"]))
        appointment = self.create(vals)
        if body:
            appointment.message_post(body=body)
        return appointment

    @api.model
    def _refusal_with_next_slot(self, error, doctor, service, company, exclude_ids=()):
        """The double-booking refusal, with the next free time proposed."""
        starts = self._next_free_slots(doctor, service, count=1, exclude_ids=exclude_ids,
                                       company=company)
        offers = self._slot_offers(company, starts)
        message = error.args[0] if error.args else str(error)
        if offers:
            message = self.env._("%(refusal)s Next free time: %(slot)s.",
                                 refusal=message, slot=offers[0]["label"])
        return {"ok": False, "message": message, "slots": offers}
    def unlink(self):
        with self.env["medpulse.call.tally"]._tracking(self.sudo().call_id):
            return super().unlink()
