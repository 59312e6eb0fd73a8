from datetime import timedelta

from odoo import api, fields, models

#: Plays (or downloads) of one recording by one user within this many minutes are counted
#: on one line of the log.
ACCESS_COALESCE_MINUTES = 30


class MedpulseCallRecordingAccess(models.Model):
    """Who played, downloaded or deleted which recording, and when.

    Written by the server only (the audio controller, the deletion), never edited:
    recordings are personal data and managers must be able to tell who heard them.
    """

    _name = "medpulse.call.recording.access"
    _description = "Call recording access"
    _order = "accessed_at desc, id desc"
    _rec_name = "recording_id"

    recording_id = fields.Many2one(
        "medpulse.call.recording",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(related="recording_id.company_id", store=True, index=True)
    call_id = fields.Many2one(related="recording_id.call_id", string="Call")
    user_id = fields.Many2one("res.users", required=True, readonly=True, index=True)
    action = fields.Selection(
        [("play", "Play"), ("download", "Download"), ("delete", "Delete")],
        required=True,
        readonly=True,
    )
    accessed_at = fields.Datetime(
        string="When", required=True, readonly=True, default=fields.Datetime.now
    )
    last_request_at = fields.Datetime(
        string="Last time",
        readonly=True,
        help="The plays of a recording by one user within 30 minutes are counted on one line.",
    )
    request_count = fields.Integer(string="Times", readonly=True, default=1, aggregator="sum")
    note = fields.Text(string="Reason", readonly=True)

    @api.model
    def _log(self, recordings, user, action, note=False):
        now = fields.Datetime.now()
        logs = self.browse()
        for recording in recordings:
            recent = self.browse()
            if action != "delete":
                recent = self.search(
                    [
                        ("recording_id", "=", recording.id),
                        ("user_id", "=", user.id),
                        ("action", "=", action),
                        ("last_request_at", ">=", now - timedelta(minutes=ACCESS_COALESCE_MINUTES)),
                    ],
                    order="last_request_at desc",
                    limit=1,
                )
            if recent:
                recent.write({"last_request_at": now, "request_count": recent.request_count + 1})
                logs |= recent
            else:
                logs |= self.create(
                    {
                        "recording_id": recording.id,
                        "user_id": user.id,
                        "action": action,
                        "accessed_at": now,
                        "last_request_at": now,
                        "note": note,
                    }
                )
        return logs
