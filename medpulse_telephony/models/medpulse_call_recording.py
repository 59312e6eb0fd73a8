import binascii
import logging
import mimetypes
import time
from datetime import timedelta, timezone

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import format_datetime
from odoo.tools.misc import hash_sign, verify_hash_signed

import mango_vpbx
from mango_vpbx.times import to_utc

from .medpulse_call import same_value
from .medpulse_call_event import in_new_transaction

_logger = logging.getLogger(__name__)

#: Minutes to wait before each new download attempt: the PBX often has the file only
#: some time after ``events/record/added`` (its documentation suggests retrying every
#: minute). After the last one the recording is marked failed.
BACKOFF_MINUTES = (1, 2, 5, 10, 30, 60, 180)
#: ``events/recording`` ``Completed`` without ``events/record/added``: the account may not
#: send the latter, so try anyway, late enough that the file is usually there (an early
#: 3320 pauses every request of the account for two minutes).
COMPLETED_GRACE_MINUTES = 5
#: Recordings downloaded per cron run before it reports progress and runs again
#: (Odoo commits between runs, so a slow PBX cannot make one huge transaction).
DOWNLOAD_BATCH = 10
#: How long the audio route accepts the token of one play or download (seeking included).
AUDIO_TOKEN_HOURS = 2
_AUDIO_TOKEN_SCOPE = "medpulse_telephony.recording_audio"
#: A pause of the PBX's request limits up to this long is waited out within a cron run.
PAUSE_WAIT_SECONDS = 3

STATES = [
    ("recording", "Recording"),
    ("waiting", "Waiting for the PBX"),
    ("available", "Available"),
    ("failed", "Failed"),
    ("deleted", "Deleted"),
]


