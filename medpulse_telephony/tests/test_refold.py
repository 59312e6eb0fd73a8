"""Derived data: a release that changes the fold refolds the journal from the stored events.

Each call records the fold version (and the statistics mapping version) that computed it.
Here a new fold is constructed: a test-only variant of the toolkit's ``fold`` (our pure
code; the ORM and the database are real) that reports one second more of waiting for an
answered call and another PBX reason for a missed one, with ``FOLD_VERSION`` raised by one.
The cron then folds every call of version 1 again from its stored events, in batches;
stopped in the middle (the worker killed), it resumes after its last committed call;
meanwhile the webhook keeps folding the calls it receives events for; what changed is
counted per field and shown on the integration health screen, in the browser.
"""

import dataclasses
import unittest
from contextlib import contextmanager
from datetime import datetime, timezone
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, tagged

import mango_vpbx

from ..models.medpulse_call_refold import MedpulseCallRefold
from .common import (
    API_KEY,
    API_SALT,
    LINE,
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    call_event,
    incoming_answered,
    incoming_missed,
)

PREFIX = "E-RF-"
ANSWERED = [f"{PREFIX}A{i}" for i in range(1, 6)]
MISSED = [f"{PREFIX}M{i}" for i in range(1, 3)]
NEW_REASON = "refold test: the new fold's reason"
_ORIGINAL_FOLD = mango_vpbx.fold
#: The toolkit's fold version, which computed the calls stored here, and the next one.
CURRENT = mango_vpbx.calls.FOLD_VERSION
NEXT = CURRENT + 1


def fold_v2(events, time_base=mango_vpbx.times.DEFAULT_TIME_BASE):
    """The constructed fold of the next version: the same as the current one but for two
    fields."""
    state = _ORIGINAL_FOLD(events, time_base=time_base)
    if state.result == "answered":
        return dataclasses.replace(state, wait_seconds=(state.wait_seconds or 0) + 1)
    return dataclasses.replace(state, disconnect_reason_text=NEW_REASON)


@contextmanager
def new_fold():
    """The toolkit of the next release, in this process: the next fold version."""
    with patch.object(mango_vpbx, "fold", fold_v2), \
            patch.object(mango_vpbx.calls, "FOLD_VERSION", NEXT):
        yield


class _Interrupted(BaseException):
    """The worker stops (killed, out of time): nothing of the current call commits."""


