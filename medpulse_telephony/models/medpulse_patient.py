from odoo import api, fields, models


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
