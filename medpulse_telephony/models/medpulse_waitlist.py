"""The waiting list: patients who want an earlier time with a doctor or a specialty.

An entry says whom the patient waits for (a doctor, or any doctor of a specialty), for which
service, on which days of the week and between which hours (the clinic's time zone, the
schedule's), how urgent it is and since when. A time freed by a cancelled or moved
appointment is offered to the matching entries (:mod:`.medpulse_waitlist_slot`); the first
patient who accepts is booked and leaves the list. Patient data: the reception's (clinic
roles), per company.
"""

from datetime import timedelta

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from .medpulse_reminder import company_tz

RECEPTION = "medpulse_clinic.group_clinic_receptionist"

PRIORITIES = [("0", "Normal"), ("1", "High"), ("2", "Urgent")]
#: Field name of each weekday, Monday first (``datetime.weekday()``).
WEEKDAYS = ("day_mon", "day_tue", "day_wed", "day_thu", "day_fri", "day_sat", "day_sun")


class MedpulseWaitlist(models.Model):
    _name = "medpulse.waitlist"
    _description = "Waiting list entry"
    _inherit = ["mail.thread"]
    _order = "priority desc, waiting_since, id"

    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company,
    )
    patient_id = fields.Many2one(
        "medpulse.patient", required=True, index=True, tracking=True, ondelete="cascade",
        domain="[('company_id', '=', company_id)]",
    )
    patient_phone = fields.Char(related="patient_id.phone", string="Phone")
    doctor_id = fields.Many2one(
        "medpulse.doctor", index=True, tracking=True,
        help="The doctor the patient waits for; empty: any doctor of the specialty.",
    )
    specialty_id = fields.Many2one(
        "medpulse.specialty", compute="_compute_specialty_id", store=True, readonly=False,
        index=True, tracking=True,
    )
    service_id = fields.Many2one(
        "medpulse.service", tracking=True,
        help="Empty: any service of the doctor or the specialty.",
    )
    day_mon = fields.Boolean("Mon", default=True)
    day_tue = fields.Boolean("Tue", default=True)
    day_wed = fields.Boolean("Wed", default=True)
    day_thu = fields.Boolean("Thu", default=True)
    day_fri = fields.Boolean("Fri", default=True)
    day_sat = fields.Boolean("Sat")
    day_sun = fields.Boolean("Sun")
    hour_from = fields.Float(
        "From", default=8.0, help="The earliest start the patient accepts (clinic's time).")
    hour_to = fields.Float(
        "To", default=20.0, help="The latest end the patient accepts (clinic's time).")
    priority = fields.Selection(PRIORITIES, default="0", required=True, index=True, tracking=True)
    waiting_since = fields.Datetime(
        "Waiting since", required=True, default=fields.Datetime.now, index=True)
    notes = fields.Text()
    state = fields.Selection(
        [("waiting", "Waiting"), ("booked", "Booked"), ("cancelled", "Cancelled")],
        default="waiting", required=True, index=True, tracking=True, copy=False,
    )
    appointment_id = fields.Many2one(
        "medpulse.appointment", string="Booked appointment", readonly=True, copy=False,
        ondelete="set null",
    )
    offer_ids = fields.One2many("medpulse.waitlist.offer", "entry_id", string="Offers",
                                readonly=True)
    wanted = fields.Char("Waiting for", compute="_compute_wanted")

    @api.depends("doctor_id")
    def _compute_specialty_id(self):
        for entry in self:
            entry.specialty_id = entry.doctor_id.specialty_id or entry.specialty_id

    @api.depends("doctor_id", "specialty_id", "service_id")
    def _compute_wanted(self):
        for entry in self:
            parts = [entry.doctor_id.name or entry.specialty_id.name, entry.service_id.name]
            entry.wanted = ", ".join(part for part in parts if part)

    @api.depends("patient_id", "wanted")
    def _compute_display_name(self):
        for entry in self:
            entry.display_name = " — ".join(p for p in (entry.patient_id.name, entry.wanted) if p)

    @api.constrains("doctor_id", "specialty_id", "hour_from", "hour_to", "patient_id",
                    "company_id", *WEEKDAYS)
    def _check_entry(self):
        for entry in self:
            if not entry.doctor_id and not entry.specialty_id:
                raise ValidationError(
                    _("Choose the doctor or the specialty the patient waits for."))
            if not 0 <= entry.hour_from < entry.hour_to <= 24:
                raise ValidationError(
                    _("The hours must be within the day, \"From\" before \"To\"."))
            if not any(entry[day] for day in WEEKDAYS):
                raise ValidationError(_("Tick at least one day of the week."))
            if entry.patient_id.company_id != entry.company_id:
                raise ValidationError(_("The patient belongs to another company."))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_linked_access(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_linked_access(vals)
        return super().write(vals)

    @api.model
    def _check_linked_access(self, vals):
        """A client sends any id over RPC: the patient, doctor, specialty and service must
        be ones the user may read, the company one the user works in (checked before the
        record is written, so that another company's ids are refused as such)."""
        if self.env.su:
            return
        if not self.env.user.has_group(RECEPTION):
            raise AccessError(_("Only the reception keeps the waiting list."))
        if vals.get("company_id") and vals["company_id"] not in self.env.companies.ids:
            raise AccessError(_("This company is not one of the companies you are working in."))
        for name in ("patient_id", "doctor_id", "specialty_id", "service_id"):
            if vals.get(name):
                self.env[self._fields[name].comodel_name].browse(vals[name]).check_access("read")

    # ------------------------------------------------------------ matching

    def _matches(self, slot):
        """Whether the entry accepts ``slot`` (a ``medpulse.waitlist.slot``): its doctor, or
        one of its specialty; its service or any; a day and hours it accepts, in the
        clinic's time zone."""
        self.ensure_one()
        if self.state != "waiting" or self.company_id != slot.company_id:
            return False
        if self.patient_id == slot.patient_id:
            return False
        if self.doctor_id:
            if self.doctor_id != slot.doctor_id:
                return False
        elif self.specialty_id != slot.doctor_id.specialty_id:
            return False
        if self.service_id and self.service_id != slot.service_id:
            return False
        tz = company_tz(self.company_id)
        start = pytz.utc.localize(slot.start).astimezone(tz)
        stop = pytz.utc.localize(slot.stop).astimezone(tz)
        if not self[WEEKDAYS[start.weekday()]]:
            return False
        begin = start.hour + start.minute / 60
        end = stop.hour + stop.minute / 60 if stop.date() == start.date() else 24
        return self.hour_from <= begin and end <= self.hour_to

    @api.model
    def _matching(self, slot):
        """The waiting entries of the slot's company that accept it, the most urgent and
        the longest waiting first."""
        candidates = self.sudo().search([
            ("company_id", "=", slot.company_id.id),
            ("state", "=", "waiting"),
            ("waiting_since", "<=", slot.freed_at),
            "|", ("doctor_id", "=", slot.doctor_id.id),
            "&", ("doctor_id", "=", False), ("specialty_id", "=", slot.doctor_id.specialty_id.id),
        ])
        return candidates.filtered(lambda entry: entry._matches(slot))

    # ------------------------------------------------------------ actions

    def action_cancel(self):
        self.write({"state": "cancelled"})
        return True

    def action_reopen(self):
        self.write({"state": "waiting"})
        return True

    @api.model
    def _card_entries(self, patient):
        """What the incoming card says of ``patient``'s waiting: for whom, since when."""
        entries = self.sudo().search([("patient_id", "=", patient.id), ("state", "=", "waiting")])
        return [
            {"id": entry.id, "wanted": entry.wanted or "",
             "since": fields.Datetime.to_string(entry.waiting_since)}
            for entry in entries
        ]

    # ------------------------------------------------------------ demo

    @api.model
    def _load_demo_waitlist(self):
        """Demo data (``demo/medpulse_waitlist_demo.xml``): a few patients waiting, then the
        administrator cancels a coming appointment, whose time is offered to the two who
        match it; and last week's freed times for the report (one refilled, one lost). Only
        when the addon is installed: ``-u`` loads new demo files too."""
        module = self.env["ir.module.module"].search([("name", "=", "medpulse_telephony")])
        if module.state != "to install":
            return
        now = fields.Datetime.now()
        Appointment = self.env["medpulse.appointment"]
        target = Appointment.search([
            ("state", "in", ("scheduled", "confirmed")),
            ("start", ">", now + timedelta(hours=30)),
            ("doctor_id.specialty_id", "!=", False),
        ], order="start", limit=1)
        patients = [self.env.ref(f"medpulse_clinic.demo_patient_{index:02d}",
                                 raise_if_not_found=False) for index in (5, 17, 23, 41, 44)]
        if not target or not all(patients):
            return
        patients = [p for p in patients if p != target.patient_id]
        tz = company_tz(target.company_id)
        local_start = pytz.utc.localize(target.start).astimezone(tz)
        local_stop = pytz.utc.localize(target.stop).astimezone(tz)
        every_day = dict.fromkeys(WEEKDAYS, True)
        other_doctor = self.env["medpulse.doctor"].search([
            ("specialty_id", "not in", target.doctor_id.specialty_id.ids),
            ("specialty_id", "!=", False)], order="id", limit=1)
        days = timedelta(days=1)
        values = [
            dict(every_day, patient_id=patients[0].id, doctor_id=target.doctor_id.id,
                 priority="1", waiting_since=now - 12 * days,
                 hour_from=max(0, local_start.hour - 2), hour_to=min(24, local_stop.hour + 3),
                 notes="Просит пораньше: боли усилились"),
            dict(every_day, patient_id=patients[1].id,
                 specialty_id=target.doctor_id.specialty_id.id, waiting_since=now - 20 * days,
                 hour_from=0, hour_to=24),
            dict(patient_id=patients[2].id, doctor_id=other_doctor.id, priority="2",
                 waiting_since=now - 3 * days, notes="Только после работы", hour_from=17,
                 hour_to=20),
            dict(patient_id=patients[3].id, doctor_id=other_doctor.id,
                 waiting_since=now - 7 * days, day_sat=True),
        ]
        self.create(values)
        target.with_user(self.env.ref("base.user_admin")).action_cancel()
        self._load_demo_history(now)

    @api.model
    def _load_demo_history(self, now):
        """Last week's freed times, for the refill report: a past cancellation refilled
        after five hours by a visit that took place, and one that nobody took."""
        Appointment = self.env["medpulse.appointment"]
        week_ago = now - timedelta(days=7)
        lost = Appointment.search([("state", "=", "cancelled"), ("start", "<", week_ago)],
                                  order="start desc", limit=1)
        done = Appointment.search([("state", "=", "done"), ("start", "<", week_ago)],
                                  order="start desc", limit=1)
        Slot = self.env["medpulse.waitlist.slot"]
        for appointment, refill in ((lost, None), (done, done)):
            if not appointment:
                continue
            freed_at = appointment.start - timedelta(days=2)
            values = {
                "company_id": appointment.company_id.id, "doctor_id": appointment.doctor_id.id,
                "service_id": appointment.service_id.id, "start": appointment.start,
                "stop": appointment.stop, "reason": "cancelled", "freed_at": freed_at,
            }
            if refill:
                values.update(state="refilled", booked_appointment_id=refill.id,
                              refilled_at=freed_at + timedelta(hours=5), refilled_count=1,
                              refill_hours=5.0)
            else:
                values.update(state="lost", lost_count=1, source_appointment_id=lost.id,
                              patient_id=lost.patient_id.id)
            Slot.create(values)
