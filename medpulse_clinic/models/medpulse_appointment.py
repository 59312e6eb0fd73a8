from datetime import timedelta

import pytz

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Datetime

# Appointments in these states no longer hold the doctor's time.
FREE_STATES = ("cancelled", "no_show")
SLOT_STEP_MINUTES = 15
SLOT_SEARCH_DAYS = 60

# state -> states it may go to; the buttons of the form follow this table.
TRANSITIONS = {
    "scheduled": ("confirmed", "arrived", "done", "cancelled", "no_show"),
    "confirmed": ("arrived", "done", "cancelled", "no_show"),
    "arrived": ("done", "cancelled"),
    "done": (),
    "cancelled": ("scheduled",),
    "no_show": ("scheduled",),
}


def _ceil_to_step(dt, minutes=SLOT_STEP_MINUTES):
    dt = dt.replace(second=0, microsecond=0) + (
        timedelta(minutes=1) if dt.second or dt.microsecond else timedelta()
    )
    remainder = dt.minute % minutes
    return dt + timedelta(minutes=(minutes - remainder) % minutes)


class MedpulseAppointment(models.Model):
    _name = "medpulse.appointment"
    _description = "Appointment"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "start desc, id desc"

    patient_id = fields.Many2one(
        "medpulse.patient", required=True, index=True, tracking=True,
    )
    patient_phone = fields.Char(related="patient_id.phone", string="Patient Phone")
    patient_card_number = fields.Char(related="patient_id.card_number", string="Card Number")
    doctor_id = fields.Many2one(
        "medpulse.doctor", required=True, index=True, tracking=True,
    )
    service_id = fields.Many2one(
        "medpulse.service", required=True, index=True, tracking=True,
        domain="[('id', 'in', allowed_service_ids)]",
    )
    allowed_service_ids = fields.Many2many(
        "medpulse.service", compute="_compute_allowed_service_ids",
    )
    start = fields.Datetime(required=True, index=True, tracking=True)
    stop = fields.Datetime(
        string="End", compute="_compute_stop", store=True, readonly=False, required=True,
        precompute=True,
        tracking=True,
    )
    state = fields.Selection(
        [
            ("scheduled", "Scheduled"),
            ("confirmed", "Confirmed"),
            ("arrived", "Arrived"),
            ("done", "Done"),
            ("cancelled", "Cancelled"),
            ("no_show", "No-show"),
        ],
        default="scheduled", required=True, tracking=True, index=True, copy=False,
    )
    origin = fields.Selection(
        [("manual", "Manual"), ("phone", "Phone Call")],
        default="manual", required=True,
        help="How the appointment was booked.",
    )
    notes = fields.Html()
    company_id = fields.Many2one(
        "res.company", required=True, index=True,
        default=lambda self: self.env.company,
    )
    color = fields.Integer(related="doctor_id.color")
    outside_working_hours = fields.Boolean(
        compute="_compute_outside_working_hours",
        help="The appointment is not entirely within the doctor's working hours.",
    )

    _sql_constraints = [
        ("stop_after_start", "CHECK(stop > start)",
         "An appointment must end after it starts."),
    ]

    @api.depends("patient_id", "service_id")
    def _compute_display_name(self):
        for appointment in self:
            parts = [appointment.patient_id.name, appointment.service_id.name]
            appointment.display_name = " — ".join(part for part in parts if part) or self.env._(
                "New Appointment"
            )

    @api.depends("doctor_id")
    def _compute_allowed_service_ids(self):
        all_services = self.env["medpulse.service"].search([])
        for appointment in self:
            appointment.allowed_service_ids = appointment.doctor_id.service_ids or all_services

    @api.depends("start", "service_id")
    def _compute_stop(self):
        for appointment in self:
            if appointment.start:
                minutes = appointment.service_id.duration or SLOT_STEP_MINUTES
                appointment.stop = appointment.start + timedelta(minutes=minutes)
            else:
                appointment.stop = False

    @api.depends("doctor_id", "start", "stop")
    def _compute_outside_working_hours(self):
        for appointment in self:
            appointment.outside_working_hours = bool(
                appointment.doctor_id and appointment.start and appointment.stop
                and appointment.stop > appointment.start
                and not appointment._is_within_working_hours()
            )

    # ------------------------------------------------------------------
    # Doctor's time
    # ------------------------------------------------------------------

    @api.model
    def _doctor_work_intervals(self, doctor, start, stop):
        """Working intervals of ``doctor`` between two naive UTC datetimes.

        Returns naive UTC ``(start, stop)`` pairs. A doctor without working hours
        works around the clock.
        """
        calendar = doctor.sudo().resource_calendar_id
        if not calendar:
            return [(start, stop)]
        intervals = calendar._work_intervals_batch(
            pytz.utc.localize(start), pytz.utc.localize(stop)
        )[False]
        return [
            (
                begin.astimezone(pytz.utc).replace(tzinfo=None),
                end.astimezone(pytz.utc).replace(tzinfo=None),
            )
            for begin, end, _records in intervals
        ]

    def _is_within_working_hours(self):
        self.ensure_one()
        intervals = self._doctor_work_intervals(self.doctor_id, self.start, self.stop)
        return any(begin <= self.start and self.stop <= end for begin, end in intervals)

    @api.model
    def _busy_domain(self, doctor, start, stop, exclude_ids=()):
        return [
            ("doctor_id", "=", doctor.id),
            ("state", "not in", FREE_STATES),
            ("start", "<", stop),
            ("stop", ">", start),
            ("id", "not in", list(exclude_ids)),
        ]

    @api.model
    def _find_next_free_slot(self, doctor, service, after=None, exclude_ids=()):
        """Earliest start (naive UTC) at or after ``after`` when ``doctor`` can see a
        patient for ``service``: inside working hours, on a quarter-hour, and clear of
        the doctor's other appointments. None when nothing is free in the next
        ``SLOT_SEARCH_DAYS`` days.
        """
        after = _ceil_to_step(after or Datetime.now())
        duration = timedelta(minutes=service.duration or SLOT_STEP_MINUTES)
        horizon = after + timedelta(days=SLOT_SEARCH_DAYS)
        # Everyone's schedule is checked, including appointments the user may not read.
        busy = self.sudo().search(
            self._busy_domain(doctor, after, horizon, exclude_ids), order="start"
        )
        busy_spans = [(b.start, b.stop) for b in busy]
        for begin, end in self._doctor_work_intervals(doctor, after, horizon):
            candidate = _ceil_to_step(max(begin, after))
            while candidate + duration <= end:
                candidate_stop = candidate + duration
                clash = next(
                    (s for s in busy_spans if s[0] < candidate_stop and s[1] > candidate), None
                )
                if not clash:
                    return candidate
                candidate = _ceil_to_step(clash[1])
        return None

    @api.onchange("doctor_id", "service_id")
    def _onchange_propose_slot(self):
        if self.doctor_id and self.service_id and not self.start:
            self.start = self._find_next_free_slot(self.doctor_id, self.service_id)

    @api.onchange("doctor_id", "start", "stop")
    def _onchange_working_hours_warning(self):
        if self.outside_working_hours:
            return {
                "warning": {
                    "title": self.env._("Outside working hours"),
                    "message": self.env._(
                        "%(doctor)s does not work at this time. The appointment can still "
                        "be saved.",
                        doctor=self.doctor_id.name,
                    ),
                    "type": "notification",
                },
            }
        return None

    @api.model
    def get_next_free_slot(self, doctor_id, service_id, exclude_ids=()):
        """The form's "Next free slot": the doctor's next free start from now on, for the
        form to fill in without saving (UTC, as the web client reads datetimes)."""
        doctor = self.env["medpulse.doctor"].browse(int(doctor_id)).exists()
        service = self.env["medpulse.service"].browse(int(service_id)).exists()
        doctor.check_access("read")
        service.check_access("read")
        start = self._find_next_free_slot(
            doctor, service, exclude_ids=[int(record_id) for record_id in exclude_ids]
        )
        if not start:
            raise UserError(self.env._(
                "%(doctor)s has no free time for %(service)s in the next %(days)s days.",
                doctor=doctor.name,
                service=service.name,
                days=SLOT_SEARCH_DAYS,
            ))
        return fields.Datetime.to_string(start)

    @api.constrains("doctor_id", "start", "stop", "state")
    def _check_double_booking(self):
        for appointment in self:
            if appointment.state in FREE_STATES:
                continue
            clash = self.sudo().search(
                self._busy_domain(
                    appointment.doctor_id, appointment.start, appointment.stop,
                    exclude_ids=appointment.ids,
                ),
                order="start", limit=1,
            )
            if clash:
                tz = pytz.timezone(self.env.user.tz or "UTC")
                raise ValidationError(self.env._(
                    "%(doctor)s is already booked from %(start)s to %(stop)s "
                    "(%(appointment)s). Choose another time or use \"Next free slot\".",
                    doctor=appointment.doctor_id.name,
                    start=pytz.utc.localize(clash.start).astimezone(tz).strftime("%d.%m.%Y %H:%M"),
                    stop=pytz.utc.localize(clash.stop).astimezone(tz).strftime("%H:%M"),
                    appointment=clash.display_name,
                ))

    # ------------------------------------------------------------------
    # State transitions
    # ------------------------------------------------------------------

    def _set_state(self, new_state):
        labels = dict(self._fields["state"]._description_selection(self.env))
        for appointment in self:
            if new_state not in TRANSITIONS[appointment.state]:
                raise UserError(self.env._(
                    "An appointment in state \"%(current)s\" cannot become \"%(new)s\".",
                    current=labels[appointment.state],
                    new=labels[new_state],
                ))
        self.write({"state": new_state})
        return True

    def action_confirm(self):
        return self._set_state("confirmed")

    def action_arrive(self):
        return self._set_state("arrived")

    def action_done(self):
        return self._set_state("done")

    def action_cancel(self):
        return self._set_state("cancelled")

    def action_no_show(self):
        return self._set_state("no_show")

    def action_reset_to_scheduled(self):
        return self._set_state("scheduled")
