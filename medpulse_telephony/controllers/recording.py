"""The only way to the sound of a call recording.

The audio attachment is unreadable through the ORM and ``/web/content`` (see
``medpulse.call.recording``). This route serves it, with HTTP Range support (206 Partial
Content, so that the player can seek), only with a token that an explicit play or
download issued to this user for this recording (:meth:`_issue_audio_token`, which logs
the play): a link to the route in a message or a note, fetched by whoever displays it,
neither plays nor counts as a play. The "Listen to recordings" group is checked again
on every request.
"""

from werkzeug.exceptions import Forbidden, NotFound

from odoo import http
from odoo.http import request


class MedpulseRecordingController(http.Controller):
    @http.route(
        "/medpulse/recording/<int:recording_id>/audio",
        type="http",
        auth="user",
        methods=["GET", "HEAD"],
        readonly=True,
    )
    def recording_audio(self, recording_id, token=None, **_params):
        user = request.env.user
        if not user.has_group("medpulse_telephony.group_telephony_recordings"):
            raise Forbidden()
        Recording = request.env["medpulse.call.recording"]
        action = Recording._check_audio_token(recording_id, token)
        if not action:
            raise Forbidden()
        recording = Recording.browse(recording_id).exists()
        if not recording or not recording.has_access("read"):
            raise NotFound()
        attachment = recording.sudo().attachment_id
        if recording.state != "available" or not attachment:
            raise NotFound()
        stream = request.env["ir.binary"]._get_stream_from(attachment, "raw")
        stream.download_name = attachment.name
        stream.max_age = 0
        response = stream.get_response(as_attachment=action == "download", immutable=False)
        # Werkzeug announces ranges only in 206 answers; players decide to seek on the first.
        if "Accept-Ranges" not in response.headers:
            response.headers["Accept-Ranges"] = "bytes"
        # Personal data: no shared cache may keep it.
        response.headers["Cache-Control"] = "private, no-store"
        return response
