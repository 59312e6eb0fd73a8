"""The PBX down (nothing listens) or slow (it answers after the client gave up), and
the first requests of two workers at the same moment (the lockout race).

For a transfer, a recording download and a statistics request: a clear error for the
user or on the health screen, the worker back within the client's timeout, nothing
half-written, and a retry where it is safe. Reads are retried (the recording by the
download cron's back-off, the statistics by the next reconciliation, which starts
where the failed one started); a command never is: when its answer is lost the PBX
may have carried it out, and a second transfer would move the call again.

The slow PBX is the PBX double (``mango_vpbx_emulator.testing``) told to think longer
than the client waits; the client's timeout is cut from 10 s to 1 s for these tests.
"""

import threading
import time
from datetime import timedelta, timezone
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

import mango_vpbx
from mango_vpbx_emulator.testing import PbxDouble, Response, closed_port_url

from ..models import res_company
from ..models.medpulse_call_reconcile import MedpulseCallReconcile
from ..models.medpulse_call_recording import BACKOFF_MINUTES
from .click_to_call_common import ClickToCallCase
from .common import (
    API_KEY,
    API_SALT,
    LINE,
    PATIENT_NUMBER,
    CommittedPbxBudget,
    TelephonyFixtures,
    stats_pbx,
    window_csv,
)
from .test_call_control import connected
from .test_recordings import RecordingCase

TIMEOUT = 1.0  # the client's timeout here (PBX_TIMEOUT_SECONDS: 10 s in production)
SLOW = TIMEOUT + 2  # how long the slow PBX thinks before answering
MARGIN = 2.0  # what a loaded 2-core machine may add to a timeout


def slow_pbx(test, api_key, api_salt):
    """A started PBX double that answers only after the client's timeout."""
    pbx = PbxDouble(api_key, api_salt, require_signature=True).start()
    test.addCleanup(pbx.stop)
    pbx.script("*", Response(200, {"result": 1000}, delay=SLOW))
    return pbx


def timed(function, *args, **kwargs):
    """``(result or exception, seconds)`` of one call."""
    started = time.monotonic()
    try:
        outcome = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - returned to the test
        outcome = error
    return outcome, time.monotonic() - started


def at_once(*jobs):
    """Run the jobs in threads released at the same moment: each one's result or exception."""
    barrier = threading.Barrier(len(jobs))
    outcomes = [None] * len(jobs)

    def run(index, job):
        barrier.wait()
        try:
            outcomes[index] = job()
        except Exception as error:  # noqa: BLE001 - returned to the test
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


# ------------------------------------------------------------------------ transfer


@tagged("post_install", "-at_install")
@patch.object(res_company, "PBX_TIMEOUT_SECONDS", TIMEOUT)
class TestTransferPbxOutage(ClickToCallCase):
    CALL_FIELDS = ["result", "is_final", "transfers", "answered_user_id", "operator_user_id",
                   "followup_state", "write_date"]

    def transfer(self):
        call = self.receive(connected())
        self.env.flush_all()
        before = call.read(self.CALL_FIELDS)
        answer, seconds = timed(
            call.with_user(self.operator1).action_transfer, target_user_id=self.operator2.id
        )
        return call, before, answer, seconds

    def assert_failed_cleanly(self, call, before, answer):
        self.assertFalse(answer["ok"], answer)
        command = self.command(answer)
        self.assertEqual((command.kind, command.state), ("transfer", "failed"), "not left pending")
        self.assertEqual(command.error_text, answer["message"])
        self.env.invalidate_all()
        self.assertEqual(call.read(self.CALL_FIELDS), before, "the call is unchanged")
        self.assertFalse(self.Command.sudo().search_count([("state", "=", "pending")]))

    def test_transfer_pbx_down(self):
        self.company.sudo().medpulse_pbx_api_url = closed_port_url()
        call, before, answer, seconds = self.transfer()
        self.assertIn("Could not reach the PBX", answer["message"])
        self.assertLess(seconds, TIMEOUT + MARGIN)
        self.assert_failed_cleanly(call, before, answer)

    def test_transfer_pbx_slow(self):
        slow = slow_pbx(self, API_KEY, API_SALT)
        self.company.sudo().medpulse_pbx_api_url = slow.url
        call, before, answer, seconds = self.transfer()
        self.assertIn("did not answer in time", answer["message"])
        self.assertGreaterEqual(seconds, TIMEOUT, "it did wait for the PBX")
        self.assertLess(seconds, TIMEOUT + MARGIN, "and no longer than its timeout")
        self.assertEqual(
            [r.path for r in slow.requests], ["commands/transfer"],
            "sent once, never retried: the PBX may have transferred the call anyway",
        )
        self.assert_failed_cleanly(call, before, answer)


