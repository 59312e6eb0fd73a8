from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import TelephonyFixtures, incoming_answered


@tagged("post_install", "-at_install")
class TestAccessRights(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        # A call-centre operator without clinic rights: sees calls, never patients.
        cls.bare_operator = new_test_user(
            cls.env, login="tel_bare", groups="medpulse_telephony.group_telephony_operator"
        )
        cls.employee = new_test_user(cls.env, login="tel_employee", groups="base.group_user")
        cls.other_company = cls.env["res.company"].create({"name": "Ufa branch"})

    def setUp(self):
        super().setUp()
        self.call = self.receive(incoming_answered("S-1"))

    def test_receptionist_is_an_operator(self):
        self.assertTrue(self.operator1.has_group("medpulse_telephony.group_telephony_operator"))
        self.assertFalse(self.operator1.has_group("medpulse_telephony.group_telephony_manager"))

    def test_operator_reads_comments_and_sets_followup(self):
        call = self.call.with_user(self.operator1)
        self.assertEqual(call.patient_id, self.patient)
        call.followup_state = "no_action"
        call.message_post(body="Asked to call after 18:00")
        self.assertEqual(call.followup_state, "no_action")
        with self.assertRaises(AccessError):
            call.talk_seconds = 1
        with self.assertRaises(AccessError):
            call.unlink()
        with self.assertRaises(AccessError):
            self.env["medpulse.call.event"].with_user(self.operator1).search([])
        with self.assertRaises(AccessError):
            call.action_export_raw_events()

    def test_operator_sees_only_own_numbers(self):
        Number = self.env["medpulse.telephony.user.number"]
        self.assertFalse(Number.with_user(self.operator1).search([]))
        self.assertEqual(Number.with_user(self.operator3).search([]).user_id, self.operator3)
        self.assertEqual(len(Number.with_user(self.manager).search([])), 1)
        with self.assertRaises(AccessError):
            Number.with_user(self.operator1).create(
                {"user_id": self.operator1.id, "number": "79990000000"}
            )

    def test_operator_reads_own_extension(self):
        self.assertEqual(
            self.operator1.with_user(self.operator1).read(["medpulse_pbx_extension"])[0][
                "medpulse_pbx_extension"
            ],
            "101",
        )

    def test_operator_without_clinic_rights_sees_no_patient(self):
        call = self.call.with_user(self.bare_operator)
        self.assertEqual(call.call_type, "incoming")
        self.assertNotIn("patient_id", call.fields_get())
        with self.assertRaises(AccessError):
            call.read(["patient_id"])
        result = call.get_views([(False, "form"), (False, "list"), (False, "search")])
        views = result["views"]
        model_fields = result["models"]["medpulse.call"]
        model_fields = model_fields.get("fields", model_fields)
        for view_type in ("form", "list", "search"):
            self.assertNotIn('name="patient_id"', views[view_type]["arch"], view_type)
            self.assertNotIn('name="patient_ids"', views[view_type]["arch"], view_type)
        self.assertNotIn('name="appointment_ids"', views["form"]["arch"])
        # What the form reads for this user works without an access error.
        fields_read = [name for name in model_fields if name in call._fields]
        call.read(fields_read)
        self.assertEqual(call.appointment_count, 0)

    def test_manager_sees_raw_events_and_changes_anything(self):
        call = self.call.with_user(self.manager)
        self.assertEqual(len(call.event_ids), 8)
        self.assertTrue(self.env["medpulse.call.event"].with_user(self.manager).search_count([]))
        call.followup_note = "ok"
        self.assertTrue(call.action_export_raw_events()["url"].startswith("/web/content/"))

    def test_plain_employee_has_no_access(self):
        with self.assertRaises(AccessError):
            self.env["medpulse.call"].with_user(self.employee).search([])

    def test_other_company_calls_are_invisible(self):
        self.call.sudo().company_id = self.other_company
        self.assertFalse(
            self.env["medpulse.call"].with_user(self.manager).search([("entry_id", "=", "S-1")])
        )
