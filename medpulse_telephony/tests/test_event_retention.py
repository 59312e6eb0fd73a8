"""Retention of raw PBX events: old events of settled calls are purged, the calls stay right.

A company keeping raw events N months (Settings ▸ Telephony) has the cron move the events of
calls older than that into one compressed snapshot per call, only for calls that are final
and whose period was reconciled with the PBX statistics. Each test compares a purged call
with its twin: the same events under another entry id, never purged. A late event, a
reconciliation and a refold by a newer toolkit must give both the same call, because the
purged call is folded from its snapshot and its rows together, never from the rows left.
"""

import json
from datetime import timedelta
from unittest.mock import patch

import psycopg2

from odoo import fields, sql_db
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

import mango_vpbx
from mango_vpbx_emulator.replay import read_log

from ..models.medpulse_call_event import _CALL_LOCK_NAMESPACE
from ..models.medpulse_telephony_limit import _lock_key
from . import test_reconcile as reconcile_helpers
from .common import (
    API_KEY,
    API_SALT,
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    dumps,
    stats_pbx,
    window_csv,
)
from .common import incoming_answered as answered_script
from .test_refold import NEXT, new_fold

PREFIX = "E-RET-"
MONTHS = 12
#: The incoming_answered script's last event of the answering leg ("Disconnected", seq 3):
#: it arrives after the summary, once the call was purged.
LATE = 6
#: The incoming_answered script's voice-menu events (the first two).
FIRST = 2