# ------------------------------------------------------------------------ recordings


@tagged("post_install", "-at_install")
@patch.object(res_company, "PBX_TIMEOUT_SECONDS", TIMEOUT)
class TestRecordingPbxOutage(RecordingCase):
    def download(self):
        _due, seconds = timed(self.Recording._cron_download)
        return seconds

    def assert_retried_later(self, recording, reason):
        self.assertEqual((recording.state, recording.download_attempts), ("waiting", 1))
        self.assertIn(reason, recording.last_error)
        self.assertEqual(
            recording.next_attempt_at - recording.last_attempt_at,
            timedelta(minutes=BACKOFF_MINUTES[0]),
        )
        self.assertFalse(recording.sudo().attachment_id, "no half-written audio")
        self.assertFalse(
            self.env["ir.attachment"].sudo().search_count(
                [("res_model", "=", recording._name), ("res_id", "=", recording.id)]
            )
        )
        # The PBX is back: the cron's next attempt downloads the file.
        self.company.sudo().medpulse_pbx_api_url = self.pbx.url
        self.let_time_pass(recording)
        self.Recording._cron_download()
        self.assertEqual((recording.state, recording.download_attempts), ("available", 2))
        self.assertEqual(recording.sudo().attachment_id.raw, self.audio)

    def test_recording_download_pbx_down(self):
        recording = self.record_call("rec-outage-down")
        self.company.sudo().medpulse_pbx_api_url = closed_port_url()
        seconds = self.download()
        self.assertLess(seconds, TIMEOUT + MARGIN)
        self.assert_retried_later(recording, "could not be reached")

    def test_recording_download_pbx_slow(self):
        recording = self.record_call("rec-outage-slow")
        slow = slow_pbx(self, self.api_key, self.api_salt)
        self.company.sudo().medpulse_pbx_api_url = slow.url
        seconds = self.download()
        self.assertGreaterEqual(seconds, TIMEOUT)
        self.assertLess(seconds, TIMEOUT + MARGIN)
        self.assertEqual([r.path for r in slow.requests], ["queries/recording/post"])
        self.assertIn("did not answer in time", recording.last_error)
        self.assert_retried_later(recording, "could not be reached")


# ------------------------------------------------------------------------ statistics


