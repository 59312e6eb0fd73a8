from odoo import api, fields, models

#: How many calls the patient's form shows (the "Calls" button opens them all).
RECENT_CALLS = 20


class MedpulsePatient(models.Model):
    _inherit = "medpulse.patient"

    call_count = fields.Integer(string="Calls", compute="_compute_call_count")

    @api.depends_context("uid")
    def _compute_call_count(self):
        counts = {}
        Call = self.env["medpulse.call"]
        if Call.has_access("read"):
            counts = dict(
                Call._read_group([("patient_ids", "in", self.ids)], ["patient_ids"], ["__count"])
            )
        for patient in self:
            patient.call_count = counts.get(patient, 0)

    def action_view_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_action"
        )
        action["domain"] = [("patient_ids", "in", self.ids)]
        action["context"] = {}
        return action

    # Issue 20: the patient's recent calls, read with the user's own rights on the journal
    # (its record rules keep them to the user's companies); doctors read no calls.
    recent_call_ids = fields.Many2many(
        "medpulse.call", string="Recent calls", compute="_compute_recent_call_ids",
        groups="medpulse_telephony.group_telephony_operator",
        help="The last calls from or to this patient's numbers; the Calls button opens all.",
    )

    @api.depends_context("uid", "allowed_company_ids")
    def _compute_recent_call_ids(self):
        Call = self.env["medpulse.call"]
        for patient in self:
            patient.recent_call_ids = Call.search(
                [("patient_ids", "in", patient.ids)], limit=RECENT_CALLS
            ) if patient.id else Call

    # Issue 20: the caller's open call-back, above the calls (same readers as the calls).
    open_callback_ids = fields.Many2many(
        "medpulse.call.callback", string="Open call-backs",
        compute="_compute_open_callback_ids",
        groups="medpulse_telephony.group_telephony_operator",
        help="Call-backs still to make to this patient's numbers.",
    )

    @api.depends_context("uid", "allowed_company_ids")
    def _compute_open_callback_ids(self):
        Callback = self.env["medpulse.call.callback"]
        for patient in self:
            numbers = [n for n in patient.phone_ids.mapped("number_e164") if n]
            patient.open_callback_ids = Callback.search(
                [
                    ("state", "in", ("open", "overdue")),
                    "|", ("patient_id", "=", patient.id), ("e164", "in", numbers),
                ]
            ) if patient.id else Callback

    # Issue 21: the patient's SMS (text, who, when, state), for the clinic roles.
    medpulse_sms_ids = fields.One2many(
        "medpulse.sms", "patient_id", string="SMS", readonly=True,
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
    )
