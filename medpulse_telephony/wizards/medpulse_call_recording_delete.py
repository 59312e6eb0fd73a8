from odoo import fields, models


class MedpulseCallRecordingDelete(models.TransientModel):
    """Delete the audio of recordings on a patient's request, with the reason on record."""

    _name = "medpulse.call.recording.delete"
    _description = "Delete call recordings"

    recording_ids = fields.Many2many("medpulse.call.recording", string="Recordings", required=True)
    reason = fields.Text(
        required=True,
        help="Why the recording is deleted (e.g. the patient's written request of 12 May). "
        "Kept in the access log.",
    )

    def action_delete(self):
        self.ensure_one()
        self.recording_ids._delete_on_request(self.reason)
        return {"type": "ir.actions.act_window_close"}
