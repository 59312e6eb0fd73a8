"""Reminders of appointments: built for each day, sent in batches, the log of what was done.

Two scheduled jobs. **Build** (hourly, :meth:`MedpulseReminder._cron_build`): for each
company with a reminder rule (``medpulse.reminder.rule``), the appointments of today and
the next days (in the company's time zone) get one reminder per step of their service's
rule: an SMS and/or a call, planned at the rule's lead time, out of the quiet hours. A
reminder is one row per appointment, *time* and step (a unique key), so building again
adds nothing, and an appointment moved to another time gets new ones while those of the
old time are dropped ("moved"); a cancelled one gets none. A patient without the consent
the step needs (``consent_sms``, ``consent_call``) or without a number gets a reminder
that says so (``skipped``), never an SMS or a call.

**Send** (every few minutes, :meth:`MedpulseReminder._cron_send`): the reminders that are
due are claimed in small committed chunks, checked again (cancelled, moved, consent
withdrawn, confirmed meanwhile), then an SMS goes through the PBX as *batch* work (it
yields to people's requests in the account's budget, see ``medpulse.telephony.limit``)
and a call step puts the appointment on the confirmation call list
(``medpulse.confirmation.item``). Each reminder is linked to its SMS in the transaction
that commits the SMS before the request leaves, so a job that dies anywhere never sends
it twice. A PBX that is down or locks the account out stops the run: the reminder goes
back to ``planned`` and the run resumes a couple of minutes later where it stopped.

The log (*Telephony ▸ Reminders*) carries patient data: the patient and the appointment
are for the clinic roles; an operator without one sees numbers and states.
"""

import logging
import math
import time as time_module
from datetime import datetime, time, timedelta

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

import mango_vpbx

from .medpulse_appointment import ACTIVE_STATES
from .medpulse_telephony_limit import BATCH

_logger = logging.getLogger(__name__)

CLINIC_ROLES = "medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor"

STATES = [
    ("planned", "Planned"),
    ("sending", "Sending"),
    ("sent", "SMS sent"),
    ("listed", "On the call list"),
    ("skipped", "Not sent"),
    ("failed", "Failed"),
]
SKIP_REASONS = [
    ("no_sms_consent", "The patient has not agreed to SMS"),
    ("no_call_consent", "The patient has not agreed to calls"),
    ("no_number", "The patient has no phone number"),
    ("cancelled", "The appointment was cancelled"),
    ("moved", "The appointment was moved: a reminder of the new time replaces this one"),
    ("confirmed", "The appointment was confirmed already"),
    ("too_late", "Too late to remind"),
]
#: Reminders claimed per committed chunk, and at most per run (then the job runs again).
CHUNK = 20
RUN_LIMIT = 200
#: Seconds between two SMS of a run: well below the half of the PBX's rate (10 a second)
#: a batch may take, so a run never waits for the rate while holding the account's turn.
PAUSE_SECONDS = 0.25
#: A PBX down or locking the account out: the run stops and tries again this much later
#: (a lockout lasts two minutes).
OUTAGE_MINUTES = 2
#: A reminder "sending" this long was left by a worker that died.
STUCK_MINUTES = 10
#: An SMS reminder is not worth sending less than this before the appointment.
MIN_AHEAD = timedelta(hours=1)
#: A reminder whose time passed more than this long before it was built is not sent (the
#: appointment was booked after it), unless the appointment moved after a reminder.
LATE_GRACE = timedelta(hours=2)


def company_tz(company):
    return pytz.timezone(company.resource_calendar_id.tz or company.partner_id.tz or "UTC")


def local_day(company, moment):
    """The date of ``moment`` (naive UTC) in the company's time zone."""
    return pytz.utc.localize(moment).astimezone(company_tz(company)).date()


def day_bounds(company, day):
    """``[begin, end)`` of the company's local ``day``, as naive UTC."""
    tz = company_tz(company)

    def utc(value):
        return tz.localize(datetime.combine(value, time.min)).astimezone(pytz.utc).replace(
            tzinfo=None)

    return utc(day), utc(day + timedelta(days=1))


