"""Who may do what with reminders and the confirmation call list: one check per cell of the
README's table (issue 21, part 2), on company A's records."""

from datetime import date

from odoo.tests import tagged

from .common import matrix_mismatches, role_users
from .reminder_common import utc
from .test_confirmation_list import ListCase

#: README, "Access matrix", the reminders table: role -> what it may do (else refused).
REMINDER_MATRIX = {
    "operator": {"read_reminder_log", "read_call_list", "read_rules"},
    "receptionist": {"read_reminder_log", "read_reminder_patient", "read_call_list",
                     "read_call_list_patient", "work_call_list", "read_rules"},
    "doctor": set(),
    "telephony_manager": {"read_reminder_log", "read_call_list", "read_progress", "read_rules"},
    "clinic_manager": {"read_reminder_log", "read_reminder_patient", "read_call_list",
                       "read_call_list_patient", "work_call_list", "read_progress",
                       "read_rules", "manage_rules"},
    "administrator": {"read_reminder_log", "read_reminder_patient", "read_call_list",
                      "read_call_list_patient", "work_call_list", "read_progress",
                      "read_rules", "manage_rules"},
    "portal": set(),
    "public": set(),
    "other_company": set(),
}
REMINDER_ACTIONS = ("read_reminder_log", "read_reminder_patient", "read_call_list",
                    "read_call_list_patient", "work_call_list", "read_progress", "read_rules",
                    "manage_rules")


@tagged("post_install", "-at_install")
class TestReminderAccessMatrix(ListCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company_b = cls.env["res.company"].create({"name": "Reminders branch B"})
        cls.users = role_users(cls.env, "rem", company_b)

    def setUp(self):
        super().setUp()
        [self.item] = self.list_appointments(self.patient)
        self.reminder = self.Reminder._build_day(
            self.company, date(2030, 1, 9), now=utc(2030, 1, 7, 20, 0))[:1]

    def attempt(self, role, action):
        env = self.env(user=self.users[role])
        if action == "read_reminder_log":
            found = env["medpulse.reminder"].search([("id", "=", self.reminder.id)])
            return bool(found.read(["number", "state"]))
        if action == "read_reminder_patient":
            return bool(self.reminder.with_env(env).read(["patient_id"])[0]["patient_id"])
        if action == "read_call_list":
            found = env["medpulse.confirmation.item"].search([("id", "=", self.item.id)])
            return bool(found.read(["number", "state"]))
        if action == "read_call_list_patient":
            return bool(self.item.with_env(env).read(["patient_id"])[0]["patient_id"])
        if action == "work_call_list":
            given = env["medpulse.confirmation.item"].action_next_patient()
            if given.get("res_id") != self.item.id:
                return False
            self.item.with_env(env).action_confirmed()
            return self.item.sudo().outcome == "confirmed"
        if action == "read_progress":
            progress = env["medpulse.confirmation.progress"].create(
                {"company_id": self.company.id, "list_date": date(2030, 1, 9)})
            return progress.total_count == 1
        if action == "read_rules":
            return self.rule in env["medpulse.reminder.rule"].search([])
        if action == "manage_rules":
            self.rule.with_env(env).write({"lead_hours": 30})
            return True
        raise AssertionError(action)

    def test_matrix(self):
        self.assertEqual(matrix_mismatches(self, REMINDER_MATRIX, REMINDER_ACTIONS), [])
