"""My Preferences, as an operator sees it in the browser."""

from odoo.tests import HttpCase, tagged

from .common import receptionist_with_extension


@tagged("post_install", "-at_install")
class TestPreferences(HttpCase):
    def test_one_telephony_tab(self):
        operator = receptionist_with_extension(self.env, "tel_prefs")
        self.start_tour("/odoo", "medpulse_preferences_tour", login=operator.login)