@tagged("post_install", "-at_install")
@patch.object(res_company, "PBX_TIMEOUT_SECONDS", TIMEOUT)
@patch.object(MedpulseCallReconcile, "_stats_poll_interval", lambda self: 0.2)
class TestStatsPbxOutage(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.Reconcile = cls.env["medpulse.call.reconcile"]
        cls.Call = cls.env["medpulse.call"].sudo()

    def setUp(self):
        super().setUp()
        self.forget_grants()

    def forget_grants(self):
        """Free the statistics' rate-limit slot (1 request per 2 s), committed by the store,
        so that a timing measures the PBX, not the wait for the slot of the last request."""
        account = self.company._medpulse_pbx_client().account
        with self.registry.cursor() as cr:
            cr.execute(
                "DELETE FROM medpulse_telephony_limit WHERE kind = 'grant' AND key LIKE %s",
                [f"{account}:%"],
            )

    def reconcile_fails_then_catches_up(self, url, reason):
        now = fields.Datetime.now().replace(microsecond=0)
        before = now - timedelta(hours=2)
        self.company.sudo().write(
            {"medpulse_pbx_reconciled_until": before, "medpulse_pbx_api_url": url}
        )
        calls = self.Call.search_count([])
        _result, seconds = timed(self.Reconcile._cron_reconcile)
        self.assertLess(seconds, TIMEOUT + MARGIN, "the cron worker is back within the timeout")
        run = self.Reconcile.search([("company_id", "=", self.company.id)], limit=1)
        self.assertEqual((run.state, run.row_count), ("failed", 0))
        self.assertIn(reason, run.error)
        health = self.env["medpulse.telephony.health"].with_user(self.manager).create({})
        self.assertEqual(health.last_error, run.error, "shown on the health screen")
        self.assertEqual(self.Call.search_count([]), calls, "no call written")
        self.assertEqual(
            self.company.medpulse_pbx_reconciled_until, before, "not marked as reconciled"
        )
        # The PBX is back: the next run asks for the same period again and recovers the call.
        epoch = int(now.replace(tzinfo=timezone.utc).timestamp())
        row = {
            "entry_id": "E-OUTAGE", "records": "", "start": epoch - 1800, "finish": epoch - 1760,
            "answer": 0, "from_extension": "", "from_number": PATIENT_NUMBER, "to_extension": "101",
            "to_number": "", "disconnect_reason": 1110, "line_number": LINE, "location": "queue",
            "create": epoch - 1800,
        }
        with stats_pbx(window_csv([row]), not_ready=0) as pbx:
            self.company.sudo().medpulse_pbx_api_url = pbx.url
            self.Reconcile._cron_reconcile()
        retried_from = (before - timedelta(hours=1)).replace(tzinfo=timezone.utc)
        self.assertEqual(
            int(pbx.calls("stats/request")[0]["date_from"]), int(retried_from.timestamp())
        )
        self.assertTrue(self.Call.search([("entry_id", "=", "E-OUTAGE")]).recovered_from_stats)
        self.assertGreaterEqual(self.company.medpulse_pbx_reconciled_until, now)
        return seconds

    def test_reconciliation_pbx_down(self):
        self.reconcile_fails_then_catches_up(closed_port_url(), "Could not reach the PBX")

    def test_reconciliation_pbx_slow(self):
        slow = slow_pbx(self, API_KEY, API_SALT)
        seconds = self.reconcile_fails_then_catches_up(slow.url, "did not answer in time")
        self.assertGreaterEqual(seconds, TIMEOUT)
        self.assertEqual([r.path for r in slow.requests], ["stats/request"])

    def test_statistics_wizard_pbx_down_and_slow(self):
        slow = slow_pbx(self, API_KEY, API_SALT)
        for url, reason in ((closed_port_url(), "Could not reach the PBX"),
                            (slow.url, "did not answer in time")):
            with self.subTest(reason):
                self.forget_grants()
                self.company.sudo().medpulse_pbx_api_url = url
                wizard = self.env["medpulse.pbx.stats.wizard"].with_user(self.manager).create({})
                error, seconds = timed(wizard.action_request)
                self.assertIsInstance(error, UserError)
                self.assertIn(reason, str(error))
                self.assertLess(seconds, TIMEOUT + MARGIN)
                self.assertEqual((wizard.state, len(wizard.line_ids)), ("draft", 0), "no rows")


# ------------------------------------------------------------------------ lockout race


@tagged("post_install", "-at_install")
class TestOneRequestAtATime(CommittedPbxBudget, TransactionCase):
    """Two or three workers (threads with the database store on their own cursors)."""

    PREFIX = "race"

    def workers(self, count):
        return [self.company._medpulse_pbx_client() for _ in range(count)]

    def test_first_requests_at_once_only_one_reaches_the_pbx(self):
        """No 3xxx yet; three workers send at the same moment; the PBX answers 3104 in 1 s.

        Without one request at a time all three would be on their way before the first
        answer came back, and the second 3xxx within two minutes locks the account.
        """
        self.stub.fail("commands/call/hangup", 3104, delay=1)
        workers = self.workers(3)
        outcomes = at_once(*(lambda w=w, i=i: w.hangup(f"leg-{i}") for i, w in enumerate(workers)))
        self.assertEqual(len(self.stub.requests), 1, "a second request could get a second 3xxx")
        self.assertEqual(
            sorted(type(o).__name__ for o in outcomes),
            ["VpbxLockedOut", "VpbxLockedOut", "VpbxRequestError"],
        )
        paused = self.company._medpulse_pbx_error_text(next(
            o for o in outcomes if isinstance(o, mango_vpbx.VpbxLockedOut)))
        self.assertIn("paused until", paused)
        with self.assertRaises(mango_vpbx.VpbxLockedOut):
            self.workers(1)[0].balance()
        self.assertEqual(len(self.stub.requests), 1)

    def test_a_worker_that_waits_too_long_for_its_turn_sends_nothing(self):
        self.stub.script("*", Response(200, {"result": 1000}, delay=2))
        slow, hasty = self.workers(2)
        hasty.max_busy_wait = 0.5

        def late():
            time.sleep(0.3)
            return timed(hasty.hangup, "leg-2")

        first, (busy, seconds) = at_once(lambda: slow.hangup("leg-1"), late)
        self.assertIsInstance(first, str, "the first request went through")
        self.assertIsInstance(busy, mango_vpbx.VpbxBusy)
        self.assertLess(seconds, 0.5 + MARGIN)
        self.assertIn(
            "still answering another request", self.company._medpulse_pbx_error_text(busy)
        )
        self.assertEqual(len(self.stub.requests), 1)
