"""The card is heard and seen, in a real browser: the ringtone of ``mail`` plays while a
call rings and stops when the card is hidden; a desktop notification only when the tab is
not in front, with the number and the line, the patient's name only by company setting;
the user's preferences turn both off."""

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from .common import T0, TelephonyFixtures, incoming_answered, incoming_missed
from .test_access_matrix import ROLES
from .test_incoming_card import SIP1, ivr, leg, op_to


@tagged("post_install", "-at_install")
class TestCardAlertsInBrowser(TelephonyFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()

    def _ringing(self, entry_id):
        """My phone rings now: the card comes back at load (``get_active_cards``)."""
        self.receive(ivr(entry_id))
        call = self.receive([leg(entry_id, "op1", 1, "Appeared", 5, op_to("101", SIP1))])
        call.sudo().created_at = fields.Datetime.now()
        self.assertEqual(call.sudo().card_audience, {str(self.operator1.id): "ringing"})
        return call

    def test_ringtone_and_desktop_notification(self):
        self._ringing("E-ALERT-TOUR")
        self.start_tour("/odoo", "medpulse_card_rings_tour", login=self.operator1.login)

    def test_preferences_off_no_sound_no_notification(self):
        self.operator1.write({"medpulse_pbx_sound": False, "medpulse_pbx_desktop_notify": False})
        self._ringing("E-ALERT-SILENT")
        self.start_tour("/odoo", "medpulse_card_silent_tour", login=self.operator1.login)

    def test_company_allows_names_in_notifications(self):
        self.company.sudo().medpulse_pbx_notify_patient_name = True
        self._ringing("E-ALERT-NAMED")
        self.start_tour("/odoo", "medpulse_card_named_tour", login=self.operator1.login)

    def test_preferences_set_by_the_user(self):
        """My Preferences ▸ Telephony: the user turns the ringtone off and saves."""
        self.start_tour("/odoo", "medpulse_card_preferences_tour", login=self.operator1.login)
        self.assertFalse(self.operator1.medpulse_pbx_sound)
        self.assertTrue(self.operator1.medpulse_pbx_desktop_notify)


@tagged("post_install", "-at_install")
class TestPatientCallsInBrowser(TelephonyFixtures, HttpCase):
    """The patient's *Calls* tab in the browser, as every role that reads it (README, access
    matrix: "patient's recent calls" and "read patient callbacks")."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        answered = cls.receive(cls, incoming_answered("E-PAT-TAB-IN", T0 - 86400))
        answered.write({
            "outcome_id": cls.env.ref("medpulse_telephony.medpulse_call_outcome_information").id,
            "followup_note": "Asked for the price list",
        })
        cls.receive(cls, incoming_missed("E-PAT-TAB-MISS", T0))

    def _tour(self, role):
        user = new_test_user(self.env, login=f"pat_tab_{role}", groups=ROLES[role])
        self.start_tour(f"/odoo/action-medpulse_clinic.medpulse_patient_action/{self.patient.id}",
                        "medpulse_patient_calls_tour", login=user.login)

    def test_receptionist(self):
        self._tour("receptionist")

    def test_clinic_manager(self):
        self._tour("clinic_manager")

    def test_administrator(self):
        self._tour("administrator")
