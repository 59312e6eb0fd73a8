"""The journal's search box, the live journal, the dashboard and the reports, as people
use them: in a browser, and through a real websocket."""

import json
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.bus.tests.common import WebsocketCase

from ..models.medpulse_call import JOURNAL_CHANNEL, JOURNAL_NOTIFICATION, JOURNAL_SUBCHANNEL
from .common import TelephonyFixtures, incoming_answered, incoming_missed


@tagged("post_install", "-at_install")
class TestLiveJournal(TelephonyFixtures, WebsocketCase):
    """A new call reaches the websockets of the company's operators that show a journal, as
    ids only."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.doctor = new_test_user(
            cls.env, login="tel_doc", groups="medpulse_clinic.group_clinic_doctor"
        )
        other = cls.env["res.company"].create({"name": "Other clinic (journal)"})
        cls.stranger = new_test_user(
            cls.env, login="tel_stranger", groups="medpulse_clinic.group_clinic_receptionist",
            company_id=other.id, company_ids=[(6, 0, other.ids)],
        )

    def _listening(self, user, channels=(JOURNAL_CHANNEL,)):
        session = self.authenticate(user.login, user.login)
        websocket = self.websocket_connect(cookie=f"session_id={session.sid}")
        self.subscribe(websocket, list(channels), self.env["bus.bus"]._bus_last_id())
        return websocket

    def _journal_messages(self, websocket):
        try:
            received = json.loads(websocket.recv())
        except Exception:  # noqa: BLE001 - a timeout: nothing came
            return []
        return [n["message"] for n in received if n["message"]["type"] == JOURNAL_NOTIFICATION]

    def test_operators_of_the_company_get_the_call_ids(self):
        operator = self._listening(self.operator1)
        call = self.receive(incoming_answered("E-LIVE"))
        self.trigger_notification_dispatching([(self.company, JOURNAL_SUBCHANNEL)])
        messages = self._journal_messages(operator)
        self.assertTrue(messages)
        self.assertEqual({tuple(m["payload"]["call_ids"]) for m in messages}, {(call.id,)})
        self.assertEqual({tuple(m["payload"]) for m in messages}, {("call_ids",)}, "ids only")

    def test_no_journal_for_a_websocket_that_shows_none(self):
        """A wallboard's tab, a form: the operator's websocket asked for no journal, so the
        PBX's events do not wake it."""
        operator = self._listening(self.operator1, channels=())
        self.receive(incoming_answered("E-LIVE-NONE"))
        self.trigger_notification_dispatching([(self.company, JOURNAL_SUBCHANNEL)])
        self.assertEqual(self._journal_messages(operator), [])

    def test_the_name_asked_for_is_not_a_channel(self):
        """A client's plain string is never subscribed as such: a message sent on it (by
        anything) reaches no one."""
        operator = self._listening(self.operator1)
        self.env["bus.bus"]._sendone(JOURNAL_CHANNEL, JOURNAL_NOTIFICATION, {"call_ids": [0]})
        self.trigger_notification_dispatching([JOURNAL_CHANNEL])
        self.assertEqual(self._journal_messages(operator), [])

    def test_no_journal_for_others(self):
        for user in (self.doctor, self.stranger):
            websocket = self._listening(user)
            self.receive(incoming_missed(f"E-LIVE-{user.login}"))
            self.trigger_notification_dispatching([(self.company, JOURNAL_SUBCHANNEL)])
            self.assertEqual(self._journal_messages(websocket), [], user.login)


@tagged("post_install", "-at_install")
class TestJournalScreens(TelephonyFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()

    def test_search_box_finds_a_name_or_a_number(self):
        self.receive(incoming_answered("E-SEARCH-1"))
        self.receive(incoming_answered("E-SEARCH-2", caller="79035550000"))
        self.start_tour("/odoo", "medpulse_journal_search_tour", login=self.operator1.login)

    def test_the_journal_grouped_over_everything(self):
        """The list grouped by operator with no filter, as the operators and the managers
        open it: its counts and totals come from the reports' tallies
        (``medpulse.call._read_group_tallied``; ``TestJournalGroupBy`` compares them with
        the calls), drawn by the web client."""
        self.receive(incoming_answered("E-GROUPED-1"))
        self.receive(incoming_answered("E-GROUPED-2", caller="79035550000"))
        for user in (self.operator1, self.manager):
            Call = self.env["medpulse.call"].with_user(user)
            self.assertIsNotNone(Call._read_group_tallied(
                [], "operator_user_id", ["__count", "wait_seconds:avg", "talk_seconds:sum"]
            ), user.login)
            self.start_tour("/odoo", "medpulse_journal_grouped_tour", login=user.login)

    def test_dashboard_and_reports(self):
        yesterday = fields.Datetime.now() - timedelta(days=1)
        missed = self.receive(incoming_missed("E-REPORT-MISSED"))
        answered = self.receive(incoming_answered("E-REPORT-ANSWERED"))
        (missed | answered).sudo().write({"created_at": yesterday})
        self.env["medpulse.call.report"].flush_model()
        self.start_tour("/odoo", "medpulse_reports_tour", login=self.manager.login)
        self.assertFalse(
            self.env["medpulse.call.dashboard"].search([]), "changing the period saved nothing"
        )

    def test_pbx_statistics_screen(self):
        """Reporting ▸ PBX call statistics opens as a screen: its title, no save icons."""
        self.start_tour(
            "/odoo/action-medpulse_telephony.medpulse_pbx_stats_wizard_action",
            "medpulse_pbx_stats_screen_tour", login=self.manager.login,
        )
