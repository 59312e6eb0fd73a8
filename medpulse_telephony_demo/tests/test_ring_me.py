"""“Ring me” starts a real incoming call on the PBX emulator for my extension only."""

from odoo.exceptions import UserError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from odoo.addons.medpulse_telephony.tests.common import receptionist_with_extension

from mango_vpbx_emulator.server import Emulator


@tagged("post_install", "-at_install")
class TestRingMe(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The emulator posts its events to a closed port: this test looks at the PBX side.
        cls.emulator = Emulator(
            "ring-me-key", "ring-me-salt", "http://127.0.0.1:9/mango", speed=1.0
        )
        cls.emulator.start("127.0.0.1", 0)
        cls.addClassCleanup(cls.emulator.stop)
        cls.env.company.write(
            {
                "medpulse_pbx_api_url": cls.emulator.url + "/vpbx/",
                "medpulse_pbx_api_key": "ring-me-key",
                "medpulse_pbx_api_salt": "ring-me-salt",
            }
        )
        cls.operator = new_test_user(
            cls.env,
            login="ring_me_operator",
            groups="base.group_user,medpulse_telephony.group_telephony_operator",
        )
        cls.operator.medpulse_pbx_extension = "102"

    def _ringing_extensions(self):
        with self.emulator.pbx.cond:
            return {
                leg.extension
                for call in self.emulator.pbx.calls.values()
                for leg in call.legs.values()
                if leg.extension
            }

    def test_rings_my_extension_on_the_emulator(self):
        action = self.operator.with_user(self.operator).action_medpulse_ring_me()
        self.assertEqual(action["params"]["type"], "info")
        self.emulator.pbx.wait_for(lambda: "102" in self._ringing_extensions(), 5)
        self.assertEqual(self._ringing_extensions(), {"102"})

    def test_refuses_without_an_extension(self):
        self.operator.medpulse_pbx_extension = False
        with self.assertRaisesRegex(UserError, "no PBX extension"):
            self.operator.with_user(self.operator).action_medpulse_ring_me()

    def test_refuses_when_the_pbx_is_not_the_emulator(self):
        self.env.company.medpulse_pbx_api_url = "http://127.0.0.1:9/vpbx/"
        with self.assertRaisesRegex(UserError, "only with the PBX emulator"):
            self.operator.with_user(self.operator).action_medpulse_ring_me()
        self.assertFalse(self._ringing_extensions())

    def test_cannot_ring_someone_else(self):
        with self.assertRaisesRegex(UserError, "your own phone"):
            self.operator.action_medpulse_ring_me()


@tagged("post_install", "-at_install")
class TestRingMeButton(HttpCase):
    def test_preferences_offer_ring_me(self):
        operator = receptionist_with_extension(self.env, "ring_me_prefs")
        self.start_tour("/odoo", "medpulse_telephony_demo_ring_me_tour", login=operator.login)
