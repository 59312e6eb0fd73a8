from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from odoo import fields
from odoo.tests import TransactionCase, tagged

from ..models.medpulse_call_reconcile import MedpulseCallReconcile
from .common import (
    LINE,
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    call_event,
    incoming_answered,
    stats_pbx,
    window_csv,
)


def _row(entry_id, start, finish, answer=0, from_ext="", from_number="", to_ext="", to_number="",
         reason=1110, location="abonent", records=""):
    return {
        "entry_id": entry_id,
        "records": records,
        "start": start,
        "finish": finish,
        "answer": answer,
        "from_extension": from_ext,
        "from_number": from_number,
        "to_extension": to_ext,
        "to_number": to_number,
        "disconnect_reason": reason,
        "line_number": LINE,
        "location": location,
        "create": start,
    }


def _naive(ts):
    return datetime.fromtimestamp(ts, tz=timezone.utc).replace(tzinfo=None)


@tagged("post_install", "-at_install")
@patch.object(MedpulseCallReconcile, "_stats_poll_interval", lambda self: 0.2)
class TestReconcile(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.Reconcile = cls.env["medpulse.call.reconcile"]
        cls.Call = cls.env["medpulse.call"].sudo()

    def _journal(self):
        calls = self.Call.search([("company_id", "=", self.company.id)])
        return {
            call.entry_id: (call.write_date, call.result, call.call_type, call.reconciled,
                            call.recovered_from_stats, call.completed_from_stats)
            for call in calls
        }

    def test_missing_created_incomplete_completed_all_reconciled_idempotent(self):
        known = self.receive(incoming_answered("E-KNOWN", t0=T0))
        # Only the first events of this call reached the webhook: no summary.
        partial = self.receive([
            call_event("E-PART", "E-PART:op1", 1, "Appeared", T0 + 600, "abonent",
                       {"number": "79035550000"}, {"extension": "102", "line_number": LINE}),
        ])
        self.assertFalse(partial.is_final)
        rows = [
            _row(
                "E-KNOWN",
                T0,
                T0 + 72,
                T0 + 12,
                from_number=PATIENT_NUMBER,
                to_ext="101",
                records="[r1]",
            ),
            _row("E-PART", T0 + 600, T0 + 700, T0 + 610, from_number="79035550000", to_ext="102"),
            _row(
                "E-LOST-IN",
                T0 + 900,
                T0 + 930,
                0,
                from_number=PATIENT_NUMBER,
                to_ext="101",
                reason="1110",
                location="queue",
            ),
            _row(
                "E-LOST-OUT",
                T0 + 1200,
                T0 + 1290,
                T0 + 1210,
                from_ext="101",
                to_number="79161112233",
                reason=1120,
            ),
            # The patient called back, answered: only the statistics know this call.
            _row(
                "E-LOST-BACK",
                T0 + 1500,
                T0 + 1560,
                T0 + 1505,
                from_number=PATIENT_NUMBER,
                to_ext="101",
            ),
        ]
        with stats_pbx(window_csv(rows, "\r\n"), not_ready=1) as pbx:
            self.company.sudo().medpulse_pbx_api_url = pbx.url
            runs = self.Reconcile.with_user(self.manager).action_reconcile_period(
                self.company, _naive(T0 - 60), _naive(T0 + 3600)
            )
            self.assertEqual(runs.state, "done")
            self.assertEqual(
                (runs.row_count, runs.created_count, runs.completed_count, runs.reconciled_count),
                (5, 3, 1, 1),
            )
            self.assertIn("entry_id", pbx.calls("stats/request")[0]["fields"])

            lost_in = self.Call.search([("entry_id", "=", "E-LOST-IN")])
            self.assertTrue(lost_in.recovered_from_stats and lost_in.reconciled)
            self.assertEqual(lost_in.call_type, "missed_incoming")
            self.assertEqual(lost_in.missed_at, "queue")
            self.assertEqual(lost_in.patient_id, self.patient)
            self.assertEqual(lost_in.rang_user_ids, self.operator1)
            self.assertEqual(lost_in.created_at, _naive(T0 + 900))
            # A recovered call has no summary, but its times are the PBX's: it settles
            # the follow-up like a final one.
            lost_back = self.Call.search([("entry_id", "=", "E-LOST-BACK")])
            self.assertEqual(lost_back.call_type, "incoming")
            self.assertEqual(lost_in.followup_state, "resolved")
            self.assertEqual(lost_in.closed_by_call_id, lost_back)
            lost_out = self.Call.search([("entry_id", "=", "E-LOST-OUT")])
            self.assertEqual(lost_out.call_type, "outgoing")
            self.assertEqual(lost_out.operator_user_id, self.operator1)
            self.assertEqual(lost_out.external_e164, "+79161112233")
            self.assertEqual((lost_out.wait_seconds, lost_out.talk_seconds), (10, 80))
            self.assertEqual(lost_out.disconnect_reason, 1120)

            self.assertTrue(partial.completed_from_stats and partial.reconciled)
            self.assertEqual(partial.result, "answered")
            self.assertEqual(partial.answered_user_id, self.operator2)
            self.assertEqual(partial.ended_at, _naive(T0 + 700))
            self.assertEqual(partial.talk_seconds, 90)

            self.assertTrue(known.reconciled)
            self.assertFalse(known.recovered_from_stats or known.completed_from_stats)
            self.assertEqual(known.talk_seconds, 60, "the summary stays the truth")

            before = self._journal()
            self.env.flush_all()
            second = self.Reconcile.with_user(self.manager).action_reconcile_period(
                self.company, _naive(T0 - 60), _naive(T0 + 3600)
            )
            self.env.flush_all()
        self.assertEqual(
            (second.created_count, second.completed_count, second.reconciled_count), (0, 0, 0)
        )
        self.assertEqual(self._journal(), before, "a second run changes nothing")

    def test_cron_catches_up_an_overnight_outage(self):
        now = fields.Datetime.now().replace(microsecond=0)
        # Odoo was down for 30 hours: longer than a chunk, far longer than the cron interval.
        self.company.sudo().medpulse_pbx_reconciled_until = now - timedelta(hours=30)
        epoch = int(now.replace(tzinfo=timezone.utc).timestamp())
        night, morning, early = epoch - 20 * 3600, epoch - 3 * 3600, epoch - 36 * 3600
        rows = [
            _row("E-NIGHT-1", night, night + 40, 0, from_number=PATIENT_NUMBER, to_ext="101"),
            _row(
                "E-NIGHT-2",
                morning,
                morning + 100,
                morning + 10,
                from_number="79035550000",
                to_ext="102",
            ),
            _row("E-BEFORE", early, early + 10, 0, from_number="79035550001", to_ext="102"),
        ]
        with stats_pbx(window_csv(rows), not_ready=1) as pbx:
            self.company.sudo().medpulse_pbx_api_url = pbx.url
            self.Reconcile._cron_reconcile()
        entries = set(self.Call.search([("recovered_from_stats", "=", True)]).mapped("entry_id"))
        self.assertEqual(
            entries, {"E-NIGHT-1", "E-NIGHT-2"}, "only the outage window, with its overlap"
        )
        self.assertGreaterEqual(self.company.medpulse_pbx_reconciled_until, now)
        self.assertEqual(len(pbx.calls("stats/request")), 2, "the outage is fetched in chunks")
        self.assertEqual(
            int(pbx.calls("stats/request")[0]["date_from"]),
            int((now - timedelta(hours=31)).replace(tzinfo=timezone.utc).timestamp()),
            "starts an overlap before the last reconciled moment",
        )

    def test_cron_survives_pbx_errors(self):
        before = fields.Datetime.now() - timedelta(hours=2)
        self.company.sudo().medpulse_pbx_reconciled_until = before
        with stats_pbx(lambda data: "", status=500) as pbx:
            self.company.sudo().medpulse_pbx_api_url = pbx.url
            self.Reconcile._cron_reconcile()
        run = self.Reconcile.search([("company_id", "=", self.company.id)], limit=1)
        self.assertEqual(run.state, "failed")
        self.assertTrue(run.error)
        self.assertEqual(self.company.medpulse_pbx_last_error, run.error)
        self.assertEqual(
            self.company.medpulse_pbx_reconciled_until,
            before,
            "the next run starts where this one failed",
        )

    def test_cron_interval_setting(self):
        settings = self.env["res.config.settings"].create({"medpulse_pbx_reconcile_minutes": 5})
        settings.execute()
        cron = self.env.ref("medpulse_telephony.ir_cron_medpulse_call_reconcile")
        self.assertEqual((cron.interval_type, cron.interval_number), ("minutes", 5))
        self.assertEqual(
            self.env["res.config.settings"].create({}).medpulse_pbx_reconcile_minutes, 5
        )
