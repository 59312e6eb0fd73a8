"""Who may do what with the waiting list: one check per cell of the README's table
(issue 22, part 3), on company A's records."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import role_users
from .test_waitlist import WaitlistCase

ALL = {"read_list", "enter", "read_offers", "work_offers", "report"}
#: README, "Access matrix", the waiting list's table: role -> what it may do (else refused).
WAITLIST_MATRIX = {
    "operator": set(),
    "receptionist": ALL,
    "doctor": set(),
    "telephony_manager": set(),
    "clinic_manager": ALL | {"remove"},
    "administrator": ALL | {"remove"},
    "portal": set(),
    "public": set(),
    "other_company": set(),
}
WAITLIST_ACTIONS = ("read_list", "enter", "remove", "read_offers", "work_offers", "report")


@tagged("post_install", "-at_install")
class TestWaitlistAccessMatrix(WaitlistCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company_b = cls.env["res.company"].create({"name": "Waiting list branch B"})
        cls.users = role_users(cls.env, "wlm", company_b)

    def setUp(self):
        super().setUp()
        self.entry = self.wait(self.patient)
        self.slot = self.free()

    def attempt(self, role, action):
        env = self.env(user=self.users[role])
        if action == "read_list":
            found = env["medpulse.waitlist"].search([("id", "=", self.entry.id)])
            return found.patient_id == self.patient
        if action == "enter":
            entry = env["medpulse.waitlist"].create(
                {"patient_id": self.no_sms.id, "doctor_id": self.doctor.id})
            return bool(entry.read(["state"]))
        if action == "remove":
            self.entry.with_env(env).unlink()
            return not self.entry.exists()
        if action == "read_offers":
            slots = env["medpulse.waitlist.slot"].search([("id", "=", self.slot.id)])
            offers = env["medpulse.waitlist.offer"].search([("slot_id", "in", slots.ids)])
            return offers.patient_id == self.patient
        if action == "work_offers":
            self.slot.offer_ids.with_env(env).action_accept()
            return self.slot.sudo().state == "refilled"
        if action == "report":
            rows = env["medpulse.waitlist.slot"].read_group(
                [("id", "=", self.slot.id)], ["freed_count:sum"], [])
            return [row["freed_count"] for row in rows] == [1]
        raise AssertionError(action)

    def test_matrix(self):
        wrong = []
        for role, allowed_actions in WAITLIST_MATRIX.items():
            for action in WAITLIST_ACTIONS:
                with self.subTest(role=role, action=action), self.env.cr.savepoint() as savepoint:
                    try:
                        allowed = self.attempt(role, action)
                    except (AccessError, UserError):
                        allowed = False
                    savepoint.rollback()
                self.env.invalidate_all()
                if allowed != (action in allowed_actions):
                    wrong.append(f"{role} {action}: {'allowed' if allowed else 'refused'}")
        self.assertEqual(wrong, [])