class MedpulseReminder(models.Model):
    _name = "medpulse.reminder"
    _description = "Appointment reminder"
    _order = "planned_at desc, id desc"
    _rec_name = "number"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    appointment_id = fields.Many2one(
        "medpulse.appointment", required=True, readonly=True, index=True, ondelete="cascade",
        groups=CLINIC_ROLES,
    )
    patient_id = fields.Many2one(
        "medpulse.patient", readonly=True, index=True, ondelete="cascade", groups=CLINIC_ROLES,
    )
    rule_id = fields.Many2one("medpulse.reminder.rule", readonly=True, ondelete="set null")
    step = fields.Selection([("sms", "SMS"), ("call", "Call")], required=True, readonly=True)
    appointment_start = fields.Datetime(
        string="Appointment at", required=True, readonly=True,
        help="The time of the appointment this reminder is for: a move makes a new reminder.",
    )
    planned_at = fields.Datetime(string="Planned for", required=True, readonly=True, index=True)
    number = fields.Char(readonly=True, help="The patient's number it goes to (E.164).")
    state = fields.Selection(STATES, required=True, readonly=True, default="planned", index=True)
    skip_reason = fields.Selection(SKIP_REASONS, string="Why not", readonly=True)
    sms_id = fields.Many2one("medpulse.sms", string="SMS", readonly=True, ondelete="set null")
    item_id = fields.Many2one(
        "medpulse.confirmation.item", string="Call list entry", readonly=True,
        ondelete="set null",
    )
    done_at = fields.Datetime(string="Done at", readonly=True)
    attempt_count = fields.Integer(string="Attempts", readonly=True, aggregator=None)
    next_try_at = fields.Datetime(string="Next try", readonly=True)
    error = fields.Char(readonly=True, help="What the PBX said the last time it failed.")

    _sql_constraints = [
        ("appointment_step_uniq", "UNIQUE(appointment_id, appointment_start, step)",
         "An appointment has one reminder per step and time."),
    ]

    # ------------------------------------------------------------ build

    @api.model
    def _cron_build(self, now=None):
        """Build the reminders of today and the next days for every company with a rule."""
        now = now or fields.Datetime.now()
        Rule = self.env["medpulse.reminder.rule"].sudo()
        for company in Rule.search([]).company_id:
            horizon = max(Rule.search([("company_id", "=", company.id)]).mapped("lead_hours"))
            today = local_day(company, now)
            for offset in range(math.ceil(horizon / 24) + 1):
                self._build_day(company, today + timedelta(days=offset), now=now)
        self.env.ref("medpulse_telephony.ir_cron_medpulse_reminder_send")._trigger()

    @api.model
    def _build_day(self, company, day, now=None):
        """The reminders of the appointments of ``company`` on its local ``day``, once.

        Returns the reminders it created (none when everything is built already).
        """
        now = now or fields.Datetime.now()
        by_service, default = self.env["medpulse.reminder.rule"]._rules_by_service(company)
        if not by_service and not default:
            return self.browse()
        begin, end = day_bounds(company, day)
        Appointment = self.env["medpulse.appointment"].sudo()
        appointments = Appointment.search([
            ("company_id", "=", company.id), ("state", "in", ACTIVE_STATES),
            ("start", ">=", max(begin, now)), ("start", "<", end),
        ])
        if not appointments:
            return self.browse()
        existing, reminded, stale = self._existing(appointments)
        if stale:
            self.browse(stale).write({"state": "skipped", "skip_reason": "moved", "done_at": now})
        tz = company_tz(company)
        # Read at once: a patient's phones one by one would be a query per appointment.
        appointments.patient_id.phone_ids.mapped("number_e164")
        vals_list = []
        for appointment in appointments:
            rule = by_service.get(appointment.service_id.id) or default
            if not rule:
                continue
            patient = appointment.patient_id
            number = patient.phone_ids[:1].number_e164 or False
            for step, when in rule._steps(appointment.start):
                if (appointment.id, appointment.start, step) in existing:
                    continue
                reason = self._refusal(step, patient, number)
                if not reason and step == "sms":
                    when = rule._outside_quiet(when, appointment.start, tz)
                if not reason and when < now - LATE_GRACE and appointment.id not in reminded:
                    reason = "too_late"
                vals_list.append({
                    "company_id": company.id,
                    "appointment_id": appointment.id,
                    "patient_id": patient.id,
                    "rule_id": rule.id,
                    "step": step,
                    "appointment_start": appointment.start,
                    "planned_at": when,
                    "number": number,
                    "state": "skipped" if reason else "planned",
                    "skip_reason": reason or False,
                    "done_at": now if reason else False,
                })
        return self.sudo().create(vals_list)

    @api.model
    def _existing(self, appointments):
        """What is built already for ``appointments``: the keys ``(appointment, start,
        step)``, the appointments a reminder reached already (at another time: they moved),
        and the planned reminders of a time that is no longer the appointment's."""
        self.env.cr.execute(SQL(
            "SELECT r.id, r.appointment_id, r.appointment_start, r.step, r.state,"
            "       a.start"
            "  FROM medpulse_reminder r JOIN medpulse_appointment a ON a.id = r.appointment_id"
            " WHERE r.appointment_id IN %s",
            tuple(appointments.ids),
        ))
        existing, reminded, stale = set(), set(), []
        for reminder_id, appointment_id, start, step, state, current in self.env.cr.fetchall():
            existing.add((appointment_id, start, step))
            if state in ("sent", "listed"):
                reminded.add(appointment_id)
            elif state == "planned" and start != current:
                stale.append(reminder_id)
        return existing, reminded, stale

    @api.model
    def _refusal(self, step, patient, number):
        """Why a step cannot reach ``patient`` (a skip reason), or False."""
        if step == "sms" and not patient.consent_sms:
            return "no_sms_consent"
        if step == "call" and not patient.consent_call:
            return "no_call_consent"
        if not number:
            return "no_number"
        return False

    @api.model
    def _on_appointments_changed(self, appointments):
        """Appointments moved, cancelled or over: their planned reminders of a time that is
        no longer theirs are dropped, as are their open entries of the call list; the
        build makes those of a new time (at once, not at its next hour)."""
        now = fields.Datetime.now()
        planned = self.sudo().search([
            ("appointment_id", "in", appointments.ids), ("state", "=", "planned"),
        ])
        for reminder in planned:
            appointment = reminder.appointment_id
            if appointment.state not in ACTIVE_STATES:
                reminder.write({"state": "skipped", "skip_reason": "cancelled", "done_at": now})
            elif appointment.start != reminder.appointment_start:
                reminder.write({"state": "skipped", "skip_reason": "moved", "done_at": now})
        self.env["medpulse.confirmation.item"]._on_appointments_changed(appointments)
        if appointments.filtered(lambda a: a.state in ACTIVE_STATES):
            self.env.ref("medpulse_telephony.ir_cron_medpulse_reminder_build")._trigger()

    # ------------------------------------------------------------ send

    @api.model
    def _cron_send(self, now=None, limit=RUN_LIMIT, pause=PAUSE_SECONDS):
        """Send what is due, company by company, ``limit`` at most; again soon if more is."""
        now = now or fields.Datetime.now()
        self._recover_stuck(now)
        cron = self.env.ref("medpulse_telephony.ir_cron_medpulse_reminder_send")
        for company in self._due_companies(now):
            outcome = self._send_due(company, now, limit, pause)
            if outcome == "outage":
                cron._trigger(now + timedelta(minutes=OUTAGE_MINUTES))
            elif outcome == "more":
                cron._trigger()

    @api.model
    def _due_companies(self, now):
        self.env.cr.execute(SQL(
            "SELECT DISTINCT company_id FROM medpulse_reminder"
            " WHERE state = 'planned' AND planned_at <= %s"
            "   AND (next_try_at IS NULL OR next_try_at <= %s)",
            now, now,
        ))
        return self.env["res.company"].browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _send_due(self, company, now, limit=RUN_LIMIT, pause=PAUSE_SECONDS):
        """Send the due reminders of ``company``: ``done``, ``more`` left, or ``outage``."""
        done = 0
        while done < limit:
            claimed = self._claim_due(company, now, min(CHUNK, limit - done))
            if not claimed:
                return "done"
            for index, reminder in enumerate(self.sudo().browse(claimed)):
                outcome = reminder._deliver(now)
                done += 1
                if outcome == "outage":
                    self._set_all(claimed[index + 1:], state="planned")
                    return "outage"
                if outcome == "sent" and pause:
                    time_module.sleep(pause)
        return "more"

    @api.model
    def _claim_due(self, company, now, count):
        """Ids of due reminders this worker moved from ``planned`` to ``sending`` (committed)."""
        with self.env.registry.cursor() as cr:
            cr.execute(SQL(
                "UPDATE medpulse_reminder SET state = 'sending', write_date = %s"
                " WHERE id IN (SELECT id FROM medpulse_reminder"
                "               WHERE company_id = %s AND state = 'planned'"
                "                 AND planned_at <= %s"
                "                 AND (next_try_at IS NULL OR next_try_at <= %s)"
                "               ORDER BY planned_at, id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING id",
                fields.Datetime.now(), company.id, now, now, count,
            ))
            return sorted(row[0] for row in cr.fetchall())

    def _deliver(self, now):
        """Check one claimed reminder again, then send its SMS or list its call."""
        self.ensure_one()
        self.invalidate_recordset()
        appointment = self.appointment_id
        if appointment.state not in ACTIVE_STATES:
            return self._skip("cancelled", now)
        if appointment.start != self.appointment_start:
            return self._skip("moved", now)
        reason = self._refusal(self.step, appointment.patient_id, self.number)
        if reason:
            return self._skip(reason, now)
        if self.step == "call":
            return self._list(now)
        return self._send_sms(now)

    def _skip(self, reason, now):
        self._set_all(self.ids, state="skipped", skip_reason=reason, done_at=now)
        return "skipped"

    def _list(self, now):
        """The call step: the appointment joins the confirmation call list, unless the
        patient confirmed (or moved it) already."""
        appointment = self.appointment_id
        if appointment.state == "confirmed" or appointment.confirmation_state in (
            "confirmed", "moved"
        ):
            return self._skip("confirmed", now)
        with self.env.registry.cursor() as cr:
            env = self.env(cr=cr, su=True)
            item = env["medpulse.confirmation.item"]._list_appointment(
                appointment.with_env(env), self.rule_id.with_env(env), self.number)
            env[self._name].browse(self.id).write(
                {"state": "listed", "item_id": item.id, "done_at": now})
            env.flush_all()
        self.invalidate_recordset()
        return "listed"

    def _send_sms(self, now):
        company, rule = self.company_id, self.rule_id
        appointment = self.appointment_id
        tz = company_tz(company)
        if rule._is_quiet(now, tz):
            when = rule._outside_quiet(now, appointment.start, tz)
            if when <= now or when > appointment.start - MIN_AHEAD:
                return self._skip("too_late", now)
            self._set_all(self.ids, state="planned", planned_at=when)
            return "deferred"
        if appointment.start - now < MIN_AHEAD:
            return self._skip("too_late", now)
        extension = company.medpulse_sms_extension
        if not extension:
            message = _("No SMS extension is set for automatic SMS: set it in Settings ▸ "
                        "Telephony ▸ SMS.")
            company._medpulse_pbx_record_error(message)
            return self._retry_later(now, message)
        template = rule.template_id or self.env.ref(
            "medpulse_telephony.medpulse_sms_template_reminder")
        # In the clinic's language: the reminder is the clinic's, not the cron user's.
        lang = company.partner_id.lang or self.env.lang
        patient = appointment.patient_id
        text = template.with_context(lang=lang)._render(patient, appointment, company)
        size = mango_vpbx.sms.measure(text)
        if not size.length or not size.fits:
            self._set_all(self.ids, state="failed", done_at=now, error=_(
                "The reminder is %(length)s characters long: the PBX sends at most %(limit)s. "
                "Shorten the template %(template)s.",
                length=size.length, limit=size.limit, template=template.name))
            return "failed"
        reminder_id = self.id

        def link(env, sms):
            env[self._name].browse(reminder_id).write({"sms_id": sms.id})

        try:
            answer = self.env["medpulse.sms"]._record_and_send(
                company, patient, self.number, text, extension, appointment=appointment,
                template=template, link=link, priority=BATCH,
            )
        except UserError as error:  # the PBX account is not set up
            company._medpulse_pbx_record_error(str(error.args[0]))
            return self._retry_later(now, str(error.args[0]))
        if answer["ok"]:
            self._set_all(self.ids, state="sent", done_at=now, error=False)
            return "sent"
        if answer.get("unsent"):
            return self._retry_later(now, answer["message"])
        # Refused by the PBX, or maybe carried out (no answer): never sent again.
        self._set_all(self.ids, state="failed", done_at=now, error=answer["message"])
        return "failed"

    def _retry_later(self, now, message):
        """The PBX never got it (down, locked out, busy) or cannot be used: planned again,
        tried after the outage; the run stops."""
        self._set_all(
            self.ids, state="planned", attempt_count=self.attempt_count + 1,
            next_try_at=now + timedelta(minutes=OUTAGE_MINUTES), error=message,
        )
        return "outage"

    @api.model
    def _set_all(self, ids, **vals):
        """Write ``vals`` on the reminders ``ids`` and commit, on a cursor of its own: their
        state must be what the PBX did, whatever happens to the job's transaction."""
        if not ids:
            return
        with self.env.registry.cursor() as cr:
            env = self.env(cr=cr, su=True)
            env[self._name].browse(ids).write(vals)
            # Before the commit: a cursor flushes only the live environments of its transaction.
            env.flush_all()
        self.browse(ids).invalidate_recordset()

    @api.model
    def _recover_stuck(self, now):
        """Reminders a dead worker left ``sending``: one whose SMS was committed may have
        gone out, so its SMS says what happened (never sent again); one without went
        nowhere, and is planned again."""
        stuck = self.sudo().search([
            ("state", "=", "sending"),
            ("write_date", "<", now - timedelta(minutes=STUCK_MINUTES)),
        ])
        unsent = stuck.filtered(lambda reminder: not reminder.sms_id)
        went = (stuck - unsent).filtered(lambda r: r.sms_id.state in ("accepted", "delivered"))
        unknown = stuck - unsent - went
        self._set_all(unsent.ids, state="planned")
        self._set_all(went.ids, state="sent", done_at=now)
        self._set_all(unknown.ids, state="failed", done_at=now, error=_(
            "The job stopped while the SMS was being sent: it may have gone out, so it is not "
            "sent again."))

    # ------------------------------------------------------------ demo data

    @api.model
    def _load_demo_call_list(self):
        """Demo data (``demo/medpulse_reminder_demo.xml``): the next working day's reminders
        built, its appointments to confirm on the call list, and the list partly worked by
        the administrator. In the installing transaction: nothing on cursors of its own,
        which would not see the demo's appointments yet. Built as the hourly job did at
        the start of today (the clinic's), whatever the hour of the installation. Only when
        the addon is installed: ``-u`` loads new demo files too, and an upgraded database's
        list is its own."""
        module = self.env["ir.module.module"].search([("name", "=", "medpulse_telephony")])
        if module.state != "to install":
            return
        company = self.env.company
        now = fields.Datetime.now()
        today = local_day(company, now)
        midnight = day_bounds(company, today)[0]
        built = self.browse()
        for offset in range(1, 8):
            built = self._build_day(company, today + timedelta(days=offset), now=midnight)
            if built.filtered(lambda r: r.step == "call" and r.state == "planned"):
                break
        Item = self.env["medpulse.confirmation.item"].sudo()
        items = Item
        for reminder in built.filtered(lambda r: r.step == "call" and r.state == "planned"):
            appointment = reminder.appointment_id
            if appointment.state == "confirmed":
                reminder.write({"state": "skipped", "skip_reason": "confirmed", "done_at": now})
                continue
            item = Item._list_appointment(appointment, reminder.rule_id, reminder.number)
            reminder.write({"state": "listed", "item_id": item.id, "done_at": now})
            items |= item
        worker = self.env.ref("base.user_admin")
        items = items.sorted("appointment_start").with_user(worker)
        outcomes = ["confirmed", "no_answer", "moved", "wrong_number", "cancelled"]
        for item, outcome in zip(items, outcomes, strict=False):
            if outcome == "no_answer":
                item.sudo().write({"attempt_count": 1, "last_attempt_at": now,
                                   "next_call_at": now + timedelta(hours=1)})
            elif outcome == "cancelled":
                item.sudo().cancel_reason = "Заболел, перезвонит позже"
                item._finish("cancelled", "cancelled")
                item.appointment_id.action_cancel()
            else:
                item._finish(outcome, "unreachable" if outcome == "wrong_number" else outcome)
                if outcome == "confirmed":
                    item.appointment_id.action_confirm()

    # ------------------------------------------------------------ screens

    @api.depends("step", "number")
    def _compute_display_name(self):
        steps = dict(self._fields["step"]._description_selection(self.env))
        for reminder in self:
            label = f"{steps.get(reminder.step, '')} {reminder.number or ''}"
            reminder.display_name = label.strip()
