from odoo.exceptions import UserError
from odoo.tests import TransactionCase, new_test_user, tagged

import mango_vpbx
from mango_vpbx_emulator.testing import PbxDouble

from .common import API_KEY, API_SALT, OPERATOR_MOBILE, TelephonyFixtures

USERS = {
    "users": [
        {
            "general": {
                "name": "Olga Operator",
                "email": "OLGA@clinic.example",
                "user_id": 300052407,
                "mobile": "79035550001",
                "sips": [{"number": "sip:olga@clinic.mangosip.ru"}],
            },
            "telephony": {
                "extension": "0511",
                "numbers": [
                    {
                        "number": "sip:olga-desk@clinic.mangosip.ru",
                        "protocol": "sip",
                        "order": 0,
                        "status": "on",
                    },
                    {"number": "74952223311", "protocol": "tel", "order": 1, "status": "on"},
                ],
            },
        },
        {
            "general": {"name": "Pavel Operator", "email": "pavel@elsewhere.example"},
            "telephony": {"extension": "512", "numbers": []},
        },
        {
            "general": {"name": "Nobody Known", "email": "nobody@clinic.example"},
            "telephony": {"extension": "513", "numbers": []},
        },
    ]
}
LINES = {
    "result": 1000,
    "lines": [
        {"line_id": 41, "number": "74951234567", "name": "", "comment": "site", "region": "77",
         "schema_id": 7, "schema_name": "Day"},
        {"line_id": 42, "number": "73472000000", "name": "Ufa branch", "region": "02"},
    ],
}


BALANCE = {"result": 1000, "balance": 963592.45, "currency": "RUB",
           "response_at": "2026-03-02 12:00:00"}