@tagged("post_install", "-at_install")
class TestEventRetention(TelephonyFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.Call = cls.env["medpulse.call"].sudo()
        cls.Event = cls.env["medpulse.call.event"].sudo()
        cls.Snapshot = cls.env["medpulse.call.event.snapshot"].sudo()

    def setUp(self):
        super().setUp()
        # The journal reconciled with the PBX up to now, raw events kept a year.
        self.company.sudo().write({
            "medpulse_event_retention_months": MONTHS,
            "medpulse_pbx_reconciled_until": fields.Datetime.now(),
        })

    # ------------------------------------------------------------ helpers

    def call(self, name, t0=T0, late=False, old=True):
        """The answered call ``name`` (all its events but the late one unless ``late``),
        received ``MONTHS`` + 1 months ago when ``old``."""
        entry_id = f"{PREFIX}{name}"
        script = answered_script(entry_id, t0=t0)
        call = self.receive([event for i, event in enumerate(script) if late or i != LATE])
        if old:
            self.age(call)
        return call

    def age(self, calls):
        """Received ``MONTHS`` + 1 months ago (the database's own time stamps them now)."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE medpulse_call_event SET received_at = received_at - %s * interval '1 month'"
            " WHERE company_id = %s AND entry_id = ANY(%s)",
            [MONTHS + 1, self.company.id, calls.mapped("entry_id")],
        )
        self.env.invalidate_all()

    def events_of(self, call):
        return self.Event.search([("company_id", "=", self.company.id),
                                  ("entry_id", "=", call.entry_id)])

    def purge(self, **kwargs):
        # The cron works in cursors of its own: it reads what this one wrote once flushed.
        self.env.flush_all()
        purged = self.Snapshot._cron_purge(**kwargs)
        self.env.invalidate_all()
        return purged

    def journal(self, call):
        """The call's journal values, the count of its raw rows aside."""
        values = self.snapshot(call)
        values.pop("events")
        return values

    def post_late(self, call):
        path, payload = answered_script(call.entry_id, t0=T0)[LATE]
        response = self.url_open(f"/mango/{path}",
                                 data=mango_vpbx.encode(payload, API_KEY, API_SALT))
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()

    def folded_from_all(self, call):
        """The call's state folded from every event of its script, as if never purged."""
        script = answered_script(call.entry_id, t0=T0)
        return mango_vpbx.fold([mango_vpbx.parse_event(path, dumps(payload))
                                for path, payload in script],
                               time_base=self.company._medpulse_pbx_time_base())

    # ------------------------------------------------------------ which calls

    def test_only_old_events_of_final_reconciled_calls_are_purged(self):
        old = self.call("OLD", late=True)
        recent = self.call("RECENT", late=True, old=False)
        live = self.receive(answered_script(f"{PREFIX}LIVE", t0=T0)[:3])
        self.age(live)
        later = self.call("LATER", t0=T0 + 3 * 86400, late=True)
        self.assertFalse(live.is_final)
        before = {call: self.journal(call) for call in old | recent | live | later}

        # Kept forever by default: nothing changes for a clinic that never set it.
        self.company.sudo().medpulse_event_retention_months = 0
        self.assertEqual(self.purge(), 0)
        # A journal never reconciled with the PBX keeps its events too.
        self.company.sudo().write({"medpulse_event_retention_months": MONTHS,
                                   "medpulse_pbx_reconciled_until": False})
        self.assertEqual(self.purge(), 0)
        self.assertEqual(len(self.events_of(old)), 8)

        # Reconciled up to a day after the first calls: the later call's period is not.
        self.company.sudo().medpulse_pbx_reconciled_until = fields.Datetime.to_datetime(
            old.created_at) + timedelta(days=1)
        self.assertEqual(self.purge(), 1)
        self.assertFalse(self.events_of(old))
        self.assertTrue(old.events_purged)
        snapshot = self.Snapshot.search([("call_id", "=", old.id)])
        self.assertEqual((snapshot.event_count, snapshot.dropped_count), (8, 0))
        for call, count in ((recent, 8), (live, 3), (later, 8)):
            with self.subTest(call=call.entry_id):
                self.assertEqual(len(self.events_of(call)), count)
                self.assertFalse(call.events_purged)
        # The folded call stays, and its legs still show: read from the snapshot.
        for call in old | recent | live | later:
            self.assertEqual(self.journal(call), before[call])
        self.assertEqual(old._folded(), self.folded_from_all(old))
        self.assertIn(f"{PREFIX}OLD:op1", old.legs_html)

    # ------------------------------------------------------------ late events

    def test_a_late_event_after_the_purge_gives_the_call_of_all_its_events(self):
        purged = self.call("P")
        twin = self.call("TWIN", old=False)
        self.assertEqual(self.journal(purged), self.journal(twin))
        self.assertEqual(self.purge(), 1)
        self.assertFalse(self.events_of(purged))

        # The answering leg's last event arrives now, through the webhook, to both.
        for call in (purged, twin):
            self.post_late(call)
        self.assertEqual(len(self.events_of(purged)), 1, "the late event is a new row")
        self.assertEqual(self.journal(purged), self.journal(twin))
        self.assertEqual(purged._folded(), self.folded_from_all(purged))
        # What a fold of the rows left alone would have given: another call altogether.
        alone = mango_vpbx.fold(self.events_of(purged)._parsed(),
                                time_base=self.company._medpulse_pbx_time_base())
        self.assertNotEqual(alone, purged._folded())

        # Purged again once old: the late event joins the call's one snapshot.
        self.age(purged)
        self.assertEqual(self.purge(), 1)
        snapshot = self.Snapshot.search([("call_id", "=", purged.id)])
        self.assertEqual(snapshot.event_count, 8)
        self.assertEqual(purged._folded(), self.folded_from_all(purged))

    def test_reconciliation_and_late_summary_of_a_purged_call(self):
        # Only the voice menu's events of both calls reached the webhook (the PBX does not
        # send again): the statistics complete both.
        calls = self.Call
        for name in ("S", "STWIN"):
            calls |= self.receive(answered_script(f"{PREFIX}{name}", t0=T0)[:FIRST])
        rows = [
            reconcile_helpers._row(call.entry_id, T0, T0 + 72, T0 + 12,
                                   from_number=PATIENT_NUMBER, to_ext="101")
            for call in calls
        ]
        period = (reconcile_helpers._naive(T0 - 60), reconcile_helpers._naive(T0 + 3600))

        def reconcile():
            with stats_pbx(window_csv(rows, "\r\n"), not_ready=0) as pbx, \
                    patch.object(type(self.env["medpulse.call.reconcile"]),
                                 "_stats_poll_interval", lambda self_: 0.2):
                self.company.sudo().medpulse_pbx_api_url = pbx.url
                return self.env["medpulse.call.reconcile"].with_user(self.manager) \
                    .action_reconcile_period(self.company, *period)

        first = reconcile()
        self.assertEqual((first.state, first.error, first.completed_count), ("done", False, 2))
        purged, twin = calls
        self.assertTrue(purged.completed_from_stats and not purged.is_final)
        self.age(purged)
        self.company.sudo().medpulse_pbx_reconciled_until = fields.Datetime.now()
        self.assertEqual(self.purge(), 1, "completed from the statistics: settled")
        self.assertTrue(purged.events_purged)

        # Reconciling the purged call's period again changes nothing.
        before = self.journal(purged)
        run = reconcile()
        self.assertEqual((run.created_count, run.completed_count), (0, 0))
        self.assertEqual(self.journal(purged), before)
        self.assertEqual(self.journal(purged), self.journal(twin))

        # The lost events arrive at last: folded with the purged ones, as the twin's.
        for call in calls:
            self.receive(answered_script(call.entry_id, t0=T0)[FIRST:])
        self.env.invalidate_all()
        self.assertTrue(purged.is_final)
        self.assertEqual(self.journal(purged), self.journal(twin))
        self.assertEqual(purged._folded(), self.folded_from_all(purged))

    # ------------------------------------------------------------ batches

    def test_batches_time_budget_busy_calls_and_idempotence(self):
        calls = self.call("B1", late=True) | self.call("B2", late=True) | \
            self.call("B3", late=True)
        cron = self.env.ref("medpulse_telephony.ir_cron_medpulse_call_event_purge")
        Trigger = self.env["ir.cron.trigger"].sudo()
        Trigger.search([("cron_id", "=", cron.id)]).unlink()

        # Out of time before the first batch: nothing done, the cron comes back for it.
        self.assertEqual(self.purge(seconds=0), 0)
        self.assertTrue(Trigger.search([("cron_id", "=", cron.id)]))

        # A call being folded right now (its lock held by another connection) is skipped.
        busy = calls[1]
        with sql_db.db_connect(self.env.cr.dbname).cursor() as other:
            other.execute("SELECT pg_advisory_lock(%s, %s)", [
                _CALL_LOCK_NAMESPACE, _lock_key(f"{self.company.id}:{busy.entry_id}")])
            try:
                # Batches of 5 events: the 16 old events of the two other calls in 4.
                with patch.object(type(self.Snapshot), "_purge_batch", autospec=True,
                                  side_effect=type(self.Snapshot)._purge_batch) as batch:
                    self.assertEqual(self.purge(scan=5), 2)
                self.assertGreaterEqual(batch.call_count, 4)
            finally:
                other.execute("SELECT pg_advisory_unlock_all()")
        self.assertEqual(calls.mapped("events_purged"), [True, False, True])
        self.assertEqual(len(self.events_of(busy)), 8)

        self.assertEqual(self.purge(scan=5), 1, "its lock free, the next run takes it")
        snapshots = self.Snapshot.search([("call_id", "in", calls.ids)])
        kept = snapshots.read(["event_count", "date_purged", "write_date"])
        self.assertEqual(self.purge(), 0, "nothing left: a second run changes nothing")
        self.assertEqual(snapshots.read(["event_count", "date_purged", "write_date"]), kept)

    # ------------------------------------------------------------ refold, export

    def test_a_purged_call_is_refolded_from_its_snapshot(self):
        purged = self.call("RF", late=True)
        twin = self.call("RFTWIN", late=True, old=False)
        self.assertEqual(self.purge(), 1)
        self.env.flush_all()
        # Only this test's calls are of the older fold.
        self.env.cr.execute("UPDATE medpulse_call SET fold_version = %s, stats_version = 0"
                            " WHERE entry_id NOT LIKE %s", [NEXT, f"{PREFIX}RF%"])
        self.env.invalidate_all()
        Refold = self.env["medpulse.call.refold"].sudo()
        with new_fold():
            self.assertEqual(Refold._cron_refold(), 2)
            run = Refold._latest(self.company)
            self.assertEqual((run.done_count, run.changed_count, run.failed_count), (2, 2, 0))
        self.env.invalidate_all()
        self.assertEqual((purged.fold_version, twin.fold_version), (NEXT, NEXT))
        self.assertEqual(purged.wait_seconds, twin.wait_seconds)
        self.assertEqual(self.journal(purged), self.journal(twin))
        self.assertFalse(self.events_of(purged), "the refold brings no row back")

    def test_export_for_replay_has_kept_and_purged_events(self):
        purged = self.call("X")
        self.assertEqual(self.purge(), 1)
        self.receive([answered_script(purged.entry_id, t0=T0)[LATE]])
        action = self.Call.browse(purged.id).with_user(self.manager).action_export_raw_events()
        attachment = self.env["ir.attachment"].sudo().browse(
            int(action["url"].split("/web/content/")[1].split("?")[0]))
        lines = attachment.raw.decode().splitlines()
        items = [json.loads(line) for line in lines]
        self.assertEqual(len(items), 8)
        self.assertEqual(sum(1 for item in items if item.get("purged")), 7,
                         "the events from the snapshot say they were purged")
        self.assertEqual(len(read_log(lines)), 8, "the emulator replays all of them")

    # ------------------------------------------------------------ the setting

    def test_only_administrators_set_the_retention_in_the_browser(self):
        for user in (self.manager, self.operator1):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.env["res.config.settings"].with_user(user).create(
                    {"medpulse_event_retention_months": 1})
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.company.with_user(user).write({"medpulse_event_retention_months": 1})
        with mute_logger("odoo.sql_db"), self.assertRaises(psycopg2.errors.CheckViolation):
            self.company.sudo().medpulse_event_retention_months = -1
            self.env.flush_all()

    def test_settings_screen(self):
        self.company.sudo().medpulse_event_retention_months = 0
        # Settings load every installed app's settings: slow on a busy machine.
        self.start_tour("/odoo/settings#medpulse_telephony",
                        "medpulse_event_retention_settings_tour", login="admin", timeout=180)
        self.assertEqual(self.company.medpulse_event_retention_months, 6)
