"""My Preferences, as an operator sees it in the browser."""

from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestPreferences(HttpCase):
    def test_one_telephony_tab(self):
        operator = new_test_user(
            self.env, login="tel_prefs", groups="medpulse_clinic.group_clinic_receptionist",
        )
        operator.medpulse_pbx_extension = "101"
        self.start_tour("/odoo", "medpulse_preferences_tour", login=operator.login)
