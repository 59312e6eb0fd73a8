from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

import mango_vpbx
from mango_vpbx_emulator.testing import PbxDouble

from .common import API_KEY, API_SALT, TelephonyFixtures

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
