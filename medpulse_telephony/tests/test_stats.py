from datetime import datetime, timedelta
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

import mango_vpbx

from ..models.medpulse_call_reconcile import MedpulseCallReconcile
from ..models.medpulse_call_stats import STATS_FIELDS
from ..wizards import medpulse_pbx_stats_wizard
from .common import (
    LINE,
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    incoming_answered,
    stats_pbx,
)

# Official examples of the specification (S1 and S2), fields as in its request example.
OFFICIAL_FIELDS = (
    "records, start, finish, from_extension, from_number, to_extension, to_number, "
    "disconnect_reason"
)
OFFICIAL_S1 = (
    "547658365,547658366,547658367;1072915314;1072915399;456;749404444;937;12345678;Busy\n"
    "677567599;1072915516;1072915645;1072915901;32;74959988654;64;987654321;RemoteHangup\n"
)
OFFICIAL_S2 = (
    "547658365,547658366,547658367;1072915314;1072915399;456;74955404444;937;12345678;\n"
    "677567599;1072915516;1072915645;;74955404444;;12345678;\n"
    "547658365;1072915789;1072915901;32;74959988654;64;987654321;RemoteHangup\n"
)

# Realistic answer for STATS_FIELDS: CRLF rows, bracketed records, empty fields,
# numeric and textual reasons, an operator (101), our patient, an unknown caller.
REALISTIC = (
    f"E-IN-1;[rec-1,rec-2];{T0};{T0 + 72};{T0 + 12};;{PATIENT_NUMBER};101;;1110;{LINE};abonent;"
    f"{T0}\r\n"
    f"E-MISS-9;;{T0 + 100};{T0 + 130};0;;79990001122;;;Busy;{LINE};queue;"
    f"{T0 + 100}\r\n"
    f"E-OUT-9;[];{T0 + 200};{T0 + 260};{T0 + 210};101;;;{PATIENT_NUMBER};1120;{LINE};abonent;"
    f"{T0 + 200}\r\n"
)


@tagged("post_install", "-at_install")
class TestStatsWizard(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()

    def _wizard(self, pbx, **vals):
        self.company.sudo().medpulse_pbx_api_url = pbx.url
        return self.env["medpulse.pbx.stats.wizard"].with_user(self.manager).create({
            "date_from": datetime(2026, 3, 2, 0, 0), "date_to": datetime(2026, 3, 3, 0, 0), **vals,
        })

    def test_official_examples_parse(self):
        first, second = OFFICIAL_S1.splitlines()
        [row] = mango_vpbx.stats.parse_csv(first, OFFICIAL_FIELDS)
        self.assertEqual(row.records, ("547658365", "547658366", "547658367"))
        self.assertEqual(row.disconnect_reason, "Busy")
        # The second example row carries an answer time as well.
        [row] = mango_vpbx.stats.parse_csv(
            second, OFFICIAL_FIELDS.replace("finish,", "finish, answer,")
        )
        self.assertEqual(row.disconnect_reason, "RemoteHangup")
        self.assertTrue(row.answered)
        rows = mango_vpbx.stats.parse_csv(OFFICIAL_S2, OFFICIAL_FIELDS)
        self.assertEqual(len(rows), 3)
        self.assertIsNone(rows[0].disconnect_reason)
        self.assertIsNone(rows[1].from_extension)
        Line = self.env["medpulse.pbx.stats.line"]
        vals = Line._vals_from_row(self.company, rows[0])
        self.assertEqual(vals["direction"], "internal")
        self.assertEqual(vals["records"], "547658365, 547658366, 547658367")

    def test_wizard_identifies_people_and_polls_politely(self):
        self.receive(incoming_answered("E-IN-1"))
        with stats_pbx(lambda data: REALISTIC, not_ready=1) as pbx:
            wizard = self._wizard(pbx)
            wizard.action_request()
        self.assertTrue(all(r.signed for r in pbx.requests), "every request is signed")
        self.assertEqual(pbx.calls("stats/request")[0]["fields"], ", ".join(STATS_FIELDS))
        polls = [r.at for r in pbx.requests if r.path == "stats/result"]
        self.assertEqual(len(polls), 2, "204 first, then 200")
        self.assertGreaterEqual(polls[1] - polls[0], 4.9, "at most one poll per 5 s")
        self.assertEqual(wizard.state, "done")
        lines = wizard.line_ids.sorted("start")
        self.assertEqual(len(lines), 3)
        incoming, missed, outgoing = lines
        self.assertEqual(incoming.from_label, "Ivanova Anna")
        self.assertEqual(incoming.to_label, "Olga Operator")
        self.assertEqual(incoming.records, "rec-1, rec-2")
        self.assertEqual(incoming.talk_seconds, 60)
        self.assertTrue(incoming.in_journal)
        self.assertEqual(missed.disconnect_reason, "Busy")
        self.assertFalse(missed.answered)
        self.assertFalse(missed.in_journal)
        self.assertEqual(missed.from_label, "+7 999 000-11-22")
        self.assertEqual(outgoing.direction, "outgoing")
        self.assertEqual(outgoing.from_label, "Olga Operator")
        self.assertEqual(outgoing.to_label, "Ivanova Anna")
        self.assertIn("1120", outgoing.disconnect_reason)
        self.assertEqual(wizard.missing_count, 2)

    @patch.object(MedpulseCallReconcile, "_stats_poll_interval", lambda self: 0.2)
    def test_wizard_waits_then_refreshes(self):
        with stats_pbx(lambda data: REALISTIC, not_ready=3) as pbx, \
                patch.object(medpulse_pbx_stats_wizard, "UI_MAX_WAIT_SECONDS", 0.3):
            wizard = self._wizard(pbx, user_id=self.operator1.id)
            wizard.action_request()
            self.assertEqual(wizard.state, "waiting")
            self.assertIn("0 of 1", wizard.message)
            self.assertEqual(pbx.calls("stats/request")[0]["call_party"], {"extension": "101"})
            wizard.action_refresh()
            self.assertEqual(wizard.state, "done")
            self.assertEqual(len(wizard.line_ids), 3)
            self.assertFalse(wizard.message)

    @patch.object(MedpulseCallReconcile, "_stats_poll_interval", lambda self: 0.2)
    def test_long_period_is_split(self):
        with stats_pbx(lambda data: "", not_ready=0) as pbx:
            wizard = self._wizard(pbx, number="+7 916 123-45-67")
            wizard.date_to = wizard.date_from + timedelta(days=45)
            wizard.action_request()
        self.assertEqual(len(pbx.calls("stats/request")), 2)
        spans = [(int(r["date_from"]), int(r["date_to"])) for r in pbx.calls("stats/request")]
        self.assertEqual(spans[1][0], spans[0][1] + 1)
        self.assertLessEqual(spans[0][1] - spans[0][0], 30 * 24 * 3600)
        self.assertEqual(pbx.calls("stats/request")[0]["call_party"], {"number": PATIENT_NUMBER})
        self.assertEqual(wizard.state, "done")

    def test_pbx_error_is_shown_not_raised(self):
        with stats_pbx(lambda data: "", status=503) as pbx:
            wizard = self._wizard(pbx)
            with self.assertRaises(UserError) as caught:
                wizard.action_request()
        self.assertIn("PBX", str(caught.exception))
