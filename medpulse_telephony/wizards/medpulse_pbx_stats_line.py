from odoo import api, fields, models

import mango_vpbx
from mango_vpbx.codes import describe
from mango_vpbx.stats import row_direction

PATIENT_GROUPS = "medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor"


def _naive(moment):
    return moment.replace(tzinfo=None) if moment else False


class MedpulsePbxStatsLine(models.TransientModel):
    """One row of the PBX's statistics, with the operator and the patient behind the numbers."""

    _name = "medpulse.pbx.stats.line"
    _inherit = ["medpulse.company.scoped"]
    _description = "PBX statistics row"
    _order = "start, id"

    wizard_id = fields.Many2one(
        "medpulse.pbx.stats.wizard", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one("res.company", required=True)
    entry_id = fields.Char(string="PBX entry id")
    direction = fields.Selection(
        [("incoming", "Incoming"), ("outgoing", "Outgoing"), ("internal", "Internal")],
    )
    answered = fields.Boolean()
    start = fields.Datetime(string="Started")
    answer = fields.Datetime(string="Answered at")
    finish = fields.Datetime(string="Ended")
    wait_seconds = fields.Integer(string="Waiting (s)")
    talk_seconds = fields.Integer(string="Talk (s)")
    from_extension = fields.Char()
    from_number = fields.Char()
    from_e164 = fields.Char()
    to_extension = fields.Char()
    to_number = fields.Char()
    to_e164 = fields.Char()
    from_user_id = fields.Many2one("res.users", string="From operator")
    to_user_id = fields.Many2one("res.users", string="To operator")
    patient_id = fields.Many2one("medpulse.patient", groups=PATIENT_GROUPS)
    from_label = fields.Char(string="From", compute="_compute_labels")
    to_label = fields.Char(string="To", compute="_compute_labels")
    line_number = fields.Char(string="Line number")
    line_id = fields.Many2one("medpulse.telephony.line")
    disconnect_reason = fields.Char(string="PBX reason")
    location = fields.Char(string="Ended in")
    records = fields.Char(string="Recordings")
    call_id = fields.Many2one(
        "medpulse.call", string="Journal call", compute="_compute_call_id",
        help="The journal's record of this call; empty when the webhook never received it.",
    )
    in_journal = fields.Boolean(compute="_compute_call_id")

    @api.depends("entry_id", "company_id")
    def _compute_call_id(self):
        entries = [entry for entry in self.mapped("entry_id") if entry]
        calls = self.env["medpulse.call"].search([("entry_id", "in", entries)]) if entries else []
        by_key = {(call.company_id.id, call.entry_id): call for call in calls}
        for line in self:
            call = by_key.get((line.company_id.id, line.entry_id))
            line.call_id = call.id if call else False
            line.in_journal = bool(call)

    @api.depends(
        "from_user_id", "to_user_id", "from_number", "to_number", "from_extension", "to_extension"
    )
    def _compute_labels(self):
        show_patients = self.env.user.has_groups(PATIENT_GROUPS)
        for line in self:
            patient = line.sudo().patient_id if show_patients else False
            line.from_label = line._party_label(
                line.from_user_id,
                line.from_extension,
                line.from_number,
                patient if line.direction == "incoming" else False,
            )
            line.to_label = line._party_label(line.to_user_id, line.to_extension, line.to_number,
                                              patient if line.direction == "outgoing" else False)

    def _party_label(self, user, extension, number, patient):
        if user:
            return user.name
        if patient:
            return patient.display_name
        region = self.company_id.medpulse_pbx_default_region or "RU"
        if number:
            return mango_vpbx.phones.format_number(number, region) or number
        return extension or False

    @api.model
    def _vals_from_row(self, company, row):
        """Values of a line for a ``mango_vpbx.stats.StatsRow``, people identified."""
        Users = self.env["res.users"]
        direction = row_direction(row)
        from_e164 = company._medpulse_pbx_normalize(row.from_number) if row.from_number else False
        to_e164 = company._medpulse_pbx_normalize(row.to_number) if row.to_number else False
        external = {"incoming": row.from_number, "outgoing": row.to_number}.get(direction)
        patient = self.env["medpulse.patient"]
        if external:
            patient = patient.sudo()._lookup_by_phone(external, limit=1, company=company)
        reason = row.disconnect_reason
        if isinstance(reason, int):
            reason_text = f"{reason} {describe(reason)}"
        else:
            reason_text = reason or False
        start = row.create or row.start
        wait_end = row.answer or row.finish
        line = self.env["medpulse.telephony.line"].search(
            [("company_id", "=", company.id), ("number", "=", row.line_number)], limit=1
        ) if row.line_number else self.env["medpulse.telephony.line"]
        vals = {
            "company_id": company.id,
            "entry_id": row.entry_id or False,
            "direction": direction,
            "answered": row.answered,
            "start": _naive(start),
            "answer": _naive(row.answer),
            "finish": _naive(row.finish),
            # 0 when unknown, or when the times are decades apart (see
            # medpulse.call.times_implausible).
            "wait_seconds": mango_vpbx.calls.duration_seconds(start, wait_end) or 0,
            "talk_seconds": mango_vpbx.calls.duration_seconds(row.answer, row.finish) or 0,
            "from_extension": row.from_extension or False,
            "from_number": row.from_number or False,
            "from_e164": from_e164,
            "to_extension": row.to_extension or False,
            "to_number": row.to_number or False,
            "to_e164": to_e164,
            "from_user_id": Users._medpulse_find_pbx_operator(company, row.from_extension).id
            or False,
            "to_user_id": Users._medpulse_find_pbx_operator(company, row.to_extension).id or False,
            "line_number": row.line_number or False,
            "line_id": line.id or False,
            "disconnect_reason": reason_text,
            "location": row.location or False,
            "records": ", ".join(row.records) or False,
        }
        if patient:
            vals["patient_id"] = patient.id
        return vals
