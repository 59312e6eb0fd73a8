"""The confirmation call list: one entry per appointment to confirm by phone.

The reminders put an appointment on the list (a rule's "call" step); the reception works
it. **Next patient** hands the operator the next entry to call (the earliest appointment
first, one not called back too soon after no answer) and *claims* it for the operator for
:data:`CLAIM_MINUTES`: committed on its own cursor, under a row lock that a colleague's
"Next patient" skips (``FOR UPDATE SKIP LOCKED``), so two operators never get the same
patient; a claim not worked expires and the entry goes to the next operator who asks.

The entry shows the appointment, calls with one click (the existing click-to-call, linked
to the appointment), and takes the outcome in one click, written back to the appointment
(``confirmation_state``, shown on the schedule): confirmed, moved (the appointment's own
form opens, with its "Next free slot"), cancelled (with a reason), no answer (back on the
list after the rule's interval, until its number of calls is spent: unreachable), wrong
number. Patient data (the patient, the appointment, the reason) is for the clinic roles;
an operator without one sees numbers.
"""

from datetime import timedelta

from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_datetime

from .medpulse_appointment import ACTIVE_STATES
from .medpulse_reminder import company_tz, local_day

CLINIC_ROLES = "medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor"
RECEPTION = "medpulse_clinic.group_clinic_receptionist"
#: How long "Next patient" holds an entry for the operator who got it.
CLAIM_MINUTES = 10
#: Free times proposed to a patient who wants to move.
PROPOSED_SLOTS = 3

OUTCOMES = [
    ("confirmed", "Confirmed"),
    ("moved", "Moved"),
    ("cancelled", "Cancelled"),
    ("unreachable", "No answer"),
    ("wrong_number", "Wrong number"),
]