@tagged("post_install", "-at_install")
class TestSettingsAgainstLoopbackPbx(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        # The PBX's answers for this account; a wrong key gets the emulator's refusal.
        cls.pbx = PbxDouble(API_KEY, API_SALT, require_signature=True).start()
        cls.addClassCleanup(cls.pbx.stop)
        cls.pbx.script("account/balance", (200, BALANCE))
        cls.pbx.script("config/users/request", (200, USERS))
        cls.pbx.script("incominglines", (200, LINES))
        cls.company.medpulse_pbx_api_url = cls.pbx.url

    def settings(self):
        return self.env["res.config.settings"].create({})

    def test_test_connection_shows_the_balance(self):
        action = self.settings().action_medpulse_pbx_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("963592.45", action["params"]["message"])
        request = self.pbx.requests[-1]
        self.assertEqual(request.path, "account/balance")
        self.assertTrue(mango_vpbx.verify(request.form, API_KEY, API_SALT))

    def test_test_connection_with_a_wrong_key_explains(self):
        self.company.sudo().medpulse_pbx_api_key = "a-key-the-pbx-does-not-know"
        action = self.settings().action_medpulse_pbx_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("Settings ▸ Telephony", action["params"]["message"])

    def test_test_connection_unreachable(self):
        self.company.medpulse_pbx_api_url = "http://127.0.0.1:9/vpbx/"
        action = self.settings().action_medpulse_pbx_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("Could not reach the PBX", action["params"]["message"])

    def test_not_configured(self):
        self.company.sudo().medpulse_pbx_api_salt = False
        with self.assertRaises(UserError):
            self.settings().action_medpulse_pbx_test_connection()

    def test_import_users_preview_then_apply(self):
        self.operator1.email = "olga@clinic.example"
        self.operator2.sudo().medpulse_pbx_extension = (
            "0511"  # taken over by Olga: the PBX is right
        )
        action = self.settings().action_medpulse_pbx_import_users()
        wizard = self.env["medpulse.telephony.import.users"].browse(action["res_id"])
        preview = {line.pbx_name: line for line in wizard.line_ids}
        self.assertEqual(set(preview), {"Olga Operator", "Pavel Operator", "Nobody Known"})
        self.assertEqual(
            (preview["Olga Operator"].user_id, preview["Olga Operator"].match),
            (self.operator1, "email"),
        )
        self.assertEqual(
            (preview["Pavel Operator"].user_id, preview["Pavel Operator"].match),
            (self.operator2, "name"),
        )
        self.assertEqual(preview["Nobody Known"].match, "none")
        self.assertFalse(preview["Nobody Known"].selected)
        # Nothing is written before the preview is confirmed.
        self.assertEqual(self.operator1.medpulse_pbx_extension, "101")
        wizard.action_apply()
        self.assertEqual(self.operator1.medpulse_pbx_extension, "0511")
        self.assertEqual(self.operator1.medpulse_pbx_user_id, "300052407")
        self.assertEqual(self.operator2.medpulse_pbx_extension, "512")
        numbers = {n.number: n.kind for n in self.operator1.medpulse_pbx_number_ids}
        self.assertEqual(numbers, {
            "sip:olga-desk@clinic.mangosip.ru": "desk", "74952223311": "other",
            "sip:olga@clinic.mangosip.ru": "softphone", "79035550001": "mobile",
        })
        self.assertEqual(
            self.env["res.users"]._medpulse_find_pbx_operator(
                self.company, None, "+7 903 555-00-01"
            ),
            self.operator1,
        )

    def test_import_lines_keeps_local_names(self):
        self.env["medpulse.telephony.line"].create({"number": "74951234567", "name": "Main number"})
        self.settings().action_medpulse_pbx_import_lines()
        lines = self.env["medpulse.telephony.line"].search(
            [("number", "in", ("74951234567", "73472000000"))]
        )
        names = {line.number: line.name for line in lines}
        self.assertEqual(names, {"74951234567": "Main number", "73472000000": "Ufa branch"})
        main = lines.filtered(lambda line: line.number == "74951234567")
        self.assertEqual(
            (main.pbx_line_id, main.pbx_schema_name, main.number_e164),
            ("41", "Day", "+74951234567"),
        )

    def test_webhook_url(self):
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://clinic.example/")
        self.assertEqual(self.settings().medpulse_pbx_webhook_url, "https://clinic.example/mango")


@tagged("post_install", "-at_install")
class TestPbxDirectory(TelephonyFixtures, TransactionCase):
    """The PBX directory each worker keeps (``res.users._medpulse_pbx_directory``): a
    PBX event finds its operators without a search, and any change of who has which
    extension or device is seen by the next event."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()

    def find(self, extension=None, number=None, company=None):
        return self.env["res.users"]._medpulse_find_pbx_operator(
            company or self.company, extension, number
        )

    def test_kept_between_events(self):
        self.assertEqual(self.find("101"), self.operator1)
        self.assertEqual(self.find(None, OPERATOR_MOBILE), self.operator3)
        with self.assertQueryCount(0):
            self.assertEqual(self.find("102"), self.operator2)
            self.assertEqual(self.find(None, f"+{OPERATOR_MOBILE}"), self.operator3)
            self.assertFalse(self.find("199"))
            self.assertFalse(self.find(None, "79035550077"))

    def test_extension_changes_are_seen(self):
        self.assertEqual(self.find("101"), self.operator1)
        self.operator1.sudo().medpulse_pbx_extension = "111"
        self.assertFalse(self.find("101"))
        self.assertEqual(self.find("111"), self.operator1)
        newcomer = new_test_user(self.env, login="tel_new", name="Nina Newcomer")
        newcomer.sudo().medpulse_pbx_extension = "101"
        self.assertEqual(self.find("101"), newcomer)
        newcomer.sudo().unlink()
        self.assertFalse(self.find("101"))

    def test_device_changes_are_seen(self):
        Number = self.env["medpulse.telephony.user.number"].sudo()
        self.assertFalse(self.find(None, "+7 903 555-00-09"))
        device = Number.create({"user_id": self.operator2.id, "number": "79035550009"})
        self.assertEqual(self.find(None, "79035550009"), self.operator2)
        device.number = "79035550010"
        self.assertFalse(self.find(None, "79035550009"))
        self.assertEqual(self.find(None, "+7 903 555-00-10"), self.operator2)
        device.unlink()
        self.assertFalse(self.find(None, "79035550010"))

    def test_another_company_is_another_directory(self):
        other = self.env["res.company"].create({"name": "Other clinic"})
        stranger = new_test_user(
            self.env, login="tel_other", name="Oleg Other", company_id=other.id,
            company_ids=[(6, 0, other.ids)],
        )
        stranger.sudo().medpulse_pbx_extension = "101"
        self.assertEqual(self.find("101"), self.operator1)
        self.assertEqual(self.find("101", company=other), stranger)
        # Given the clinic too, the user is in its directory (archived or not).
        stranger.sudo().write({"company_ids": [(4, self.company.id)], "active": False})
        self.assertEqual(
            self.env["res.users"]._medpulse_find_pbx_operators(self.company, extensions=["101"]),
            self.operator1 | stranger,
        )
