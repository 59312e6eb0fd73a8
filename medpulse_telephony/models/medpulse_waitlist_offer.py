"""One freed slot offered to one waiting patient: a line of the "offer this slot" worklist.

The worklist is ordered by the slot, then the entry's priority and waiting time. The
operator calls the patient (the existing click-to-call) or, when the slot is not too close
(the company's "by call only" hours), sends an SMS asking to call back (the PBX's SMS);
then records the answer: accepted (booked, see :meth:`MedpulseWaitlistSlot._book`) or
declined. The entry's bookkeeping is the list's own (its buttons, as superuser).
"""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import format_datetime

from .medpulse_reminder import company_tz
from .medpulse_waitlist import RECEPTION

OFFER_STATES = [
    ("to_offer", "To offer"),
    ("called", "Called"),
    ("sms_sent", "SMS sent"),
    ("accepted", "Accepted"),
    ("declined", "Declined"),
    ("slot_taken", "Slot taken"),
]


class MedpulseWaitlistOffer(models.Model):
    _name = "medpulse.waitlist.offer"
    _description = "Freed slot offered to a waiting patient"
    _order = "slot_start, priority desc, waiting_since, id"

    slot_id = fields.Many2one("medpulse.waitlist.slot", required=True, readonly=True,
                              index=True, ondelete="cascade")
    entry_id = fields.Many2one("medpulse.waitlist", string="Waiting list entry", required=True,
                               readonly=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="slot_id.company_id", store=True, index=True)
    patient_id = fields.Many2one(related="entry_id.patient_id", string="Patient")
    patient_phone = fields.Char(related="entry_id.patient_id.phone", string="Phone")
    consent_sms = fields.Boolean(related="entry_id.patient_id.consent_sms")
    priority = fields.Selection(related="entry_id.priority", store=True)
    waiting_since = fields.Datetime(related="entry_id.waiting_since", store=True)
    notes = fields.Text(related="entry_id.notes")
    slot_start = fields.Datetime(related="slot_id.start", store=True, string="Slot starts")
    doctor_id = fields.Many2one(related="slot_id.doctor_id")
    service_id = fields.Many2one(related="slot_id.service_id")
    slot_state = fields.Selection(related="slot_id.state", string="Slot state")
    entry_state = fields.Selection(related="entry_id.state", string="Entry state")
    call_only = fields.Boolean(related="slot_id.call_only")
    state = fields.Selection(OFFER_STATES, default="to_offer", required=True, readonly=True,
                             index=True)
    contacted = fields.Boolean(readonly=True, help="Called or texted about this slot.")
    done_by_id = fields.Many2one("res.users", string="Last worked by", readonly=True)
    done_at = fields.Datetime(string="Last worked at", readonly=True)

    _sql_constraints = [
        ("slot_entry_uniq", "UNIQUE(slot_id, entry_id)", "The slot is offered once per entry."),
    ]

    @api.depends("entry_id", "slot_id")
    def _compute_display_name(self):
        for offer in self:
            offer.display_name = f"{offer.patient_id.name or ''} — {offer.slot_id.display_name}"

    def write(self, vals):
        if not self.env.su:
            raise AccessError(_("The offers change through their buttons only."))
        return super().write(vals)

    # ------------------------------------------------------------ helpers

    def _check_reception(self):
        if not self.env.user.has_group(RECEPTION):
            raise AccessError(_("Only the reception offers freed times."))

    def _take(self):
        self.ensure_one()
        self._check_reception()
        self.check_access("write")
        if self.state in ("accepted", "declined", "slot_taken") or self.slot_state != "open":
            raise UserError(_("This offer is closed: the time is taken or the patient declined."))
        if self.entry_state != "waiting":
            raise UserError(_("%(patient)s is no longer on the waiting list.",
                              patient=self.patient_id.name))

    def _mark(self, state, **extra):
        self.sudo().write(dict(
            {"state": state, "done_by_id": self.env.uid, "done_at": fields.Datetime.now()},
            **extra))

    def _slot_moment(self):
        slot = self.slot_id
        return format_datetime(self.env, slot.start, tz=company_tz(slot.company_id).zone,
                               dt_format="short")

    def _sms(self, text):
        patient = self.patient_id
        return self.env["medpulse.sms"]._send(patient, text, patient.phone_ids[:1].number_e164)

    def _notify(self, message, kind="success"):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": _("Waiting list"), "message": message, "type": kind,
                       "sticky": False, "next": {"type": "ir.actions.client",
                                                 "tag": "soft_reload"}},
        }

    # ------------------------------------------------------------ actions

    def action_call(self):
        """Call the patient with the existing click-to-call, from the patient's record."""
        self._take()
        number = self.patient_id.phone_ids[:1].number_e164
        if not number:
            raise UserError(_("The patient has no phone number."))
        self._mark("called", contacted=True)
        return {
            "type": "ir.actions.client",
            "tag": "medpulse_telephony.click_to_call",
            "params": {"number": number, "res_model": "medpulse.patient",
                       "res_id": self.patient_id.id},
        }

    def action_sms(self):
        """An SMS asking the patient to call back for the time; not for a slot that starts
        too soon (by call only)."""
        self._take()
        if self.call_only:
            raise UserError(_("This time starts too soon for an SMS: call the patient."))
        slot = self.slot_id
        text = _(
            "%(clinic)s: a time with %(doctor)s is free on %(moment)s. Call us back if you "
            "want it.", clinic=slot.company_id.name, doctor=slot.doctor_id.name,
            moment=self._slot_moment(),
        )
        answer = self._sms(text)
        if not answer["ok"]:
            raise UserError(answer["message"])
        self._mark("sms_sent", contacted=True)
        return self._notify(answer["message"])

    def action_accept(self):
        """The patient takes the time: booked, off the list; the others' offers are taken."""
        self._take()
        appointment = self.slot_id._book(self)
        return self._notify(_("Booked: %(appointment)s.", appointment=appointment.display_name))

    def action_decline(self):
        self._take()
        self._mark("declined", contacted=True)
        return True
