"""Issue 23 part 2 in a real browser: the call's insight on its form and in the journal,
the voice-menu labels and the reports, the transcript of a recording, as each role that
sees them (names and transcripts for clinic roles only)."""

from odoo.tests import new_test_user, tagged

from .common import incoming_answered
from .test_insight import InsightCase


@tagged("post_install", "-at_install")
class TestInsightBrowser(InsightCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bare_operator = new_test_user(
            cls.env, login="insb_bare_op", groups="medpulse_telephony.group_telephony_operator")
        cls.bare_manager = new_test_user(
            cls.env, login="insb_bare_mgr", groups="medpulse_telephony.group_telephony_manager")

    def setUp(self):
        super().setUp()
        self.call = self.tracked_tagged_call("E-INSB-1", "rec-insb")
        # A call without keys, from another number, for the journal's filter.
        self.receive(incoming_answered("E-INSB-2", caller="79035550000"))
        self.Insight._cron_fetch()
        label = self.call.ivr_label_ids.filtered(lambda lbl: lbl.location == "ivr.2")
        label.name = "Cancel or move an appointment"
        self.call_url = f"/odoo/action-medpulse_telephony.medpulse_call_action/{self.call.id}"
        self.recording_url = (
            "/odoo/action-medpulse_telephony.medpulse_call_recording_action/"
            f"{self.call.recording_ids.id}"
        )

    def test_call_form_clinic_roles(self):
        for user in (self.operator1, self.manager):
            with self.subTest(user=user.login):
                self.start_tour(self.call_url, "medpulse_insight_call_clinic_tour",
                                login=user.login)

    def test_call_form_without_clinic_rights(self):
        for user in (self.bare_operator, self.bare_manager):
            with self.subTest(user=user.login):
                self.start_tour(self.call_url, "medpulse_insight_call_bare_tour",
                                login=user.login)

    def test_journal_filter(self):
        self.start_tour("/odoo", "medpulse_insight_journal_tour", login=self.operator1.login)

    def test_labels_and_reports(self):
        self.start_tour("/odoo", "medpulse_insight_manager_tour", login=self.manager.login)
        self.assertEqual(
            self.call.ivr_label_ids.filtered(lambda lbl: lbl.location == "ivr.2.1").name,
            "A doctor's appointment",
        )

    def test_recording_transcript(self):
        self.start_tour(self.recording_url, "medpulse_insight_transcript_tour",
                        login=self.manager.login)
        self.start_tour(self.recording_url, "medpulse_insight_no_transcript_tour",
                        login=self.bare_manager.login)
