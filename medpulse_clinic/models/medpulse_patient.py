import re

from odoo import api, fields, models
from odoo.fields import Datetime
from odoo.osv import expression

ACTIVE_APPOINTMENT_STATES = ("scheduled", "confirmed")
RECEPTION = "medpulse_clinic.group_clinic_receptionist"
DOCTOR = "medpulse_clinic.group_clinic_doctor"


class MedpulsePatient(models.Model):
    _name = "medpulse.patient"
    _description = "Patient"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "name, id"
    _rec_names_search = ["name", "card_number", "phone"]

    last_name = fields.Char(required=True, tracking=True)
    first_name = fields.Char(required=True, tracking=True)
    patronymic = fields.Char(tracking=True)
    name = fields.Char(
        string="Full Name", compute="_compute_name", store=True, index="trigram",
    )
    # Trigram, not btree: the patient search ("name or card number contains ...", also
    # behind the journal's Patient filter) ORs both columns, and a btree cannot serve
    # ILIKE '%...%', so one such column made PostgreSQL scan every patient. Exact
    # lookups use the unique (card_number, company_id) index.
    card_number = fields.Char(
        readonly=True, copy=False, index="trigram",
        help="Medical card number, assigned automatically when the patient is saved.",
    )
    birth_date = fields.Date(tracking=True)
    gender = fields.Selection([("male", "Male"), ("female", "Female")])
    phone_ids = fields.One2many("medpulse.patient.phone", "patient_id", string="Phones")
    phone = fields.Char(
        compute="_compute_phone", search="_search_phone",
        help="The first number of the patient. Searching accepts a number in any format.",
    )
    email = fields.Char()
    street = fields.Char()
    city = fields.Char()
    notes = fields.Html()
    consent_call = fields.Boolean(
        string="Agrees to Calls", default=True, tracking=True,
        help="The patient agreed to be called by the clinic (reminders, results).",
    )
    consent_recording = fields.Boolean(
        string="Agrees to Call Recording", tracking=True,
    )
    # Issue 21: no SMS without it. Tracked: the chatter says who changed it and when. No
    # field default: a new patient gets the company's choice (default_get), and patients
    # that existed before the field have no consent until someone records it.
    consent_sms = fields.Boolean(
        string="Agrees to SMS", tracking=True,
        help="The patient agreed to receive SMS from the clinic (reminders, confirmations). "
        "New patients get the company's default (Settings ▸ Companies).",
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True,
        default=lambda self: self.env.company,
    )
    appointment_ids = fields.One2many(
        "medpulse.appointment", "patient_id", string="Appointments",
    )
    # The history over every doctor: for the reception (and the incoming-call card,
    # which reads it as superuser). A doctor sees the same history restricted to their
    # own appointments (the doctor_* fields below), as the appointments' rule does.
    last_visit_at = fields.Datetime(
        string="Last Visit", compute="_compute_visits", store=True, groups=RECEPTION,
        help="Start of the latest done appointment.",
    )
    last_service_id = fields.Many2one(
        "medpulse.service", compute="_compute_visits", store=True,
        groups=RECEPTION,
    )
    visit_count = fields.Integer(
        string="Visits", compute="_compute_visits", store=True, groups=RECEPTION,
    )
    next_appointment_id = fields.Many2one(
        "medpulse.appointment",
        compute="_compute_next_appointment", store=True, groups=RECEPTION,
    )
    next_appointment_at = fields.Datetime(
        related="next_appointment_id.start", string="Next Appointment Date", groups=RECEPTION,
    )
    doctor_last_visit_at = fields.Datetime(
        string="Last Visit (mine)", compute="_compute_doctor_history", groups=DOCTOR,
        help="Start of the latest done appointment with you.",
    )
    doctor_last_service_id = fields.Many2one(
        "medpulse.service", string="Last Service (mine)", compute="_compute_doctor_history",
        groups=DOCTOR,
    )
    doctor_visit_count = fields.Integer(
        string="Visits (mine)", compute="_compute_doctor_history", groups=DOCTOR,
    )
    doctor_next_appointment_id = fields.Many2one(
        "medpulse.appointment", string="Next Appointment (mine)",
        compute="_compute_doctor_history", groups=DOCTOR,
    )
    duplicate_patient_ids = fields.Many2many(
        "medpulse.patient", string="Patients with the Same Number",
        compute="_compute_duplicate_patient_ids",
    )

    _sql_constraints = [
        ("card_number_company_uniq", "unique(card_number, company_id)",
         "The card number must be unique."),
    ]

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if "consent_sms" in fields_list and "consent_sms" not in values:
            company = self.env["res.company"].browse(values.get("company_id")) or self.env.company
            values["consent_sms"] = company.medpulse_consent_sms_default
        return values

    @api.depends("last_name", "first_name", "patronymic")
    def _compute_name(self):
        for patient in self:
            parts = (patient.last_name, patient.first_name, patient.patronymic)
            patient.name = " ".join(part.strip() for part in parts if part and part.strip())

    @api.depends("phone_ids.number", "phone_ids.sequence")
    def _compute_phone(self):
        for patient in self:
            patient.phone = patient.phone_ids[:1].number or False

    def _search_phone(self, operator, value):
        if operator not in ("=", "ilike", "=ilike", "like") or not isinstance(value, str):
            return expression.FALSE_DOMAIN
        digits = re.sub(r"\D", "", value)
        if len(digits) < 3:
            # A name or a card number typed into a phone search matches no number.
            return expression.FALSE_DOMAIN
        domains = [[("phone_ids.number", "ilike", value)]]
        e164 = self.env["medpulse.patient.phone"]._normalize(value)
        if e164:
            domains.append([("phone_ids.number_e164", "=", e164)])
        if operator != "=":
            # A fragment of the number ("1234567") matches the normalised column
            # whatever punctuation the number was typed with.
            domains.append([("phone_ids.number_e164", "like", digits)])
        return expression.OR(domains)

    @api.depends("appointment_ids.state", "appointment_ids.start", "appointment_ids.service_id")
    def _compute_visits(self):
        for patient in self:
            visits = _visits(patient.appointment_ids)
            last = max(visits, key=lambda a: (a.start, a.id), default=None)
            patient.last_visit_at = last.start if last else False
            patient.last_service_id = last.service_id if last else False
            patient.visit_count = len(visits)

    @api.depends("appointment_ids.state", "appointment_ids.start")
    def _compute_next_appointment(self):
        # Stored for the caller card and the lists; the hourly cron moves it on once
        # its time has passed.
        for patient in self:
            patient.next_appointment_id = _next_appointment(patient.appointment_ids)

    @api.depends("appointment_ids.state", "appointment_ids.start", "appointment_ids.service_id")
    @api.depends_context("uid")
    def _compute_doctor_history(self):
        for patient in self:
            mine = patient.sudo().appointment_ids.filtered(
                lambda a: a.doctor_id.user_id.id == self.env.uid
            )
            visits = _visits(mine)
            last = max(visits, key=lambda a: (a.start, a.id), default=None)
            patient.doctor_last_visit_at = last.start if last else False
            patient.doctor_last_service_id = last.service_id if last else False
            patient.doctor_visit_count = len(visits)
            patient.doctor_next_appointment_id = _next_appointment(mine).with_env(self.env)

    @api.model
    def _cron_refresh_next_appointment(self):
        patients = self.search([("next_appointment_id.start", "<", Datetime.now())])
        patients._compute_next_appointment()

    @api.depends("phone_ids.number")
    def _compute_duplicate_patient_ids(self):
        for patient in self:
            patient.duplicate_patient_ids = patient._find_duplicate_phone_patients()

    def _find_duplicate_phone_patients(self):
        """Other patients who have one of this patient's numbers.

        Families share phones, so this only feeds a warning, never a block.
        """
        self.ensure_one()
        Phone = self.env["medpulse.patient.phone"]
        numbers = {
            phone.number_e164 or Phone._normalize(phone.number, self.company_id)
            for phone in self.phone_ids
        }
        numbers.discard(None)
        numbers.discard(False)
        if not numbers:
            return self.browse()
        return self.search([
            ("phone_ids.number_e164", "in", list(numbers)),
            ("id", "not in", self._origin.ids),
        ])

    @api.onchange("phone_ids")
    def _onchange_phone_ids_duplicates(self):
        duplicates = self._find_duplicate_phone_patients()
        if duplicates:
            return {
                "warning": {
                    "title": self.env._("Number already known"),
                    "message": self.env._(
                        "This number already belongs to: %(patients)s. Check that it is "
                        "not the same person before saving.",
                        patients=", ".join(duplicates.mapped("display_name")),
                    ),
                    "type": "notification",
                },
            }
        return None

    @api.model
    def _lookup_by_phone(self, raw_number, limit=None, company=None):
        """Patients reachable at ``raw_number``, the most recently seen first (of
        ``company`` only, when given: in the search, not filtered afterwards).

        This is the caller identification of the telephony addon: ``raw_number``
        may come in any form the PBX or a person uses (``79161234567``,
        ``+7 (916) 123-45-67``, ``8 916 123 45 67``). It is normalised once and
        matched by equality on the indexed E.164 column, under the caller's
        access rules; garbage and internal extensions match nobody.
        """
        e164 = self.env["medpulse.patient.phone"]._normalize(raw_number)
        if not e164:
            return self.browse()
        # The most recent visitor first, for whoever may know who visited last.
        order = "id desc"
        if self._fields["last_visit_at"].is_accessible(self.env):
            order = "last_visit_at desc nulls last, id desc"
        domain = [("phone_ids.number_e164", "=", e164)]
        if company is not None:
            domain.append(("company_id", "=", company.id))
        return self.search(domain, order=order, limit=limit)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("card_number"):
                vals["card_number"] = self.env["ir.sequence"].next_by_code("medpulse.patient")
        return super().create(vals_list)

    def action_view_appointments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_clinic.medpulse_appointment_action"
        )
        action.update({
            "domain": [("patient_id", "=", self.id)],
            "context": {"default_patient_id": self.id},
            "view_mode": "list,calendar,form",
            "views": [(False, "list"), (False, "calendar"), (False, "form")],
        })
        return action

    def action_book_appointment(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("New Appointment"),
            "res_model": "medpulse.appointment",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
            "context": {"default_patient_id": self.id},
        }


def _visits(appointments):
    """The done appointments (visits) among ``appointments``."""
    return appointments.filtered(lambda a: a.state == "done" and a.start)


def _next_appointment(appointments):
    """The first upcoming active appointment among ``appointments`` (may be empty)."""
    now = Datetime.now()
    upcoming = appointments.filtered(
        lambda a: a.state in ACTIVE_APPOINTMENT_STATES and a.start and a.start >= now
    )
    return min(upcoming, key=lambda a: (a.start, a.id), default=appointments.browse())
