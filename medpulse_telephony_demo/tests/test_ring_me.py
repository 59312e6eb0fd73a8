"""“Ring me” starts a real incoming call on the PBX emulator for my extension only."""

from odoo.exceptions import UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.medpulse_telephony.tests.common import receptionist_with_extension

from mango_vpbx_emulator.testing import PbxDouble


@tagged("post_install", "-at_install")
class TestRingMe(HttpCase):
    """An HttpCase: "Ring me" is recorded as a PBX command, committed on a cursor of its
    own before the emulator is asked (in test mode, a cursor of the test's transaction)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The emulator posts its events to a closed port: this test looks at the PBX side.
        cls.double = PbxDouble(
            "ring-me-key", "ring-me-salt", "http://127.0.0.1:9/mango", speed=1.0
        ).start()
        cls.addClassCleanup(cls.double.stop)
        cls.emulator = cls.double.emulator
        cls.env.company.write(
            {
                "medpulse_pbx_api_url": cls.double.url,
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

    def setUp(self):
        super().setUp()
        self.double.reset()

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

    def test_leaves_a_command_record_pending_before_the_emulator_is_asked(self):
        Command = self.env["medpulse.call.command"].sudo()
        seen = []

        def note(_request):
            with self.registry.cursor() as cr:
                last = self.env(cr=cr, su=True)["medpulse.call.command"].search(
                    [], order="id desc", limit=1
                )
                seen.append((last.kind, last.state, last.user_id.id, last.extension))
            return (200, {"ok": True})

        self.double.script("/control/scenario", note)
        self.operator.with_user(self.operator).action_medpulse_ring_me()
        self.assertEqual(seen, [("ring_me", "pending", self.operator.id, "102")])
        command = Command.search([("kind", "=", "ring_me")])
        self.assertEqual(command.state, "sent")

    def test_a_failed_ring_is_a_failed_command(self):
        self.double.script("/control/scenario", (500, "no"))
        with self.assertRaisesRegex(UserError, "Could not reach the PBX"), mute_logger(
            "odoo.addons.medpulse_telephony_demo.models.res_users"
        ):
            self.operator.with_user(self.operator).action_medpulse_ring_me()
        command = self.env["medpulse.call.command"].sudo().search([("kind", "=", "ring_me")])
        self.assertEqual(command.state, "failed")

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