class MedpulseCallRecording(models.Model):
    """A recording of a call made by the PBX, and its audio kept in Odoo's filestore.

    Created and updated from ``events/recording`` and ``events/record/added`` (see
    :meth:`_sync_from_state`). The audio is fetched by a cron (:meth:`_cron_download`),
    never in the webhook request, because the PBX's one-shot link must be used at once
    and the file is often not ready yet. The audio attachment is bound to this record
    through a system-only field, so nobody reads it through the ORM or
    ``/web/content``: it is served by ``/medpulse/recording/<id>/audio`` only, which
    checks the "Listen to recordings" group and logs every access.
    """

    _name = "medpulse.call.recording"
    _description = "Call recording"
    _order = "started_at desc, id desc"
    _rec_name = "recording_id"

    recording_id = fields.Char(string="PBX recording id", required=True, readonly=True, index=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    call_id = fields.Many2one(
        "medpulse.call",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
    )
    entry_id = fields.Char(string="PBX entry id", readonly=True, index=True)
    pbx_call_id = fields.Char(string="Leg id", readonly=True, help="The leg recorded last.")
    patient_id = fields.Many2one(related="call_id.patient_id", store=True, string="Patient")
    state = fields.Selection(STATES, required=True, readonly=True, default="recording", index=True)
    started_at = fields.Datetime(string="Started", readonly=True)
    completed_at = fields.Datetime(string="Completed", readonly=True)
    duration = fields.Integer(
        string="Duration (s)",
        compute="_compute_duration",
        store=True,
        aggregator="sum",
    )
    duration_display = fields.Char(string="Duration", compute="_compute_duration_display")
    extension = fields.Char(string="Recorded extension", readonly=True)
    pbx_user_id = fields.Char(string="Recorded PBX user id", readonly=True)
    user_id = fields.Many2one(
        "res.users", string="Recorded operator", readonly=True, index="btree_not_null"
    )
    completion_code = fields.Integer(readonly=True, aggregator=None)
    recipient = fields.Char(
        readonly=True, help="Where the PBX stored it: Cloud, Mail or CloudAndMail."
    )
    command_id = fields.Char(string="Command id", readonly=True, help="Set when started from Odoo.")
    added = fields.Boolean(
        string="In the PBX cloud",
        readonly=True,
        help="The PBX announced that the file can be downloaded (events/record/added).",
    )
    # The attachment's res_field, so that the file stays out of attachment lists; like
    # the attachment itself (see ir_attachment_recording.py) only administrators read it.
    audio_file = fields.Binary(string="Audio file", attachment=True, groups="base.group_system")
    attachment_id = fields.Many2one(
        "ir.attachment",
        string="Audio",
        readonly=True,
        ondelete="set null",
        groups="base.group_system",
    )
    file_size = fields.Integer(string="Size (bytes)", related="attachment_id.file_size")
    mimetype = fields.Char(string="File type", related="attachment_id.mimetype")
    download_attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(string="Next attempt", readonly=True, index="btree_not_null")
    last_attempt_at = fields.Datetime(string="Last attempt", readonly=True)
    last_error = fields.Text(readonly=True)
    keep = fields.Boolean(
        help="Never delete automatically (complaint, dispute): exempt from the retention period.",
    )
    deleted_reason = fields.Text(string="Deletion reason", readonly=True)
    deleted_by_id = fields.Many2one("res.users", string="Deleted by", readonly=True)
    deleted_at = fields.Datetime(string="Deleted on", readonly=True)
    access_ids = fields.One2many(
        "medpulse.call.recording.access",
        "recording_id",
        string="Access log",
        readonly=True,
        groups="medpulse_telephony.group_telephony_manager",
    )
    access_count = fields.Integer(
        compute="_compute_access_count",
        groups="medpulse_telephony.group_telephony_manager",
    )
    player_html = fields.Html(string="Player", compute="_compute_player_html", sanitize=False)
    # Speech analytics (medpulse.call.insight): the topics are the journal's to group by;
    # the transcript is what the patient said, so clinic roles only.
    topic_ids = fields.Many2many(
        "medpulse.call.topic", "medpulse_call_recording_topic_rel", "recording_id", "topic_id",
        string="Topics", readonly=True,
    )
    transcript = fields.Text(
        readonly=True,
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
        help="The PBX's transcript of the recording, where the account has speech analytics.",
    )

    _sql_constraints = [
        (
            "recording_company_uniq",
            "UNIQUE(company_id, recording_id)",
            "A recording with this PBX id already exists.",
        ),
    ]

    # ------------------------------------------------------------------ display

    @api.depends("started_at", "completed_at")
    def _compute_duration(self):
        for recording in self:
            # Unknown (0) when a timestamp is missing, or wrong: decades would overflow the column.
            recording.duration = (
                mango_vpbx.calls.duration_seconds(recording.started_at, recording.completed_at) or 0
            )

    @api.depends("duration")
    def _compute_duration_display(self):
        for recording in self:
            minutes, seconds = divmod(recording.duration, 60)
            recording.duration_display = f"{minutes}:{seconds:02d}" if recording.duration else False

    def _compute_access_count(self):
        counts = dict(
            self.env["medpulse.call.recording.access"]._read_group(
                [("recording_id", "in", self.ids)], ["recording_id"], ["__count"]
            )
        )
        for recording in self:
            recording.access_count = counts.get(recording, 0)

    @api.depends("state", "attachment_id")
    @api.depends_context("uid")
    def _compute_player_html(self):
        for recording in self:
            recording.player_html = recording._render_player()

    def _render_player(self, caption=False):
        """An HTML5 player of this recording for the current user, or False.

        It holds no address of the sound: the ``medpulse_recording_players`` widget asks
        for one (:meth:`action_play`) when the user presses play, and only then. Managers
        also get a download link. Nothing for users outside "Listen to recordings".
        """
        self.ensure_one()
        user = self.env.user
        if (
            not self.id
            or self.state != "available"
            or not user.has_group("medpulse_telephony.group_telephony_recordings")
        ):
            return False
        can_download = user.has_group("medpulse_telephony.group_telephony_manager")
        return self.env["ir.qweb"]._render(
            "medpulse_telephony.medpulse_call_recording_player",
            {
                "recording_id": self.id,
                "caption": caption,
                "unsupported": _("Your browser cannot play this recording."),
                "download": can_download and _("Download"),
            },
        )

    def _caption(self):
        self.ensure_one()
        started = (
            format_datetime(self.env, self.started_at, dt_format="short") if self.started_at else ""
        )
        return " · ".join(
            filter(None, [started, self.user_id.name or self.extension, self.duration_display])
        )

    def action_play(self):
        """The user pressed play: log the play, return the address of the sound.

        Called by the player (a JSON-RPC call, which a page cannot make on another
        site's behalf, and which ``<img src>`` or ``<audio src>`` never does).
        """
        self.ensure_one()
        return self._issue_audio_token("play")

    def action_download(self):
        self.ensure_one()
        self._check_manager()
        return {
            "type": "ir.actions.act_url",
            "url": self._issue_audio_token("download"),
            "target": "self",
        }

    def _issue_audio_token(self, action):
        """Log ``action`` (play, download) and return the audio route's address with a
        token for this user, this recording and this action, valid AUDIO_TOKEN_HOURS."""
        self.ensure_one()
        if not self.env.user.has_group("medpulse_telephony.group_telephony_recordings"):
            raise AccessError(_("You are not allowed to listen to call recordings."))
        self.check_access("read")
        if self.state != "available":
            raise UserError(_("This recording cannot be played: its audio is not in Odoo."))
        self._log_access(action)
        token = hash_sign(
            self.env(su=True), _AUDIO_TOKEN_SCOPE, [self.env.uid, self.id, action],
            expiration_hours=AUDIO_TOKEN_HOURS,
        )
        query = "?download=1&token=" if action == "download" else "?token="
        return f"/medpulse/recording/{self.id}/audio{query}{token}"

    @api.model
    def _check_audio_token(self, recording_id, token):
        """The action (play, download) that ``token`` allows the user on recording
        ``recording_id``, or None."""
        if not token:
            return None
        try:
            values = verify_hash_signed(self.env(su=True), _AUDIO_TOKEN_SCOPE, token)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            return None
        if not isinstance(values, list) or len(values) != 3:
            return None
        uid, token_recording_id, action = values
        if uid != self.env.uid or token_recording_id != recording_id:
            return None
        manager = self.env.user.has_group("medpulse_telephony.group_telephony_manager")
        if action == "download" and not manager:
            return None
        return action if action in ("play", "download") else None

    # ---------------------------------------------------------------- access

    def write(self, vals):
        # What the PBX and the download job recorded is evidence: people change "keep" only.
        if not self.env.su and set(vals) - {"keep"}:
            raise AccessError(_("Only the keep flag of a call recording can be changed."))
        return super().write(vals)

    def _check_manager(self):
        if not self.env.su and not self.env.user.has_group(
            "medpulse_telephony.group_telephony_manager"
        ):
            raise AccessError(_("Only telephony managers can do this with call recordings."))

    def _log_access(self, action, note=False):
        """Record that the current user played, downloaded or deleted these recordings.

        The plays (or downloads) of one user and recording within
        ``ACCESS_COALESCE_MINUTES`` are counted on one line.
        """
        return (
            self.env["medpulse.call.recording.access"]
            .sudo()
            ._log(self, self.env.user, action, note)
        )

    # ------------------------------------------------------------ PBX events

    @api.model
    def _sync_from_state(self, call, event, state):
        """Create or update the recordings of ``call`` after a new PBX event.

        ``state`` is the call folded from all its events, so the result does not depend
        on the order events arrive in; ``event`` adds what the fold does not keep (times,
        the PBX user id of ``record/added``). Schedules a download when the PBX says the
        file is ready, and wakes the download cron for it (once per new due time).
        """
        all_folded = list(getattr(state, "recordings", ()) or ())
        if not all_folded:
            return
        company = call.company_id
        time_base = company._medpulse_pbx_time_base()
        Users = self.env["res.users"]
        wake_at = []
        # The call's recordings as the transaction has them (read once for the events of
        # the call folded together: the later ones find them cached); a recording id not
        # among them in one search (unique per company), not one per recording and event.
        known = {recording.recording_id: recording for recording in call.sudo().recording_ids}
        unknown = [f.recording_id for f in all_folded if f.recording_id not in known]
        if unknown:
            for recording in self.search([
                ("company_id", "=", company.id), ("recording_id", "in", unknown),
            ]):
                known.setdefault(recording.recording_id, recording)
        for folded in all_folded:
            recording = known.get(folded.recording_id)
            if not recording:
                recording = self.create(
                    {
                        "company_id": company.id,
                        "recording_id": folded.recording_id,
                        "entry_id": call.entry_id,
                        "call_id": call.id,
                        "state": "recording",
                    }
                )
            vals = {
                "call_id": call.id,
                "entry_id": call.entry_id,
                "pbx_call_id": folded.call_id or recording.pbx_call_id,
                "completion_code": folded.completion_code or recording.completion_code,
                "added": folded.added,
            }
            if folded.extension and folded.extension != recording.extension:
                vals["extension"] = folded.extension
                vals["user_id"] = (
                    Users._medpulse_find_pbx_operator(company, folded.extension).id
                    or recording.user_id.id
                )
            own_event = getattr(event, "recording_id", None) == folded.recording_id
            if own_event:
                vals.update(recording._vals_from_event(event, time_base))
            if not vals.get("user_id") and not recording.user_id and vals.get("pbx_user_id"):
                user = (
                    Users.sudo()
                    .with_context(active_test=False)
                    .search(
                        [
                            ("medpulse_pbx_user_id", "=", vals["pbx_user_id"]),
                            ("company_ids", "in", company.ids),
                        ],
                        limit=1,
                    )
                )
                vals["user_id"] = user.id or False
            waiting_before = recording.state == "waiting" and recording.next_attempt_at
            recording._write_changed(vals)
            recording._write_changed(
                recording._next_state(
                    folded,
                    announced=own_event and isinstance(event, mango_vpbx.events.RecordAddedEvent),
                )
            )
            # Woken when a download is newly due: not again at each later event of the call
            # (the trigger it set is kept until the cron runs).
            waiting = recording.state == "waiting" and recording.next_attempt_at
            if waiting and waiting != waiting_before:
                wake_at.append(recording.next_attempt_at)
        if wake_at:
            self._wake_download_cron(min(wake_at))

    def _write_changed(self, vals):
        """Write the part of ``vals`` that changes this recording: the events of a call
        that change nothing of it (most of them) update no row, which the download job
        would have to wait for or retry after."""
        self.ensure_one()
        changed = {
            name: value for name, value in vals.items() if not same_value(self, name, value)
        }
        if changed:
            self.write(changed)

    def _vals_from_event(self, event, time_base):
        self.ensure_one()
        vals = {}
        moment = to_utc(event.timestamp, time_base) if event.timestamp else None
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None) if moment else None
        if isinstance(event, mango_vpbx.events.RecordingEvent):
            if moment and event.recording_state in ("Started", "Continued"):
                if not self.started_at or moment < self.started_at:
                    vals["started_at"] = moment
            if event.recording_state == "Completed":
                if moment:
                    vals["completed_at"] = moment
                if event.recipient:
                    vals["recipient"] = event.recipient
            if event.command_id:
                vals["command_id"] = event.command_id
        elif isinstance(event, mango_vpbx.events.RecordAddedEvent):
            if event.user_id and event.user_id > 0:
                vals["pbx_user_id"] = str(event.user_id)
        return vals

    def _next_state(self, folded, announced):
        """The state (and download schedule) after the folded recording ``folded``.

        ``announced`` is True when the event being processed is this recording's
        ``events/record/added``: the PBX says the file is ready, so try now, even if a
        later attempt was planned. Any other event of the call leaves a running download
        schedule alone.
        """
        self.ensure_one()
        if self.state in ("available", "deleted"):
            return {}
        now = fields.Datetime.now()
        if announced:
            # Try now, unless an attempt is already due: ``record/tagged`` (for the fold, a
            # ``record/added`` too) follows ``record/added`` at once, often while the
            # download cron is fetching the file; a new "now" would rewrite the row for
            # nothing, an update the cron's outcome must then wait for or retry after.
            vals = {"state": "waiting", "last_error": False}
            if self.state != "waiting" or not self.next_attempt_at or self.next_attempt_at > now:
                vals["next_attempt_at"] = now
            return vals
        if self.state != "recording":
            return {}
        if folded.added:
            return {"state": "waiting", "next_attempt_at": now}
        if folded.state != "Completed":
            return {}
        code = folded.completion_code
        if code and not mango_vpbx.codes.is_success(code):
            if code == 4002:
                reason = _("The recording was too short: the PBX did not save it (code 4002).")
            else:
                reason = _(
                    "The PBX did not save the recording (code %(code)s: %(meaning)s).",
                    code=code,
                    meaning=mango_vpbx.codes.describe(code),
                )
            return {"state": "failed", "last_error": reason}
        if self.recipient == "Mail":
            return {
                "state": "failed",
                "last_error": _(
                    "The PBX sent this recording by e-mail only: it is not in its cloud storage."
                ),
            }
        return {
            "state": "waiting",
            "next_attempt_at": now + timedelta(minutes=COMPLETED_GRACE_MINUTES),
        }

    @api.model
    def _wake_download_cron(self, at=None):
        self.env["ir.cron"]._medpulse_trigger(
            "medpulse_telephony.ir_cron_medpulse_call_recording_download", at
        )

    # ------------------------------------------------------------- download

    @api.model
    def _cron_download(self, batch_size=DOWNLOAD_BATCH):
        """Download the recordings whose next attempt is due, a batch at a time."""
        recordings = self.sudo()
        domain = [("state", "=", "waiting"), ("next_attempt_at", "<=", fields.Datetime.now())]
        due = recordings.search(domain, order="next_attempt_at asc, id asc", limit=batch_size)
        attempted, planned = [], []
        for recording in due:
            pause, next_attempt_at = recording._download()
            attempted.append(recording.id)
            if next_attempt_at:
                planned.append(next_attempt_at)
            if pause:
                # The account's request budget is spent for a moment: the rest of the batch
                # would only be refused. A short pause is waited out here, as the client
                # waits for a free slot, so the cron's next batch goes on at once (else it
                # would wait for the cron's next wake, a minute later).
                if pause <= PAUSE_WAIT_SECONDS:
                    time.sleep(pause)
                break
        # Each attempt's outcome was committed by a transaction of its own, after this
        # one's snapshot: what this one reads of the attempted recordings is their past.
        remaining = recordings.search_count(domain + [("id", "not in", attempted)])
        self.env["ir.cron"]._notify_progress(done=len(due), remaining=remaining)
        upcoming = recordings.search(
            [("state", "=", "waiting"), ("next_attempt_at", "!=", False),
             ("id", "not in", attempted)],
            order="next_attempt_at asc",
            limit=1,
        )
        planned += upcoming.mapped("next_attempt_at")
        if planned and not remaining:
            recordings._wake_download_cron(min(planned))
        return due

    def _download(self):
        """One attempt to fetch the audio from the PBX; on failure, plan the next one.

        The PBX is asked first; what came of it is written afterwards by a transaction of
        its own (:meth:`_record_outcome`), which starts once the answer is in. The webhook
        may update this recording while the file comes (another event of the call, taken
        by another worker or another Odoo instance): a write from the cron's transaction,
        whose snapshot is older than that update, would fail on it ("could not serialize
        access"), roll the stored audio back, and the next run would fetch the file again.

        Returns ``(pause, next attempt)``: the seconds to wait when the PBX's request
        limits paused the attempt (nothing spent), else 0; when the next attempt is planned
        (None once the file is stored or the recording failed).
        """
        self.ensure_one()
        now = fields.Datetime.now()
        company = self.company_id
        try:
            audio = company._medpulse_pbx_client().download_recording(self.recording_id)
            if not audio.content:
                raise mango_vpbx.VpbxNotFound(_("The PBX sent an empty file."))
        except (mango_vpbx.VpbxLockedOut, mango_vpbx.VpbxRateLimited) as error:
            # Our own pause to protect the account, not an answer about this recording:
            # wait it out without spending an attempt.
            if isinstance(error, mango_vpbx.VpbxLockedOut):
                retry_at = error.until.astimezone(timezone.utc).replace(tzinfo=None) + timedelta(
                    seconds=1
                )
            else:
                retry_at = now + timedelta(seconds=max(1, int(error.retry_after + 0.999)))
            paused = {
                "next_attempt_at": max(retry_at, now),
                "last_error": company._medpulse_pbx_error_text(error),
            }
            next_attempt_at = self._record_outcome(lambda recording: recording.write(paused))
            return max((retry_at - now).total_seconds(), 0.1), next_attempt_at
        except (mango_vpbx.VpbxError, UserError) as error:
            reason = self._failure_reason(error)
            return 0, self._record_outcome(lambda recording: recording._plan_retry(now, reason))

        def store(recording):
            recording._store_audio(audio.content, audio.content_type)
            recording.write(
                {
                    "state": "available",
                    "download_attempts": recording.download_attempts + 1,
                    "last_attempt_at": now,
                    "next_attempt_at": False,
                    "last_error": False,
                }
            )

        return 0, self._record_outcome(store)

    def _record_outcome(self, work):
        """``work(recording)`` on this recording in a new transaction, committed at once,
        if the recording still waits for its file (a manager may have deleted it meanwhile).
        A conflict with a concurrent update starts it again with a fresh snapshot. Returns
        the recording's next attempt then planned, if any."""
        self.ensure_one()
        self.env.flush_all()
        planned = []

        def still_waiting(env):
            recording = self.with_env(env)
            planned.clear()
            if recording.state == "waiting":
                work(recording)
                if recording.state == "waiting" and recording.next_attempt_at:
                    planned.append(recording.next_attempt_at)

        in_new_transaction(self.env(su=True), still_waiting, self._outcome_lost)
        # What this transaction cached of the recording is older than that commit.
        self.invalidate_recordset()
        return planned[0] if planned else None

    def _outcome_lost(self, error, attempt):
        # No call data in the log: the recording's id and the kind of failure only.
        _logger.warning("Recording %s: the download's outcome could not be saved (attempt %s, %s)",
                        self.id, attempt, type(error).__name__)

    def _failure_reason(self, error):
        """Why an attempt failed, in words an administrator can act on."""
        if isinstance(error, UserError):
            return error.args[0]
        if isinstance(error, mango_vpbx.VpbxNotFound):
            if error.code:
                return _(
                    "The PBX has no such recording (code %(code)s: %(meaning)s).",
                    code=error.code,
                    meaning=error.meaning,
                )
            if error.http_status:
                return _("The one-shot download link had expired or the file was gone.")
            return str(error)
        if isinstance(error, mango_vpbx.VpbxUnavailable):
            return _("The PBX could not be reached: %(error)s", error=str(error))
        return self.company_id._medpulse_pbx_error_text(error)

    def _plan_retry(self, now, reason):
        attempts = self.download_attempts + 1
        vals = {"download_attempts": attempts, "last_attempt_at": now, "last_error": reason}
        if attempts > len(BACKOFF_MINUTES):
            vals.update(state="failed", next_attempt_at=False)
            _logger.info("Recording %s: giving up after %s attempts: %s", self.id, attempts, reason)
        else:
            vals["next_attempt_at"] = now + timedelta(minutes=BACKOFF_MINUTES[attempts - 1])
        self.write(vals)

    def _store_audio(self, content, content_type):
        """Keep the audio in the filestore, bound to this recording (never public)."""
        self.ensure_one()
        mimetype = (content_type or "").split(";")[0].strip() or "audio/mpeg"
        extension = mimetypes.guess_extension(mimetype) or ".mp3"
        old = self.attachment_id
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"recording-{self.id}{extension}",
                    "raw": content,
                    "mimetype": mimetype,
                    "res_model": self._name,
                    "res_id": self.id,
                    "res_field": "audio_file",
                    "public": False,
                }
            )
        )
        self.sudo().attachment_id = attachment
        old.sudo().unlink()

    def action_retry_download(self):
        """Try again now (e.g. after fixing the PBX settings)."""
        self._check_manager()
        self.sudo().filtered(lambda r: r.state in ("waiting", "failed")).write(
            {
                "state": "waiting",
                "next_attempt_at": fields.Datetime.now(),
                "download_attempts": 0,
            }
        )
        self._wake_download_cron()

    # ------------------------------------------------------- keep and delete

    def _delete_audio(self, reason, user=None):
        """Delete the audio, keep the record and its access log."""
        now = fields.Datetime.now()
        for recording in self:
            recording.sudo().attachment_id.unlink()
            recording.sudo().write(
                {
                    "state": "deleted",
                    "attachment_id": False,
                    "next_attempt_at": False,
                    "deleted_reason": reason,
                    "deleted_by_id": user.id if user else False,
                    "deleted_at": now,
                }
            )

    def _delete_on_request(self, reason):
        """A manager deletes the audio on the patient's request; the reason is logged."""
        self._check_manager()
        reason = (reason or "").strip()
        if not reason:
            raise UserError(_("Give the reason for deleting the recording."))
        self._log_access("delete", note=reason)
        self._delete_audio(reason, user=self.env.user)

    def action_open_delete_wizard(self):
        self._check_manager()
        return {
            "type": "ir.actions.act_window",
            "name": _("Delete recording"),
            "res_model": "medpulse.call.recording.delete",
            "view_mode": "form",
            "target": "new",
            "context": {"default_recording_ids": self.ids},
        }

    def action_view_access_log(self):
        self.ensure_one()
        self._check_manager()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_recording_access_action"
        )
        action["domain"] = [("recording_id", "=", self.id)]
        action["context"] = {}
        return action

    @api.model
    def _cron_apply_retention(self):
        """Delete the audio of recordings older than their company's retention period."""
        recordings = self.sudo()
        now = fields.Datetime.now()
        for company in recordings.env["res.company"].search(
            [("medpulse_pbx_recording_retention_days", ">", 0)]
        ):
            limit = now - timedelta(days=company.medpulse_pbx_recording_retention_days)
            expired = recordings.search(
                [
                    ("company_id", "=", company.id),
                    ("state", "=", "available"),
                    ("keep", "=", False),
                    "|",
                    ("started_at", "<", limit),
                    "&",
                    ("started_at", "=", False),
                    ("create_date", "<", limit),
                ]
            )
            if expired:
                expired._delete_audio(
                    _(
                        "Retention period of %(days)s days ended.",
                        days=company.medpulse_pbx_recording_retention_days,
                    )
                )
                _logger.info(
                    "Deleted the audio of %s recordings of company %s (retention)",
                    len(expired),
                    company.id,
                )