class MedpulseConfirmationItem(models.Model):
    _name = "medpulse.confirmation.item"
    _description = "Confirmation call"
    _order = "appointment_start, id"
    _rec_name = "number"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    appointment_id = fields.Many2one(
        "medpulse.appointment", required=True, readonly=True, index=True, ondelete="cascade",
        groups=CLINIC_ROLES,
    )
    patient_id = fields.Many2one(
        "medpulse.patient", readonly=True, index=True, ondelete="cascade", groups=CLINIC_ROLES,
    )
    doctor_id = fields.Many2one(
        related="appointment_id.doctor_id", string="Doctor", groups=CLINIC_ROLES,
    )
    service_id = fields.Many2one(
        related="appointment_id.service_id", string="Service", groups=CLINIC_ROLES,
    )
    rule_id = fields.Many2one("medpulse.reminder.rule", readonly=True, ondelete="set null")
    number = fields.Char(required=True, readonly=True, help="The number to call (E.164).")
    appointment_start = fields.Datetime(string="Appointment at", required=True, readonly=True)
    list_date = fields.Date(
        string="Day", required=True, readonly=True, index=True,
        help="The day of the appointment, in the clinic's time zone: the day's list.",
    )
    state = fields.Selection(
        [("todo", "To call"), ("done", "Done"), ("cancelled", "No longer needed")],
        required=True, readonly=True, default="todo", index=True,
    )
    outcome = fields.Selection(OUTCOMES, readonly=True, index=True)
    attempt_count = fields.Integer(string="Calls made", readonly=True, aggregator=None)
    max_attempts = fields.Integer(string="Calls at most", readonly=True, default=3,
                                  aggregator=None)
    last_attempt_at = fields.Datetime(string="Last call", readonly=True)
    next_call_at = fields.Datetime(
        string="Call again from", readonly=True,
        help="After no answer: not handed out again before this time.",
    )
    claimed_by_id = fields.Many2one("res.users", string="Claimed by", readonly=True, copy=False)
    claim_expires_at = fields.Datetime(string="Claimed until", readonly=True, copy=False)
    being_called_by_id = fields.Many2one(
        "res.users", string="Being worked by", compute="_compute_being_called_by_id",
        help="The operator who got this patient with \"Next patient\", while the claim lasts.",
    )
    worked_by_id = fields.Many2one("res.users", string="Done by", readonly=True)
    done_at = fields.Datetime(string="Done at", readonly=True)
    cancel_reason = fields.Char(
        string="Reason for cancelling", groups=CLINIC_ROLES,
        help="Why the patient cancels: write it, then press Cancelled.",
    )
    next_free_slots = fields.Char(
        string="Next free times", compute="_compute_next_free_slots", groups=CLINIC_ROLES,
        help="The doctor's next free times for this service, to offer a patient who moves.",
    )

    def init(self):
        res = super().init()
        # One entry to call per appointment, whoever lists it.
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS medpulse_confirmation_item_todo_uniq
                ON medpulse_confirmation_item (appointment_id) WHERE state = 'todo'
            """
        )
        return res

    @api.depends("claimed_by_id", "claim_expires_at", "state")
    def _compute_being_called_by_id(self):
        now = fields.Datetime.now()
        for item in self:
            live = item.state == "todo" and item.claim_expires_at and item.claim_expires_at > now
            item.being_called_by_id = item.claimed_by_id if live else False

    @api.depends("appointment_id", "state")
    def _compute_next_free_slots(self):
        """From the next full hour (time to tell the patient), in the clinic's time zone
        (the schedule's)."""
        Appointment = self.env["medpulse.appointment"]
        start_from = fields.Datetime.now().replace(minute=0, second=0, microsecond=0) + timedelta(
            hours=1)
        for item in self:
            appointment = item.appointment_id
            if item.state != "todo" or not appointment:
                item.next_free_slots = False
                continue
            tz = company_tz(item.company_id)
            slots, after = [], start_from
            for _index in range(PROPOSED_SLOTS):
                start = Appointment._find_next_free_slot(
                    appointment.doctor_id, appointment.service_id, after=after,
                    exclude_ids=appointment.ids)
                if not start:
                    break
                slots.append(format_datetime(self.env, start, tz=tz.zone, dt_format="short"))
                after = start + timedelta(minutes=appointment.service_id.duration or 15)
            item.next_free_slots = ", ".join(slots) or _("none in the next weeks")

    def write(self, vals):
        """The entry's bookkeeping is the list's own (its actions, as superuser): a person
        writes the reason for cancelling, nothing else."""
        if not self.env.su and set(vals) - {"cancel_reason"}:
            raise AccessError(_("The call list changes through its buttons only."))
        return super().write(vals)

    # ------------------------------------------------------------ listing

    @api.model
    def _list_appointment(self, appointment, rule, number):
        """The appointment's open entry, made when it has none (superuser, the reminders')."""
        item = self.search([("appointment_id", "=", appointment.id), ("state", "=", "todo")])
        if item:
            return item
        return self.create({
            "company_id": appointment.company_id.id,
            "appointment_id": appointment.id,
            "patient_id": appointment.patient_id.id,
            "rule_id": rule.id,
            "number": number,
            "appointment_start": appointment.start,
            "list_date": local_day(appointment.company_id, appointment.start),
            "max_attempts": rule.max_attempts or 3,
        })

    @api.model
    def _on_appointments_changed(self, appointments):
        """Appointments moved, cancelled or over: their open entries are no longer needed
        (a moved one is listed again for its new time by its reminders)."""
        items = self.sudo().search([
            ("appointment_id", "in", appointments.ids), ("state", "=", "todo"),
        ])
        for item in items:
            appointment = item.appointment_id
            if (
                appointment.state not in ACTIVE_STATES
                or appointment.start != item.appointment_start
            ):
                item.write({"state": "cancelled", "claimed_by_id": False,
                            "claim_expires_at": False})

    # ------------------------------------------------------------ next patient

    def action_next_patient(self):
        """Give the current operator the next patient to call, claimed for them (not the
        entries of ``self``: the list's button calls it on none, an entry's form on the
        entry just worked, whose outcome is not committed yet)."""
        self._check_reception()
        item_id = self._claim_next(self.env.company, exclude=self.ids)
        if not item_id:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "title": _("Confirmation calls"),
                    "message": _("Nobody is left to call now: the list is done, or the "
                                 "patients who did not answer are called again later."),
                    "type": "info",
                    "sticky": False,
                },
            }
        return self.browse(item_id)._form_action()

    @api.model
    def _claim_next(self, company, now=None, exclude=()):
        """Claim the next entry of ``company`` for the current user; its id, or False.

        The operator's own live claim comes first (an entry not worked yet is theirs until
        it expires). Committed on its own cursor; a colleague's concurrent claim makes this
        one start again (serialisation failure) and see it. ``exclude``: entries not to
        hand out (the one the operator has just worked, in a transaction not committed).
        """
        if company not in self.env.companies:
            return False
        self.env.flush_all()
        exclude = tuple(exclude) or (0,)
        for attempt in range(3):
            try:
                with self.env.registry.cursor() as cr:
                    item_id = self._claim_next_in(
                        cr, company, now or fields.Datetime.now(), exclude)
                break
            except (pg_errors.SerializationFailure, pg_errors.LockNotAvailable):
                if attempt == 2:
                    raise
        self.invalidate_model(["claimed_by_id", "claim_expires_at"])
        return item_id

    def _claim_next_in(self, cr, company, now, exclude):
        cr.execute(SQL(
            "SELECT id FROM medpulse_confirmation_item"
            " WHERE company_id = %s AND state = 'todo' AND claimed_by_id = %s"
            "   AND claim_expires_at > %s AND appointment_start > %s AND id NOT IN %s"
            " ORDER BY appointment_start, id LIMIT 1",
            company.id, self.env.uid, now, now, exclude,
        ))
        row = cr.fetchone()
        if not row:
            cr.execute(SQL(
                "SELECT id FROM medpulse_confirmation_item"
                " WHERE company_id = %s AND state = 'todo' AND appointment_start > %s"
                "   AND (next_call_at IS NULL OR next_call_at <= %s)"
                "   AND (claimed_by_id IS NULL OR claim_expires_at <= %s) AND id NOT IN %s"
                " ORDER BY appointment_start, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                company.id, now, now, now, exclude,
            ), log_exceptions=False)  # a colleague's claim meanwhile: retried, not an error
            row = cr.fetchone()
        if not row:
            return False
        cr.execute(SQL(
            "UPDATE medpulse_confirmation_item"
            "   SET claimed_by_id = %s, claim_expires_at = %s, write_uid = %s, write_date = %s"
            " WHERE id = %s",
            self.env.uid, now + timedelta(minutes=CLAIM_MINUTES), self.env.uid, now, row[0],
        ), log_exceptions=False)
        return row[0]

    def _form_action(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Confirmation call"),
            "res_model": self._name,
            "res_id": self.id,
            "views": [[False, "form"]],
            "target": "current",
        }

    # ------------------------------------------------------------ working an entry

    def _check_reception(self):
        if not self.env.user.has_group(RECEPTION):
            raise AccessError(_("Only the reception works the confirmation call list."))

    def _take(self):
        """Check the entry can be worked by the current user now, and claim it for them."""
        self.ensure_one()
        self._check_reception()
        self.check_access("write")
        item = self.sudo()
        if item.state != "todo":
            raise UserError(_("This patient is done already: take the next one."))
        holder = item.being_called_by_id
        if holder and holder != self.env.user:
            raise UserError(_(
                "%(name)s is calling this patient: take the next one.", name=holder.name))
        item.write({
            "claimed_by_id": self.env.uid,
            "claim_expires_at": fields.Datetime.now() + timedelta(minutes=CLAIM_MINUTES),
        })

    def action_call(self):
        """Call the patient with the existing click-to-call, from the appointment (so the
        call is linked to it), and hold the entry meanwhile."""
        self._take()
        return {
            "type": "ir.actions.client",
            "tag": "medpulse_telephony.click_to_call",
            "params": {
                "number": self.number,
                "res_model": "medpulse.appointment",
                "res_id": self.sudo().appointment_id.id,
            },
        }

    def _finish(self, outcome, confirmation_state):
        now = fields.Datetime.now()
        self.sudo().write({
            "state": "done", "outcome": outcome, "worked_by_id": self.env.uid, "done_at": now,
            "last_attempt_at": now, "claimed_by_id": False, "claim_expires_at": False,
        })
        # As the operator: the reception changes appointments, and the chatter says who.
        self.appointment_id.write({"confirmation_state": confirmation_state})

    def action_confirmed(self):
        self._take()
        appointment = self.appointment_id
        self._finish("confirmed", "confirmed")
        if appointment.state == "scheduled":
            appointment.action_confirm()
        return self.action_next_patient()

    def action_moved(self):
        """The patient wants another time: the appointment's form opens (its "Next free
        slot" finds one; the next free times are on the entry), saved by the operator."""
        self._take()
        self._finish("moved", "moved")
        return {
            "type": "ir.actions.act_window",
            "name": _("Move the appointment"),
            "res_model": "medpulse.appointment",
            "res_id": self.appointment_id.id,
            "views": [[False, "form"]],
            "target": "current",
        }

    def action_cancelled(self):
        self._take()
        reason = (self.cancel_reason or "").strip()
        if not reason:
            raise UserError(_("Write why the patient cancels, then press Cancelled again."))
        appointment = self.appointment_id
        self._finish("cancelled", "cancelled")
        appointment.action_cancel()
        appointment.message_post(body=_("Cancelled by the patient on the confirmation call: "
                                        "%(reason)s", reason=reason))
        return self.action_next_patient()

    def action_no_answer(self):
        """Nobody answered: called again after the rule's interval, until the calls are
        spent; then the appointment is unreachable."""
        self._take()
        item = self.sudo()
        now = fields.Datetime.now()
        attempts = item.attempt_count + 1
        if attempts >= item.max_attempts:
            item.attempt_count = attempts
            self._finish("unreachable", "unreachable")
        else:
            minutes = item.rule_id.retry_minutes or 60
            item.write({
                "attempt_count": attempts, "last_attempt_at": now,
                "next_call_at": now + timedelta(minutes=minutes),
                "claimed_by_id": False, "claim_expires_at": False,
            })
        return self.action_next_patient()

    def action_wrong_number(self):
        self._take()
        self._finish("wrong_number", "unreachable")
        return self.action_next_patient()

    def action_release(self):
        """Give the entry back to the list without calling (another operator takes it)."""
        self.ensure_one()
        if self.sudo().claimed_by_id == self.env.user:
            self.sudo().write({"claimed_by_id": False, "claim_expires_at": False})
        return {"type": "ir.actions.act_window_close"}
