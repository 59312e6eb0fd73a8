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

Issue 22: the same list, of ``kind`` "recall", holds the appointments marked no-show (one
entry each, when the patient agrees to calls), with the same claims, retries and outcomes,
plus "rebooked": any new appointment of the patient closes their open recall with a link
to it (booked from the entry, the card or the schedule). The recall list is the reception's
only (record rules): an operator without a clinic role sees no entry of it.
"""

from datetime import timedelta

from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from .medpulse_appointment import ACTIVE_STATES, PROPOSED_SLOTS, RECEPTION
from .medpulse_reminder import local_day

CLINIC_ROLES = "medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor"
#: How long "Next patient" holds an entry for the operator who got it.
CLAIM_MINUTES = 10
#: Calls to a patient who did not come, at most.
RECALL_ATTEMPTS = 3
#: No-shows older than this are not recalled.
RECALL_DAYS = 30

OUTCOMES = [
    ("confirmed", "Confirmed"),
    ("moved", "Moved"),
    ("cancelled", "Cancelled"),
    ("unreachable", "No answer"),
    ("wrong_number", "Wrong number"),
    ("rebooked", "Rebooked"),
    ("declined", "No new appointment"),
]
KINDS = [("confirmation", "Confirmation"), ("recall", "No-show recall")]


class MedpulseConfirmationItem(models.Model):
    _name = "medpulse.confirmation.item"
    _description = "Confirmation call"
    _order = "appointment_start, id"
    _rec_name = "number"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    kind = fields.Selection(
        KINDS, required=True, readonly=True, default="confirmation", index=True,
        help="Confirmation: an appointment to confirm. No-show recall: a patient who did not "
        "come, to offer a new appointment.",
    )
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
    rebooked_appointment_id = fields.Many2one(
        "medpulse.appointment", string="New appointment", readonly=True, ondelete="set null",
        index="btree_not_null", groups=CLINIC_ROLES,
        help="The appointment the patient booked instead of the missed one.",
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
        for item in self:
            appointment = item.appointment_id
            if item.state != "todo" or not appointment:
                item.next_free_slots = False
                continue
            starts = Appointment._next_free_slots(
                appointment.doctor_id, appointment.service_id, count=PROPOSED_SLOTS,
                exclude_ids=appointment.ids, company=item.company_id)
            offers = Appointment._slot_offers(item.company_id, starts)
            item.next_free_slots = (
                ", ".join(offer["label"] for offer in offers) or _("none in the next weeks"))

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
        item = self.search([("appointment_id", "=", appointment.id), ("state", "=", "todo"),
                            ("kind", "=", "confirmation")])
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
            if item.kind == "recall":
                over = appointment.state != "no_show"  # the no-show was undone
            else:
                over = (appointment.state not in ACTIVE_STATES
                        or appointment.start != item.appointment_start)
            if over:
                item.write({"state": "cancelled", "claimed_by_id": False,
                            "claim_expires_at": False})

    @api.model
    def _list_no_shows(self, appointments):
        """Appointments just marked no-show: each patient who agrees to calls is recalled
        (superuser: marking a no-show is the schedule's, the list is the reception's)."""
        Item = self.sudo()
        now = fields.Datetime.now()
        for appointment in appointments.sudo():
            patient = appointment.patient_id
            number = patient.phone_ids[:1].number_e164
            if (
                not (number and patient.consent_call)
                or appointment.start < now - timedelta(days=RECALL_DAYS)
                or Item.search_count([("appointment_id", "=", appointment.id),
                                      ("state", "=", "todo")])
            ):
                continue
            Item.create({
                "kind": "recall",
                "company_id": appointment.company_id.id,
                "appointment_id": appointment.id,
                "patient_id": patient.id,
                "number": number,
                "appointment_start": appointment.start,
                "list_date": local_day(appointment.company_id, appointment.start),
                "max_attempts": RECALL_ATTEMPTS,
            })

    @api.model
    def _load_demo_recall_list(self):
        """Demo data (``demo/medpulse_recall_demo.xml``): the demo clinic's no-shows of the
        last week on the recall list. Only when the addon is installed: ``-u`` loads new
        demo files too, and an upgraded database's list is its own."""
        module = self.env["ir.module.module"].search([("name", "=", "medpulse_telephony")])
        if module.state != "to install":
            return
        now = fields.Datetime.now()
        no_shows = self.env["medpulse.appointment"].sudo().search([
            ("state", "=", "no_show"), ("company_id", "=", self.env.company.id),
            ("start", ">", now - timedelta(days=7)), ("start", "<", now),
        ])
        self._list_no_shows(no_shows)

    @api.model
    def _on_appointments_booked(self, appointments):
        """A patient with an open recall booked again (from the entry, the card or the
        schedule): the recall is done, "rebooked", linked to the new appointment."""
        booked = appointments.filtered(lambda a: a.state in ACTIVE_STATES)
        if not booked:
            return
        items = self.sudo().search([
            ("kind", "=", "recall"), ("state", "=", "todo"),
            ("patient_id", "in", booked.patient_id.ids),
        ])
        now = fields.Datetime.now()
        for item in items:
            new = booked.filtered(
                lambda a, item=item: a.patient_id == item.patient_id
                and a.start > item.appointment_start)[:1]
            if new:
                item.write({
                    "state": "done", "outcome": "rebooked", "rebooked_appointment_id": new.id,
                    "worked_by_id": self.env.uid, "done_at": now, "claimed_by_id": False,
                    "claim_expires_at": False,
                })

    # ------------------------------------------------------------ next patient

    def action_next_patient(self):
        """Give the current operator the next patient to call, claimed for them (not the
        entries of ``self``: the list's button calls it on none, an entry's form on the
        entry just worked, whose outcome is not committed yet)."""
        self._check_reception()
        kind = self[:1].kind or self.env.context.get("medpulse_list_kind") or "confirmation"
        item_id = self._claim_next(self.env.company, exclude=self.ids, kind=kind)
        if not item_id:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "title": _("No-show recall") if kind == "recall" else _("Confirmation calls"),
                    "message": _("Nobody is left to call now: the list is done, or the "
                                 "patients who did not answer are called again later."),
                    "type": "info",
                    "sticky": False,
                },
            }
        return self.browse(item_id)._form_action()

    @api.model
    def _claim_next(self, company, now=None, exclude=(), kind="confirmation"):
        """Claim the next entry of ``company`` for the current user; its id, or False.

        The operator's own live claim comes first (an entry not worked yet is theirs until
        it expires). Committed on its own cursor; a colleague's concurrent claim makes this
        one start again (serialisation failure) and see it. ``exclude``: entries not to
        hand out (the one the operator has just worked, in a transaction not committed).
        ``kind``: the confirmation list (appointments to come, the earliest first) or the
        recall list (no-shows, the latest first).
        """
        if company not in self.env.companies:
            return False
        self.env.flush_all()
        exclude = tuple(exclude) or (0,)
        for attempt in range(3):
            try:
                with self.env.registry.cursor() as cr:
                    item_id = self._claim_next_in(
                        cr, company, now or fields.Datetime.now(), exclude, kind)
                break
            except (pg_errors.SerializationFailure, pg_errors.LockNotAvailable):
                if attempt == 2:
                    raise
        self.invalidate_model(["claimed_by_id", "claim_expires_at"])
        return item_id

    def _claim_next_in(self, cr, company, now, exclude, kind="confirmation"):
        if kind == "recall":
            when = SQL("appointment_start > %s", now - timedelta(days=RECALL_DAYS))
            order = SQL("appointment_start DESC, id")
        else:
            when = SQL("appointment_start > %s", now)
            order = SQL("appointment_start, id")
        cr.execute(SQL(
            "SELECT id FROM medpulse_confirmation_item"
            " WHERE company_id = %s AND kind = %s AND state = 'todo' AND claimed_by_id = %s"
            "   AND claim_expires_at > %s AND %s AND id NOT IN %s"
            " ORDER BY %s LIMIT 1",
            company.id, kind, self.env.uid, now, when, exclude, order,
        ))
        row = cr.fetchone()
        if not row:
            cr.execute(SQL(
                "SELECT id FROM medpulse_confirmation_item"
                " WHERE company_id = %s AND kind = %s AND state = 'todo' AND %s"
                "   AND (next_call_at IS NULL OR next_call_at <= %s)"
                "   AND (claimed_by_id IS NULL OR claim_expires_at <= %s) AND id NOT IN %s"
                " ORDER BY %s LIMIT 1 FOR UPDATE SKIP LOCKED",
                company.id, kind, when, now, now, exclude, order,
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
            "name": _("No-show recall") if self.kind == "recall" else _("Confirmation call"),
            "res_model": self._name,
            "res_id": self.id,
            "views": [[False, "form"]],
            "target": "current",
        }

    # ------------------------------------------------------------ working an entry

    def _check_reception(self):
        if not self.env.user.has_group(RECEPTION):
            raise AccessError(_("Only the reception works the confirmation call list."))

    def _take(self, kind=None):
        """Check the entry can be worked by the current user now, and claim it for them
        (``kind``: an outcome of one list only)."""
        self.ensure_one()
        self._check_reception()
        self.check_access("write")
        item = self.sudo()
        if kind and item.kind != kind:
            raise UserError(_("This outcome is not one of this list's."))
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

    def _finish(self, outcome, confirmation_state=None):
        now = fields.Datetime.now()
        self.sudo().write({
            "state": "done", "outcome": outcome, "worked_by_id": self.env.uid, "done_at": now,
            "last_attempt_at": now, "claimed_by_id": False, "claim_expires_at": False,
        })
        # As the operator: the reception changes appointments, and the chatter says who.
        # A recall's missed appointment stays as it was (no-show).
        if confirmation_state and self.kind == "confirmation":
            self.appointment_id.write({"confirmation_state": confirmation_state})

    def action_confirmed(self):
        self._take("confirmation")
        appointment = self.appointment_id
        self._finish("confirmed", "confirmed")
        appointment._patient_confirms()
        return self.action_next_patient()

    def action_moved(self):
        """The patient wants another time: the appointment's form opens (its "Next free
        slot" finds one; the next free times are on the entry), saved by the operator."""
        self._take("confirmation")
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
        self._take("confirmation")
        reason = (self.cancel_reason or "").strip()
        if not reason:
            raise UserError(_("Write why the patient cancels, then press Cancelled again."))
        appointment = self.appointment_id
        self._finish("cancelled", "cancelled")
        appointment._patient_cancels(_("Cancelled by the patient on the confirmation call: "
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

    def action_rebook(self):
        """Recall: the patient wants a new appointment: its form opens with the patient, the
        doctor, the service and the next free time; saving it closes the recall as
        "rebooked" (see :meth:`_on_appointments_booked`)."""
        self._take("recall")
        missed = self.appointment_id
        starts = self.env["medpulse.appointment"]._next_free_slots(
            missed.doctor_id, missed.service_id, count=1, company=self.company_id)
        return {
            "type": "ir.actions.act_window",
            "name": _("Book a new appointment"),
            "res_model": "medpulse.appointment",
            "views": [[False, "form"]],
            "target": "current",
            "context": {
                "default_patient_id": missed.patient_id.id,
                "default_doctor_id": missed.doctor_id.id,
                "default_service_id": missed.service_id.id,
                "default_start": fields.Datetime.to_string(starts[0]) if starts else False,
                "default_company_id": self.company_id.id,
            },
        }

    def action_declined(self):
        """Recall: the patient does not want a new appointment now."""
        self._take("recall")
        self._finish("declined")
        self.appointment_id.message_post(body=_(
            "No-show recall: the patient wants no new appointment now."))
        return self.action_next_patient()

    def action_release(self):
        """Give the entry back to the list without calling (another operator takes it)."""
        self.ensure_one()
        if self.sudo().claimed_by_id == self.env.user:
            self.sudo().write({"claimed_by_id": False, "claim_expires_at": False})
        return {"type": "ir.actions.act_window_close"}
