"""A time freed on the schedule, offered to the waiting list.

When an appointment that still holds a doctor's future time is cancelled or moved (from the
card, a confirmation call, the schedule: the appointment's ``write`` is the one place), its
old time becomes a slot here, with one offer (:mod:`.medpulse_waitlist_offer`) per matching
waiting patient, the most urgent and the longest waiting first. The reception calls or
texts them; the first who accepts is booked (an ordinary appointment, so the schedule's
double-booking refusal stands) and the slot is *refilled*; a slot nobody took before it
started is *lost*. The slots are the refill report (freed, refilled and how fast, lost).

Two operators accepting for the same slot at once: the first locks the slot's row, the
second is told the time is being taken or was taken (``FOR UPDATE NOWAIT``).
"""

from datetime import timedelta

from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_datetime

from .medpulse_appointment import ACTIVE_STATES
from .medpulse_reminder import company_tz


class MedpulseWaitlistSlot(models.Model):
    _name = "medpulse.waitlist.slot"
    _description = "Freed time offered to the waiting list"
    _order = "start, id"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    doctor_id = fields.Many2one("medpulse.doctor", required=True, readonly=True, index=True)
    specialty_id = fields.Many2one(related="doctor_id.specialty_id", store=True)
    service_id = fields.Many2one("medpulse.service", required=True, readonly=True)
    start = fields.Datetime(required=True, readonly=True, index=True)
    stop = fields.Datetime(string="End", required=True, readonly=True)
    patient_id = fields.Many2one(
        "medpulse.patient", string="Freed by", readonly=True, ondelete="set null",
        help="The patient whose appointment was cancelled or moved.")
    source_appointment_id = fields.Many2one(
        "medpulse.appointment", string="Freed appointment", readonly=True, ondelete="set null")
    reason = fields.Selection(
        [("cancelled", "Cancelled"), ("moved", "Moved")], required=True, readonly=True)
    freed_at = fields.Datetime(string="Freed at", required=True, readonly=True, index=True)
    state = fields.Selection(
        [("open", "To offer"), ("refilled", "Refilled"), ("lost", "Lost")],
        default="open", required=True, readonly=True, index=True,
    )
    booked_appointment_id = fields.Many2one(
        "medpulse.appointment", string="Booked appointment", readonly=True, ondelete="set null")
    booked_entry_id = fields.Many2one(
        "medpulse.waitlist", string="Booked from", readonly=True, ondelete="set null")
    booked_by_id = fields.Many2one("res.users", string="Booked by", readonly=True)
    refilled_at = fields.Datetime(string="Refilled at", readonly=True)
    offer_ids = fields.One2many("medpulse.waitlist.offer", "slot_id", string="Offers",
                                readonly=True)
    offer_count = fields.Integer(string="Patients to offer", compute="_compute_offer_count")
    call_only = fields.Boolean(
        string="By call only", compute="_compute_call_only",
        help="The slot starts too soon for an SMS asking to call back: call the patients.")
    taken_sms_sent = fields.Boolean(string="\"Taken\" SMS sent", readonly=True)
    # The refill report's measures (stored, so that the pivot sums and averages them).
    freed_count = fields.Integer(string="Freed", default=1, readonly=True)
    refilled_count = fields.Integer(string="Refilled (count)", readonly=True)
    lost_count = fields.Integer(string="Lost (count)", readonly=True)
    refill_hours = fields.Float(
        string="Hours to refill", readonly=True, aggregator="avg",
        help="From the time being freed to the booking of a waiting patient.")

    @api.depends("offer_ids")
    def _compute_offer_count(self):
        for slot in self:
            slot.offer_count = len(slot.offer_ids)

    @api.depends("start", "company_id")
    def _compute_call_only(self):
        now = fields.Datetime.now()
        for slot in self:
            hours = slot.company_id.medpulse_waitlist_call_only_hours
            slot.call_only = bool(slot.start and slot.start < now + timedelta(hours=hours))

    @api.depends("doctor_id", "start")
    def _compute_display_name(self):
        for slot in self:
            moment = format_datetime(
                self.env, slot.start, tz=company_tz(slot.company_id).zone, dt_format="short",
            ) if slot.start else ""
            slot.display_name = f"{slot.doctor_id.name or ''} {moment}".strip()

    # ------------------------------------------------------------ freeing

    @api.model
    def _freed_by(self, appointments, vals):
        """The times that the write of ``vals`` to ``appointments`` frees (read before the
        write): a future appointment that held its doctor's time and is cancelled, or moves
        to another time or doctor."""
        cancelling = vals.get("state") == "cancelled"
        new_start = fields.Datetime.to_datetime(vals["start"]) if vals.get("start") else None
        new_doctor = vals.get("doctor_id")
        if not (cancelling or new_start or new_doctor):
            return []
        now = fields.Datetime.now()
        freed = []
        for appointment in appointments.sudo():
            if appointment.state not in ACTIVE_STATES or appointment.start <= now:
                continue
            moved = (new_start and new_start != appointment.start) or (
                new_doctor and new_doctor != appointment.doctor_id.id)
            if cancelling or moved:
                freed.append({
                    "company_id": appointment.company_id.id,
                    "doctor_id": appointment.doctor_id.id,
                    "service_id": appointment.service_id.id,
                    "start": appointment.start,
                    "stop": appointment.stop,
                    "patient_id": appointment.patient_id.id,
                    "source_appointment_id": appointment.id,
                    "reason": "cancelled" if cancelling else "moved",
                    "freed_at": now,
                })
        return freed

    @api.model
    def _offer_freed(self, freed):
        """Record the freed times and offer each to its matching waiting patients."""
        slots = self.sudo().create(freed)
        Offer = self.env["medpulse.waitlist.offer"].sudo()
        for slot in slots:
            entries = self.env["medpulse.waitlist"]._matching(slot)
            Offer.create([{"slot_id": slot.id, "entry_id": entry.id} for entry in entries])
        return slots

    # ------------------------------------------------------------ booking

    def _lock_open(self):
        """Lock the slot's row for this transaction, or tell the user why it cannot be
        booked: a colleague holds it (booking now) or has booked it (committed)."""
        self.ensure_one()
        self.env.flush_all()
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(SQL(
                    "SELECT state FROM medpulse_waitlist_slot WHERE id = %s FOR UPDATE NOWAIT",
                    self.id,
                ), log_exceptions=False)
                state = self.env.cr.fetchone()[0]
        except (pg_errors.LockNotAvailable, pg_errors.SerializationFailure):
            raise UserError(_(
                "A colleague is booking this time right now: reload the slot to see who got it."
            )) from None
        self.invalidate_recordset()
        if state != "open":
            raise UserError(_(
                "This time is no longer free (%(state)s): offer the patient another one.",
                state=dict(self._fields["state"]._description_selection(self.env))[state],
            ))

    def _book(self, offer, now=None):
        """Book ``offer``'s patient into the slot, as the current user (the schedule's rules
        apply: double booking is refused); the patient leaves the list, the other offers of
        the slot are "slot taken". Returns the appointment. ``now``: the booking's time, for
        the refill report (tests construct it)."""
        self._lock_open()
        entry = offer.entry_id.sudo()
        if entry.state != "waiting":
            raise UserError(_("%(patient)s is no longer on the waiting list.",
                              patient=entry.patient_id.name))
        appointment = self.env["medpulse.appointment"].create({
            "patient_id": entry.patient_id.id,
            "doctor_id": self.doctor_id.id,
            "service_id": self.service_id.id,
            "start": self.start,
            "stop": self.stop,
            "company_id": self.company_id.id,
        })
        appointment.message_post(body=_("Booked from the waiting list (a freed time)."))
        now = now or fields.Datetime.now()
        slot = self.sudo()
        slot.write({
            "state": "refilled", "booked_appointment_id": appointment.id,
            "booked_entry_id": entry.id, "booked_by_id": self.env.uid, "refilled_at": now,
            "refilled_count": 1,
            "refill_hours": (now - slot.freed_at).total_seconds() / 3600,
        })
        offer.sudo().write({"state": "accepted", "done_by_id": self.env.uid, "done_at": now})
        (slot.offer_ids - offer).filtered(
            lambda o: o.state not in ("declined",)).write({"state": "slot_taken"})
        entry.write({"state": "booked", "appointment_id": appointment.id})
        entry.message_post(body=_("Booked into a freed time: %(appointment)s.",
                                  appointment=appointment.display_name))
        return appointment

    def action_close(self):
        """Nobody takes it: the slot is lost (its offers stay on the list as taken)."""
        for slot in self:
            slot._lock_open()
        self.sudo().write({"state": "lost", "lost_count": 1})
        self.sudo().offer_ids.filtered(lambda o: o.state in ("to_offer", "called", "sms_sent")
                                       ).write({"state": "slot_taken"})
        return True

    @api.model
    def _cron_close_past(self, now=None):
        """Slots that started while still open are lost."""
        now = now or fields.Datetime.now()
        past = self.sudo().search([("state", "=", "open"), ("start", "<=", now)])
        past.write({"state": "lost", "lost_count": 1})
        past.offer_ids.filtered(lambda o: o.state in ("to_offer", "called", "sms_sent")
                                ).write({"state": "slot_taken"})
        return past

    def action_sms_taken(self):
        """Tell the patients who were offered the slot (called or texted) and did not get
        it that it is taken; they stay on the list. Those without SMS consent are skipped."""
        self.ensure_one()
        Offer = self.env["medpulse.waitlist.offer"]
        Offer._check_reception()
        offers = self.offer_ids.filtered(
            lambda o: o.state == "slot_taken" and o.contacted and o.patient_id.consent_sms)
        sent, failed = 0, []
        for offer in offers:
            text = _(
                "%(clinic)s: the time of %(moment)s we offered you is taken. You stay on our "
                "waiting list.", clinic=self.company_id.name, moment=offer._slot_moment(),
            )
            answer = offer._sms(text)
            if answer["ok"]:
                sent += 1
            else:
                failed.append(answer["message"])
        self.sudo().taken_sms_sent = True
        return Offer._notify(
            _("SMS sent: %(sent)s. %(failed)s", sent=sent, failed=" ".join(failed)),
            "warning" if failed else "success",
        )