@tagged("post_install", "-at_install")
class TestRefold(TelephonyFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.Call = cls.env["medpulse.call"].sudo()
        cls.Refold = cls.env["medpulse.call.refold"].sudo()

    def setUp(self):
        super().setUp()
        for i, entry in enumerate(ANSWERED):
            self.receive(incoming_answered(entry, t0=T0 + 600 * i))
        for i, entry in enumerate(MISSED):
            self.receive(incoming_missed(entry, t0=T0 + 7200 + 600 * i))
        # The calls of the database's demo data are not this test's: already at the next.
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE medpulse_call SET fold_version = %s, stats_version = 0"
            " WHERE entry_id NOT LIKE %s", [NEXT, f"{PREFIX}%"],
        )
        self.env.invalidate_all()

    def calls(self):
        return self.Call.search([("entry_id", "=like", f"{PREFIX}%")], order="id")

    def post(self, path, payload):
        response = self.url_open(f"/mango/{path}",
                                 data=mango_vpbx.encode(payload, API_KEY, API_SALT))
        self.assertEqual(response.status_code, 200)

    def health(self, user):
        return self.env["medpulse.telephony.health"].with_user(user).create({})

    def test_refold_in_batches_resumable_counted_webhook_meanwhile(self):
        calls = self.calls()
        self.assertEqual(len(calls), 7)
        self.assertEqual(set(calls.mapped("fold_version")), {mango_vpbx.calls.FOLD_VERSION})
        before = {call.entry_id: (call.wait_seconds, call.disconnect_reason_text,
                                  call.followup_state, call.result) for call in calls}
        cron = self.env.ref("medpulse_telephony.ir_cron_medpulse_call_refold")
        Trigger = self.env["ir.cron.trigger"].sudo()
        with new_fold():
            # Nothing changed yet: the old values stand until the cron gets to a call.
            self.assertEqual(self.Refold._cron_refold(batch=3), 3)
            run = self.Refold._latest(self.company)
            self.assertEqual((run.state, run.fold_version, run.call_count), ("running", NEXT, 7))
            self.assertEqual((run.done_count, run.remaining_count), (3, 4))
            self.assertEqual(calls[:3].mapped("fold_version"), [NEXT] * 3)
            self.assertEqual(calls[3:].mapped("fold_version"), [CURRENT] * 4)
            self.assertTrue(Trigger.search([("cron_id", "=", cron.id)]),
                            "a full batch triggers the cron again for the rest")
            health = self.health(self.manager)
            self.assertEqual((health.refold_id, health.refold_state), (run, "running"))
            self.assertEqual((health.refold_done_count, health.refold_remaining_count), (3, 4))

            # The worker is killed while folding the second call of the next batch.
            refold_locked = MedpulseCallRefold._refold_locked
            seen = []

            def killed_on_second(self_, run_id, call_id):
                seen.append(call_id)
                if len(seen) == 2:
                    raise _Interrupted
                return refold_locked(self_, run_id, call_id)

            # (Not Odoo's assertRaises: it rolls back to a savepoint of its own.)
            with patch.object(MedpulseCallRefold, "_refold_locked", killed_on_second), \
                    unittest.TestCase.assertRaises(self, _Interrupted):
                self.Refold._cron_refold(batch=3)
            run.invalidate_recordset()
            self.assertEqual((run.done_count, run.last_call_id), (4, calls[3].id),
                             "the first call of the batch committed, the second did not")
            self.assertEqual(calls[4].fold_version, CURRENT)

            # Meanwhile the webhook receives an event of a call not refolded yet: it is
            # folded at once, by the new fold, and the refold will leave it alone.
            last = calls[-1]
            self.post(*call_event(last.entry_id, f"{last.entry_id}:ivr", 3, "Disconnected",
                                  T0 + 7200 + 600 + 5, "ivr", {"number": PATIENT_NUMBER},
                                  {"number": LINE, "line_number": LINE}, disconnect_reason=1100))
            last.invalidate_recordset()
            self.assertEqual((last.fold_version, last.disconnect_reason_text), (NEXT, NEW_REASON))
            self.assertEqual(run.remaining_count, 2)

            # The next run resumes after the last committed call and finishes.
            self.assertEqual(self.Refold._cron_refold(batch=200), 2)
            run.invalidate_recordset()
            self.assertEqual((run.state, run.done_count, run.remaining_count), ("done", 6, 0))
            self.assertTrue(run.date_done)
            self.assertEqual(self.Refold._cron_refold(batch=200), 0, "nothing left, no new run")
            self.assertEqual(self.Refold.search_count([("company_id", "=", self.company.id)]), 1)

        calls.invalidate_recordset()
        self.assertEqual(set(calls.mapped("fold_version")), {NEXT})
        for call in calls:
            wait, reason, followup, result = before[call.entry_id]
            if result == "answered":
                self.assertEqual((call.wait_seconds, call.disconnect_reason_text),
                                 (wait + 1, reason))
            else:
                self.assertEqual((call.wait_seconds, call.disconnect_reason_text),
                                 (wait, NEW_REASON))
            self.assertEqual(call.followup_state, followup)
        # Counted per field, only what the refold itself changed (the webhook's call aside).
        self.assertEqual(run.field_counts, {"wait_seconds": 5, "disconnect_reason_text": 1})
        self.assertEqual(run.changed_count, 6)
        self.assertIn("Waiting (s)", run.changes_html)

        # The health screen shows it, in the browser, to those who may see it.
        with new_fold():
            for user in (self.manager, self.env.ref("base.user_admin")):
                with self.subTest(user=user.login):
                    health = self.health(user)
                    self.assertEqual((health.refold_state, health.refold_done_count,
                                      health.refold_remaining_count), ("done", 6, 0))
                    self.assertIn("PBX reason", health.refold_changes_html)
                    self.start_tour("/odoo", "medpulse_refold_health_tour", login=user.login)

    def test_an_unchanged_fold_refolds_nothing(self):
        self.assertEqual(self.Refold._cron_refold(), 0)
        self.assertFalse(self.Refold._latest(self.company))
        self.assertFalse(self.health(self.manager).refold_id)

    def test_calls_of_an_older_statistics_mapping_are_asked_again(self):
        start = datetime(2026, 3, 1, 8, 0)
        row = mango_vpbx.stats.StatsRow(
            entry_id=f"{PREFIX}S1", start=start.replace(tzinfo=timezone.utc),
            create=start.replace(tzinfo=timezone.utc),
            finish=datetime(2026, 3, 1, 8, 1, tzinfo=timezone.utc),
            from_number="79160000001", to_number="74951234567", line_number="74951234567",
            disconnect_reason=1110, location="abonent",
        )
        self.assertEqual(self.Call._apply_stats_rows(self.company, row.entry_id, [row]),
                         "created")
        call = self.Call.search([("entry_id", "=", row.entry_id)])
        self.assertEqual((call.stats_version, call.fold_version), (1, 0))
        self.company.sudo().medpulse_pbx_reconciled_until = datetime(2026, 3, 2, 12, 0)
        self.env.flush_all()  # the cron works in transactions of its own
        with patch.object(mango_vpbx.stats, "STATS_VERSION", 2):
            self.assertEqual(self.Refold._cron_refold(), 0, "no event to fold")
            run = self.Refold._latest(self.company)
            self.assertEqual((run.stats_call_count, run.stats_remaining_count), (1, 1))
            self.assertEqual(run.stats_from, call.created_at)
            self.assertEqual(self.company.medpulse_pbx_reconciled_until, call.created_at,
                             "the reconciliation takes the rows of that call again")
            # The reconciliation's next pass over that period.
            self.Call._apply_stats_rows(self.company, row.entry_id, [row])
            self.assertEqual(call.stats_version, 2)
            run.invalidate_recordset()
            self.assertEqual(run.stats_remaining_count, 0)
        self.assertEqual(fields.Datetime.to_string(call.created_at), "2026-03-01 08:00:00")
