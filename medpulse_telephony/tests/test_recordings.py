"""Call recordings: from the PBX's events to a protected, logged, expiring audio file.

The PBX is the PBX double (``mango_vpbx_emulator.testing``): it refuses unsigned requests,
answers ``queries/recording/post`` with a 302 to a one-shot URL of its own (or with the
failures the real PBX gives, as each test scripts them), and serves real WAV bytes.
These are HttpCase tests so that the PBX request budget (kept in the database by
separate cursors) stays inside the test transaction.
"""

import io
import math
import struct
import uuid
import wave
from datetime import timedelta
from unittest.mock import patch

from markupsafe import Markup

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.medpulse_telephony.models.medpulse_call_recording import BACKOFF_MINUTES

import mango_vpbx
from mango_vpbx_emulator.testing import ACCEPTED, PbxDouble, closed_port_url


def make_wav(seconds=0.5, rate=8000):
    """A small, real WAV file: a 440 Hz tone."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        wav.writeframes(frames)
    return buffer.getvalue()


class RecordingCase(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.audio = make_wav()
        # A key of its own: the PBX request budget is per account.
        cls.api_key = f"rec-test-{uuid.uuid4().hex}"
        cls.api_salt = "rec-test-salt"
        cls.pbx = PbxDouble(cls.api_key, cls.api_salt, require_signature=True).start()
        cls.addClassCleanup(cls.pbx.stop)
        cls.company = cls.env.company
        cls.company.sudo().write(
            {
                "medpulse_pbx_api_url": cls.pbx.url,
                "medpulse_pbx_api_key": cls.api_key,
                "medpulse_pbx_api_salt": cls.api_salt,
                "medpulse_pbx_time_base": "utc",
            }
        )
        cls.operator = new_test_user(
            cls.env,
            login="rec_operator",
            groups="medpulse_telephony.group_telephony_operator",
            name="Operator Olga",
        )
        cls.operator.medpulse_pbx_extension = "101"
        cls.listener = new_test_user(
            cls.env,
            login="rec_listener",
            groups="medpulse_telephony.group_telephony_recordings",
        )
        cls.manager = new_test_user(
            cls.env,
            login="rec_manager",
            groups="medpulse_telephony.group_telephony_manager",
        )
        cls.manager.medpulse_pbx_extension = "102"
        cls.Recording = cls.env["medpulse.call.recording"]

    def setUp(self):
        super().setUp()
        #: recording id -> the answers to its next ``queries/recording/post`` requests:
        #: ``"ok"`` (302 to a one-shot file), ``"404"`` (HTTP 404), ``"3320"`` (HTTP 420 with
        #: code 3320, as the PBX does), ``"429"`` (over the request limits, retry after a
        #: second), ``"expired"`` (302 to a link that is already gone); ``"ok"`` when empty.
        self.recording_answers = {}
        self.pbx.reset()
        self.pbx.script("queries/recording/post", self.answer_recording_query)
        self.pbx.script("commands/recording/start", ACCEPTED)

    def answer_recording_query(self, request):
        answers = self.recording_answers.get(request.data["recording_id"]) or []
        answer = answers.pop(0) if answers else "ok"
        if answer == "404":
            return 404, ""
        if answer == "3320":
            return 420, {"code": 3320}
        if answer == "429":
            return 429, {"status": 429}, {"Retry-After": "1"}
        token = uuid.uuid4().hex
        if answer == "ok":  # one-shot: a second GET finds it gone (410)
            self.pbx.script(f"/files/{token}", (200, self.audio, {"Content-Type": "audio/wav"}),
                            (410, ""))
        return 302, "", {"Location": f"{self.pbx.base}/files/{token}"}

    def queries(self):
        return self.pbx.calls("queries/recording/post")

    # ------------------------------------------------------------ helpers

    def receive(self, path, payload):
        return self.env["medpulse.call.event"]._receive(
            self.company, path, mango_vpbx.signing.dumps(payload)
        )

    def record_call(
        self,
        recording_id,
        entry_id=None,
        extension="101",
        start=1_900_000_000,
        length=42,
        added=True,
        completion_code=1000,
        recipient="Cloud",
    ):
        """The events of a recorded call: Started, Completed and (optionally) record/added."""
        entry_id = entry_id or f"entry-{recording_id}"
        common = {
            "recording_id": recording_id,
            "entry_id": entry_id,
            "call_id": f"leg-{recording_id}",
            "extension": extension,
        }
        self.receive(
            "events/recording",
            {**common, "recording_state": "Started", "seq": 1, "timestamp": start},
        )
        self.receive(
            "events/recording",
            {
                **common,
                "recording_state": "Completed",
                "seq": 2,
                "timestamp": start + length,
                "completion_code": completion_code,
                "recipient": recipient,
            },
        )
        if added:
            self.receive(
                "events/record/added",
                {
                    "recording_id": recording_id,
                    "entry_id": entry_id,
                    "product_id": 1,
                    "user_id": 300001,
                    "timestamp": start + length + 5,
                },
            )
        return self.Recording.search([("recording_id", "=", recording_id)])

    def let_time_pass(self, recording):
        """Make the planned attempt due, and end the PBX's invalid-request pause."""
        recording.sudo().write({"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)})
        self.env.cr.execute(
            "UPDATE medpulse_telephony_limit SET at = at - %s WHERE kind = 'block'",
            [mango_vpbx.assumptions.LOCKOUT_SECONDS + 1],
        )

    def available_recording(self, recording_id):
        recording = self.record_call(recording_id)
        self.Recording._cron_download()
        self.assertEqual(recording.state, "available")
        return recording


@tagged("post_install", "-at_install")
class TestRecordingDownload(RecordingCase):
    def test_record_added_downloads_in_background(self):
        recording = self.record_call("rec-ok")
        self.assertEqual(len(recording), 1)
        self.assertEqual(recording.state, "waiting")
        self.assertEqual(recording.user_id, self.operator, "the recorded operator, by extension")
        self.assertEqual(recording.duration, 42)
        self.assertEqual(recording.pbx_user_id, "300001")
        self.assertEqual(recording.call_id.entry_id, "entry-rec-ok")
        self.assertFalse(self.pbx.requests, "nothing is downloaded inside the webhook request")
        cron = self.env.ref("medpulse_telephony.ir_cron_medpulse_call_recording_download")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self.assertTrue(triggers, "the event wakes the download cron")
        # A later event of the call (record/added again with another product, the same
        # recording) leaves its due time as it was: the cron is not woken again.
        self.receive("events/record/added", {
            "recording_id": "rec-ok", "entry_id": "entry-rec-ok", "product_id": 2,
            "user_id": 300001, "timestamp": 1_900_000_000 + 42 + 6,
        })
        self.assertEqual(recording.state, "waiting")
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers,
            "no second wake-up for the same download",
        )

        self.Recording._cron_download()

        self.assertEqual(recording.state, "available")
        self.assertEqual(self.queries(), [{"recording_id": "rec-ok", "action": "download"}])
        attachment = recording.sudo().attachment_id
        self.assertEqual(attachment.raw, self.audio)
        self.assertEqual(attachment.file_size, len(self.audio))
        self.assertEqual(attachment.mimetype, "audio/wav")
        self.assertEqual((attachment.res_model, attachment.res_id), (recording._name, recording.id))
        self.assertFalse(attachment.public)
        self.assertTrue(attachment.store_fname, "kept in the filestore")
        self.assertFalse(attachment.db_datas, "not in the database")
        self.assertEqual(recording.download_attempts, 1)

    def test_record_tagged_while_an_attempt_is_due_leaves_the_recording_row_alone(self):
        """``record/tagged`` follows ``record/added`` at once, often while the download
        cron is fetching the file: with an attempt already due it changes nothing of the
        recording, and its row is not rewritten (issue 25; the download's outcome is
        written by a transaction of its own, ``tests/e2e/test_two_instances.py``)."""
        recording = self.record_call("rec-quiet")
        self.assertEqual(recording.state, "waiting")
        due_since = fields.Datetime.now() - timedelta(minutes=1)
        recording.sudo().write({"next_attempt_at": due_since})

        def row_version():
            self.env.flush_all()
            self.env.cr.execute(
                "SELECT ctid FROM medpulse_call_recording WHERE id = %s", [recording.id]
            )
            return self.env.cr.fetchone()[0]

        before = row_version()
        self.receive(
            "events/record/tagged",
            {
                "recording_id": "rec-quiet",
                "entry_id": "entry-rec-quiet",
                "product_id": 1,
                "user_id": 300001,
                "timestamp": 1_900_000_000 + 42 + 6,
            },
        )
        self.assertEqual(row_version(), before, "record/tagged rewrote the recording's row")
        self.assertEqual((recording.state, recording.next_attempt_at), ("waiting", due_since))
        self.Recording._cron_download()
        self.assertEqual(recording.state, "available")
        self.assertEqual(len(self.queries()), 1)

    def test_a_call_s_other_recording_is_not_written_by_this_one_s_events(self):
        """Each recording event of a call looks at all its recordings (the folded call
        holds them): one whose events changed nothing of another recording writes no
        value to it (its row stays as the download job left it), and finds the call's
        recordings among those linked to it, searching only a recording id new to it."""
        first = self.record_call("rec-first", entry_id="entry-two-recordings")
        self.assertEqual(first.state, "waiting")
        before = first.read(["state", "next_attempt_at", "completion_code", "added"])
        Recording = type(self.Recording)
        written, searched = [], []
        original_write, original_search = Recording.write, Recording.search

        def write(records, vals):
            written.append((records.mapped("recording_id"), sorted(vals)))
            return original_write(records, vals)

        def search(model, domain, *args, **kwargs):
            searched.append(domain)
            return original_search(model, domain, *args, **kwargs)

        with patch.object(Recording, "write", write), patch.object(Recording, "search", search):
            second = self.record_call(
                "rec-second", entry_id="entry-two-recordings", start=1_900_000_100
            )
        self.assertEqual(second.state, "waiting")
        self.assertEqual(second.call_id, first.call_id)
        self.assertFalse([vals for ids, vals in written if "rec-first" in ids], written)
        self.assertTrue([vals for ids, vals in written if "rec-second" in ids])
        self.assertEqual(first.read(["state", "next_attempt_at", "completion_code", "added"]),
                         before)
        call_searches = [domain for domain in searched
                         if any(leaf[0] == "recording_id" for leaf in domain
                                if isinstance(leaf, tuple | list))]
        # One for the new recording's first event (its id is not among the call's
        # recordings yet), none for its later two (found among them), and record_call's:
        # not one per event (three), nor one per recording and event (six).
        self.assertEqual(len(call_searches), 1 + 1)

    def test_completed_without_record_added_waits_then_downloads(self):
        recording = self.record_call("rec-late", added=False)
        self.assertEqual(recording.state, "waiting")
        self.assertGreater(recording.next_attempt_at, fields.Datetime.now() + timedelta(minutes=4))
        self.Recording._cron_download()
        self.assertFalse(self.pbx.requests, "not due yet: the file is usually not ready at once")
        self.receive(
            "events/record/added", {"recording_id": "rec-late", "entry_id": "entry-rec-late"}
        )
        self.Recording._cron_download()
        self.assertEqual(recording.state, "available")

    def test_delayed_availability_retries_with_backoff(self):
        self.recording_answers["rec-slow"] = ["404", "3320", "ok"]
        recording = self.record_call("rec-slow")

        self.Recording._cron_download()
        self.assertEqual((recording.state, recording.download_attempts), ("waiting", 1))
        self.assertEqual(
            recording.next_attempt_at - recording.last_attempt_at,
            timedelta(minutes=BACKOFF_MINUTES[0]),
        )
        self.assertIn("3320", recording.last_error)
        self.Recording._cron_download()
        self.assertEqual(len(self.queries()), 1, "no new attempt before its time")

        self.let_time_pass(recording)
        self.Recording._cron_download()
        self.assertEqual((recording.state, recording.download_attempts), ("waiting", 2))
        self.assertEqual(
            recording.next_attempt_at - recording.last_attempt_at,
            timedelta(minutes=BACKOFF_MINUTES[1]),
        )

        # The 3320 paused every request of the account for two minutes (the PBX locks it
        # out after a second invalid request): an attempt due meanwhile waits, uncounted.
        recording.sudo().write({"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)})
        self.Recording._cron_download()
        self.assertEqual(len(self.queries()), 2, "no request during the pause")
        self.assertEqual(recording.download_attempts, 2)
        self.assertGreater(recording.next_attempt_at, fields.Datetime.now() + timedelta(seconds=60))

        self.let_time_pass(recording)
        self.Recording._cron_download()
        self.assertEqual((recording.state, recording.download_attempts), ("available", 3))
        self.assertEqual(recording.sudo().attachment_id.raw, self.audio)
        self.assertFalse(recording.next_attempt_at)
        self.assertFalse(recording.last_error)

    def test_rate_limit_pause_is_waited_out_within_the_cron(self):
        """Over the PBX's request limits (429) the account pauses for a moment: the cron
        waits it out and its next batch goes on, instead of postponing every recording of
        the batch to its next wake (a minute later)."""
        # Refused twice: the client's own second try (``VpbxClient``) is refused too.
        self.recording_answers["rec-busy-1"] = ["429", "429"]
        recordings = [self.record_call(f"rec-busy-{n}") for n in range(1, 4)]
        self.Recording._cron_download()
        self.assertEqual(recordings[0].download_attempts, 0, "a pause spends no attempt")
        self.Recording._cron_download()  # the cron's next batch, at once
        self.assertEqual([r.state for r in recordings], ["available"] * 3)
        self.assertEqual(len(self.queries()), 5)

    def test_recording_never_found_fails_with_reason(self):
        self.recording_answers["rec-gone"] = ["3320"] * (len(BACKOFF_MINUTES) + 1)
        recording = self.record_call("rec-gone")
        waits = []
        for _attempt in range(len(BACKOFF_MINUTES) + 1):
            self.Recording._cron_download()
            if recording.next_attempt_at:
                waits.append(recording.next_attempt_at - recording.last_attempt_at)
            if recording.state == "waiting":
                self.let_time_pass(recording)
        self.assertEqual(waits, [timedelta(minutes=m) for m in BACKOFF_MINUTES])
        self.assertEqual(recording.state, "failed")
        self.assertEqual(recording.download_attempts, len(BACKOFF_MINUTES) + 1)
        self.assertIn("3320", recording.last_error)
        self.assertFalse(recording.attachment_id)
        self.Recording._cron_download()
        self.assertEqual(
            len(self.queries()), len(BACKOFF_MINUTES) + 1, "a failed recording is left alone"
        )

    def test_expired_link_is_a_reason_and_retried(self):
        self.recording_answers["rec-expired"] = ["expired"]
        recording = self.record_call("rec-expired")
        self.Recording._cron_download()
        self.assertEqual(recording.state, "waiting")
        self.assertIn("expired", recording.last_error)
        self.let_time_pass(recording)
        self.Recording._cron_download()
        self.assertEqual(recording.state, "available")

    def test_pbx_down_is_a_reason(self):
        recording = self.record_call("rec-down")
        self.company.sudo().medpulse_pbx_api_url = closed_port_url()
        self.Recording._cron_download()
        self.assertEqual((recording.state, recording.download_attempts), ("waiting", 1))
        self.assertIn("could not be reached", recording.last_error)

    def test_too_short_recording_is_failed_without_download(self):
        recording = self.record_call("rec-short", added=False, completion_code=4002, recipient=None)
        self.assertEqual(recording.state, "failed")
        self.assertIn("4002", recording.last_error)
        self.Recording._cron_download()
        self.assertFalse(self.pbx.requests)

    def test_duplicate_and_late_events_do_not_restart_the_schedule(self):
        self.recording_answers["rec-dup"] = ["404"]
        recording = self.record_call("rec-dup")
        self.Recording._cron_download()
        planned = recording.next_attempt_at
        self.record_call("rec-dup")  # the PBX delivers everything again
        self.receive(
            "events/summary",
            {
                "entry_id": "entry-rec-dup",
                "call_direction": 1,
                "create_time": 1_900_000_000,
                "end_time": 1_900_000_050,
            },
        )
        self.assertEqual(recording.next_attempt_at, planned)
        self.assertEqual(self.Recording.search_count([("recording_id", "=", "rec-dup")]), 1)

    def test_start_recording_of_a_call_in_progress(self):
        entry = "entry-live"
        self.receive(
            "events/call",
            {
                "entry_id": entry,
                "call_id": "leg-live",
                "seq": 1,
                "call_state": "Appeared",
                "timestamp": 1_900_000_000,
                "location": "abonent",
                "from": {"number": "79161234567"},
                "to": {"extension": "102"},
            },
        )
        self.receive(
            "events/call",
            {
                "entry_id": entry,
                "call_id": "leg-live",
                "seq": 2,
                "call_state": "Connected",
                "timestamp": 1_900_000_005,
                "location": "abonent",
                "from": {"number": "79161234567"},
                "to": {"extension": "102"},
            },
        )
        call = self.env["medpulse.call"].search([("entry_id", "=", entry)])
        with self.assertRaises(AccessError):
            call.with_user(self.operator).action_start_recording()
        with self.assertRaises(UserError):
            call.with_user(self.listener).action_start_recording()  # no extension
        call.with_user(self.manager).action_start_recording()
        [request] = self.pbx.requests
        self.assertEqual(request.path, "commands/recording/start")
        self.assertEqual(
            (request.data["call_id"], request.data["call_party_number"]), ("leg-live", "102")
        )


@tagged("post_install", "-at_install")
class TestRecordingAccess(RecordingCase):
    def audio_url(self, recording, user, action="play"):
        """The address an explicit play (or download) by ``user`` gives (and logs)."""
        recording = recording.with_user(user)
        if action == "download":
            return recording.action_download()["url"]
        return recording.action_play()

    def test_operator_cannot_listen(self):
        recording = self.available_recording("rec-private")
        self.authenticate("rec_operator", "rec_operator")
        with self.assertRaises(AccessError):
            recording.with_user(self.operator).action_play()
        manager_url = self.audio_url(recording, self.manager)
        # Not even with a manager's address: the token is the manager's.
        response = self.url_open(manager_url)
        self.assertEqual(response.status_code, 403)
        attachment = recording.sudo().attachment_id
        with self.assertRaises(AccessError):
            attachment.with_user(self.operator).read(["raw"])
        with self.assertRaises(AccessError):
            recording.with_user(self.operator).read(["state"])
        self.assertFalse(
            self.env["medpulse.call.recording.access"].search(
                [("recording_id", "=", recording.id), ("user_id", "=", self.operator.id)]
            )
        )

    def test_manager_listens_and_every_play_is_logged(self):
        recording = self.available_recording("rec-listen")
        Access = self.env["medpulse.call.recording.access"]
        self.authenticate("rec_manager", "rec_manager")
        # Without the token of a play, the route serves nothing and logs nothing.
        bare = f"/medpulse/recording/{recording.id}/audio"
        self.assertEqual(self.url_open(bare).status_code, 403)
        self.assertFalse(Access.search([("recording_id", "=", recording.id)]))

        url = self.audio_url(recording, self.manager)
        log = Access.search([("recording_id", "=", recording.id)])
        self.assertEqual((log.user_id, log.action, log.request_count), (self.manager, "play", 1))
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, self.audio)
        self.assertEqual(response.headers["Content-Type"].split(";")[0], "audio/wav")
        self.assertEqual(response.headers.get("Accept-Ranges"), "bytes")
        self.assertIn("no-store", response.headers["Cache-Control"])

        response = self.url_open(url, headers={"Range": "bytes=100-199"})
        self.assertEqual(response.status_code, 206)
        self.assertEqual(response.content, self.audio[100:200])
        self.assertEqual(response.headers["Content-Range"], f"bytes 100-199/{len(self.audio)}")
        response = self.url_open(url, headers={"Range": "bytes=0-"})
        self.assertEqual(response.status_code, 206)
        self.assertEqual(response.content, self.audio)
        self.assertEqual(log.request_count, 1, "seeking within a play is the same play")
        self.audio_url(recording, self.manager)
        self.assertEqual(log.request_count, 2, "a second play soon after is counted on its line")

        download = self.audio_url(recording, self.manager, "download")
        self.assertIn("download=1", download)
        response = self.url_open(download)
        self.assertEqual(response.status_code, 200)
        self.assertIn("attachment", response.headers["Content-Disposition"])
        self.assertEqual(response.content, self.audio)
        self.assertEqual(
            sorted(Access.search([("recording_id", "=", recording.id)]).mapped("action")),
            ["download", "play"],
        )
        # A play's token does not download, and it is this recording's only.
        other = self.available_recording("rec-listen-other")
        query = url.split("?")[1]
        other_url = f"/medpulse/recording/{other.id}/audio?{query}"
        self.assertEqual(self.url_open(other_url).status_code, 403)
        self.assertEqual(self.url_open(f"{bare}?token=forged").status_code, 403)
        # Managers see the log and the recording; the sound itself only comes through the
        # logging route, not through the ORM nor the generic download routes.
        self.assertEqual(recording.with_user(self.manager).access_count, 2)
        self.assertEqual(recording.with_user(self.manager).file_size, len(self.audio))
        attachment = recording.sudo().attachment_id
        with self.assertRaises(AccessError):
            attachment.with_user(self.manager).read(["raw"])
        self.assertFalse(
            self.env["ir.attachment"].with_user(self.manager).search([("id", "=", attachment.id)])
        )
        self.assertNotEqual(self.url_open(f"/web/content/{attachment.id}").status_code, 200)
        self.assertNotEqual(
            self.url_open(
                f"/web/content/medpulse.call.recording/{recording.id}/audio_file"
            ).status_code,
            200,
        )

    def test_listener_plays_but_does_not_download(self):
        recording = self.available_recording("rec-listener")
        self.authenticate("rec_listener", "rec_listener")
        url = self.audio_url(recording, self.listener)
        self.assertEqual(self.url_open(url).status_code, 200)
        as_download = self.url_open(url + "&download=1")
        self.assertEqual(as_download.status_code, 200, "a play, not a download")
        self.assertNotIn("attachment", as_download.headers.get("Content-Disposition", ""))
        with self.assertRaises(AccessError):
            recording.with_user(self.listener).action_download()
        manager_download = self.audio_url(recording, self.manager, "download")
        self.assertEqual(self.url_open(manager_download).status_code, 403)
        with self.assertRaises(AccessError):
            self.env["medpulse.call.recording.access"].with_user(self.listener).search([])

    def test_player_in_the_call_form_holds_no_address(self):
        recording = self.available_recording("rec-player")
        call = recording.call_id
        html = str(call.with_user(self.manager).recording_player_html)
        self.assertIn("<audio", html)
        self.assertIn('preload="none"', html)
        self.assertIn(f'data-recording-id="{recording.id}"', html)
        self.assertNotIn("/medpulse/recording/", html)
        self.assertIn("o_medpulse_recording_download", html)
        listener_html = str(call.with_user(self.listener).recording_player_html)
        self.assertNotIn("o_medpulse_recording_download", listener_html)
        with self.assertRaises(AccessError):
            call.with_user(self.operator).read(["recording_player_html"])
        # Opening the form logs nothing: only pressing play does.
        call.with_user(self.manager).read(["recording_player_html"])
        Access = self.env["medpulse.call.recording.access"]
        accesses = Access.search([("recording_id", "=", recording.id)])
        self.assertFalse(accesses)

    def test_a_recording_in_a_message_plays_nothing_and_counts_no_play(self):
        """S10: an <img> (or <audio>) pointing at the audio route, posted in the chatter.

        It is stripped from the message, whatever its spelling; and even where such an
        address is shown (a link typed elsewhere), a reader's browser that fetches it gets
        403 and no play is logged in their name.
        """
        recording = self.available_recording("rec-chatter")
        call = recording.call_id
        spellings = [
            f"/medpulse/recording/{recording.id}/audio",
            f"/medpulse/%72ecording/{recording.id}/audio",
            f"/medpulse//recording/{recording.id}/audio",
            f"\\medpulse\\recording\\{recording.id}\\audio",
            f"/MEDPULSE/Recording/{recording.id}/audio",
            f"https://evil.example/x?u=/medpulse/recording/{recording.id}/audio",
        ]
        body = "".join(
            f'<p>listen <img src="{url}"><audio src="{url}"></audio>'
            f'<a href="{url}">here</a><span style="background-image:url({url})">x</span></p>'
            for url in spellings
        )
        self.authenticate("rec_listener", "rec_listener")
        self.make_jsonrpc_request("/mail/message/post", {
            "thread_model": "medpulse.call",
            "thread_id": call.id,
            "post_data": {"body": body, "message_type": "comment"},
        })
        message = call.message_ids[:1]
        self.assertIn("listen", str(message.body))
        for url in spellings:
            self.assertNotIn(url, str(message.body))
        self.assertNotIn("recording", str(message.body).lower())
        # The same through the ORM (another module posting for the user).
        posted = call.with_user(self.listener).message_post(body=Markup(body))
        self.assertNotIn("recording", str(posted.body).lower())
        # A manager reading it: their browser fetching such an address gets nothing.
        self.authenticate("rec_manager", "rec_manager")
        self.assertEqual(self.url_open(spellings[0]).status_code, 403)
        Access = self.env["medpulse.call.recording.access"]
        accesses = Access.search([("recording_id", "=", recording.id)])
        self.assertFalse(accesses)

    def test_manager_plays_the_recording_in_the_browser(self):
        recording = self.available_recording("rec-browser")
        url = f"/odoo/action-medpulse_telephony.medpulse_call_action/{recording.call_id.id}"
        # Render the web client once first: on a loaded machine a slow first render lets
        # headless Chrome's idle preconnected socket time out (an ERROR in the log).
        self.authenticate("rec_manager", "rec_manager")
        self.assertEqual(self.url_open(url).status_code, 200)
        self.start_tour(url, "medpulse_recording_player_tour", login="rec_manager")
        log = self.env["medpulse.call.recording.access"].search(
            [("recording_id", "=", recording.id)]
        )
        self.assertEqual((log.user_id, log.action, log.request_count), (self.manager, "play", 1))

    def test_deleted_recording_is_gone_for_everyone(self):
        recording = self.available_recording("rec-deleted")
        url = self.audio_url(recording, self.manager)
        recording.with_user(self.manager)._delete_on_request("Patient's written request")
        self.authenticate("rec_manager", "rec_manager")
        self.assertEqual(self.url_open(url).status_code, 404)
        with self.assertRaises(UserError):
            recording.with_user(self.manager).action_play()


@tagged("post_install", "-at_install")
class TestRecordingRetention(RecordingCase):
    def test_retention_deletes_old_audio_except_kept(self):
        self.company.medpulse_pbx_recording_retention_days = 30
        now = fields.Datetime.now()
        old = self.available_recording("rec-old")
        kept = self.available_recording("rec-kept")
        recent = self.available_recording("rec-recent")
        old.sudo().write({"started_at": now - timedelta(days=40)})
        kept.sudo().write({"started_at": now - timedelta(days=40)})
        kept.with_user(self.manager).keep = True
        recent.sudo().write({"started_at": now - timedelta(days=10)})
        old_attachment = old.sudo().attachment_id
        old._log_access("play")

        self.Recording._cron_apply_retention()

        self.assertEqual(old.state, "deleted")
        self.assertFalse(old_attachment.exists())
        self.assertIn("30", old.deleted_reason)
        self.assertTrue(old.access_ids, "the access log stays")
        self.assertEqual((kept.state, recent.state), ("available", "available"))
        self.assertTrue(kept.sudo().attachment_id.exists())

    def test_zero_days_keeps_forever(self):
        self.company.medpulse_pbx_recording_retention_days = 0
        old = self.available_recording("rec-forever")
        old.sudo().write({"started_at": fields.Datetime.now() - timedelta(days=4000)})
        self.Recording._cron_apply_retention()
        self.assertEqual(old.state, "available")

    def test_delete_on_request_logs_the_reason(self):
        recording = self.available_recording("rec-request")
        attachment = recording.sudo().attachment_id
        with self.assertRaises(AccessError):
            recording.with_user(self.listener)._delete_on_request("No reason to")
        wizard = (
            self.env["medpulse.call.recording.delete"]
            .with_user(self.manager)
            .create(
                {
                    "recording_ids": [fields.Command.set(recording.ids)],
                    "reason": "Patient's written request of 12 May",
                }
            )
        )
        wizard.action_delete()
        self.assertEqual(recording.state, "deleted")
        self.assertFalse(attachment.exists())
        self.assertEqual(recording.deleted_by_id, self.manager)
        log = recording.access_ids.filtered(lambda a: a.action == "delete")
        self.assertEqual(
            (log.user_id, log.note), (self.manager, "Patient's written request of 12 May")
        )
        with self.assertRaises(UserError):
            self.available_recording("rec-request-2").with_user(self.manager)._delete_on_request(
                "  "
            )

    def test_only_keep_can_be_changed(self):
        recording = self.available_recording("rec-keep")
        recording.with_user(self.manager).keep = True
        with self.assertRaises(AccessError):
            recording.with_user(self.manager).write({"state": "deleted"})
        with self.assertRaises(AccessError):
            recording.with_user(self.listener).keep = False
