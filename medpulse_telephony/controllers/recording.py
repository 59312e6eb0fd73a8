"""The only way to the sound of a call recording.

The audio attachment is unreadable through the ORM and ``/web/content`` (see
``medpulse.call.recording``); this route checks the "Listen to recordings" group on
every request, logs it, and serves the file with HTTP Range support (206 Partial
Content), so the browser's player can seek without downloading the whole file.
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
        readonly=False,
    )
    def recording_audio(self, recording_id, download=None, **_params):
        user = request.env.user
        if not user.has_group("medpulse_telephony.group_telephony_recordings"):
            raise Forbidden()
        as_download = download not in (None, "", "0", "false")
        if as_download and not user.has_group("medpulse_telephony.group_telephony_manager"):
            raise Forbidden()
        recording = request.env["medpulse.call.recording"].browse(recording_id).exists()
        if not recording or not recording.has_access("read"):
            raise NotFound()
        attachment = recording.sudo().attachment_id
        if recording.state != "available" or not attachment:
            raise NotFound()
        recording._log_access("download" if as_download else "play")
        stream = request.env["ir.binary"]._get_stream_from(attachment, "raw")
        stream.download_name = attachment.name
        stream.max_age = 0
        response = stream.get_response(as_attachment=as_download, immutable=False)
        # Werkzeug announces ranges only in 206 answers; players decide to seek on the first.
        if "Accept-Ranges" not in response.headers:
            response.headers["Accept-Ranges"] = "bytes"
        # Personal data: no shared cache may keep it.
        response.headers["Cache-Control"] = "private, no-store"
        return response
