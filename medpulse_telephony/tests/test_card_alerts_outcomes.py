"""Issue 20, parts 1 and 3 on the server: what the card's sound and desktop notification
are told, the user's preferences, call outcomes, the patient's calls and chatter note."""

import json

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import TelephonyFixtures, attempt_allowed, dumps
from .test_access_matrix import ROLES
from .test_incoming_card import CARD, SIP1, ivr, leg, op_to


@tagged("post_install", "-at_install")
class TestCardAlertsAndOutcomes(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.booked = cls.env.ref("medpulse_telephony.medpulse_call_outcome_booked")
        cls.information = cls.env.ref("medpulse_telephony.medpulse_call_outcome_information")

    def setUp(self):
        super().setUp()
        self.env.cr.precommit.run()
        self.last_bus_id = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id

    def payloads(self, user):
        self.env.cr.precommit.run()
        rows = self.env["bus.bus"].sudo().search([("id", ">", self.last_bus_id)], order="id")
        if rows:
            self.last_bus_id = rows[-1].id
        messages = [json.loads(row.message) for row in rows]
        channels = [json.loads(row.channel) for row in rows]
        return [
            message["payload"]
            for message, channel in zip(messages, channels, strict=True)
            if message["type"] == CARD and channel[2] == user.partner_id.id
        ]

    def ring(self, entry):
        self.receive(ivr(entry))
        return self.receive([leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1))])

    def ended(self, entry):
        self.receive(ivr(entry))
        return self.receive([
            leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
            leg(entry, "op1", 2, "Connected", 8, op_to("101", SIP1)),
            leg(entry, "op1", 3, "Disconnected", 60, op_to("101", SIP1), disconnect_reason=1110),
        ])

    # ------------------------------------------------------------- part 1

    def test_card_carries_the_preferences_and_the_name_setting(self):
        self.ring("E-ALERT-1")
        card = self.payloads(self.operator1)[-1]
        self.assertEqual(card["status"], "ringing")
        self.assertEqual(
            (card["sound"], card["desktop_notify"], card["notify_name"]), (True, True, False)
        )
        self.operator1.with_user(self.operator1).write(
            {"medpulse_pbx_sound": False, "medpulse_pbx_desktop_notify": False}
        )
        self.company.sudo().medpulse_pbx_notify_patient_name = True
        self.ring("E-ALERT-2")
        card = self.payloads(self.operator1)[-1]
        self.assertEqual(
            (card["sound"], card["desktop_notify"], card["notify_name"]), (False, False, True)
        )

    def test_preferences_are_the_users_own(self):
        """Each user sets their own sound and notifications; not a colleague's."""
        me = self.operator1.with_user(self.operator1)
        self.assertEqual(
            me.read(["medpulse_pbx_sound", "medpulse_pbx_desktop_notify"])[0]["medpulse_pbx_sound"],
            True,
        )
        me.write({"medpulse_pbx_desktop_notify": False})
        self.assertFalse(self.operator1.medpulse_pbx_desktop_notify)
        with self.assertRaises(AccessError):
            self.operator2.with_user(self.operator1).write({"medpulse_pbx_sound": False})

    # ------------------------------------------------------------- part 3

    def test_outcomes_are_shipped_translatable_and_per_company(self):
        Outcome = self.env["medpulse.call.outcome"]
        codes = Outcome.search([]).mapped("code")
        for code in ("booked", "rescheduled", "cancelled", "information", "wrong_number",
                     "complaint", "other"):
            self.assertIn(code, codes)
        self.assertTrue(Outcome._fields["name"].translate)
        company_b = self.env["res.company"].create({"name": "Outcome branch B"})
        own = Outcome.create({"name": "Sent to the lab", "company_id": company_b.id})
        user_a = new_test_user(self.env, login="out_a", groups=ROLES["receptionist"])
        self.assertNotIn(own, Outcome.with_user(user_a).search([]))
        self.assertIn(self.booked, Outcome.with_user(user_a).search([]))
        with self.assertRaises(AccessError):
            Outcome.with_user(user_a).create({"name": "Mine"})

    def test_ended_card_offers_outcomes_and_saves_one_with_a_patient_note(self):
        call = self.ended("E-OUT-1")
        card = self.payloads(self.operator1)[-1]
        self.assertEqual(card["status"], "ended")
        self.assertIn([self.booked.id, "Booked", "booked"], card["outcomes"])
        self.assertFalse(card["outcome_required"])
        notes_before = len(self.patient.message_ids)
        call.with_user(self.operator1).action_card_followup(
            "resolved", "Monday 10:00", outcome_id=self.booked.id
        )
        self.assertEqual(call.outcome_id, self.booked)
        notes = self.patient.message_ids[: len(self.patient.message_ids) - notes_before]
        self.assertEqual(len(notes), 1, "one note on the patient for a booking")
        self.assertIn("Booked", notes.body)
        self.assertIn("Monday 10:00", notes.body)
        self.assertEqual(notes.author_id, self.operator1.partner_id)
        # Saving the same outcome from the journal again adds no second note.
        call.with_user(self.operator1).write({"outcome_id": self.booked.id})
        self.assertEqual(len(self.patient.message_ids), notes_before + 1)

    def test_ended_card_offers_the_outcomes_as_they_are_now(self):
        """The outcomes an ended card offers are kept per worker (every ended card of the
        company shows the same list) until one is archived, translated, added or deleted."""

        def offered(entry):
            self.ended(entry)
            return self.payloads(self.operator1)[-1]["outcomes"]

        self.assertIn([self.information.id, "Information given", "information"],
                      offered("E-OUT-KEPT-1"))
        self.information.active = False
        self.assertNotIn(self.information.id, [o[0] for o in offered("E-OUT-KEPT-2")])
        self.booked.update_field_translations("name", {"en_US": "Appointment booked"})
        self.assertIn([self.booked.id, "Appointment booked", "booked"], offered("E-OUT-KEPT-3"))
        extra = self.env["medpulse.call.outcome"].create({"name": "Sent to the lab"})
        self.assertIn([extra.id, "Sent to the lab", False], offered("E-OUT-KEPT-4"))
        extra.unlink()
        self.assertNotIn(extra.id, [o[0] for o in offered("E-OUT-KEPT-5")])

    def test_only_the_ended_card_carries_the_outcomes(self):
        """A ringing or talking card does not search the outcomes: only the ended card
        offers them (the browser keeps them from its message)."""
        self.ended("E-OUT-LIVE")
        statuses = [(card["status"], "outcomes" in card) for card in self.payloads(self.operator1)]
        self.assertEqual(statuses, [("ringing", False), ("talking", False), ("ended", True)])

    def test_outcome_without_result_leaves_no_patient_note(self):
        call = self.ended("E-OUT-2")
        notes_before = len(self.patient.message_ids)
        call.with_user(self.operator1).write({"outcome_id": self.information.id})
        self.assertEqual(len(self.patient.message_ids), notes_before)

    def test_required_outcome(self):
        self.company.sudo().medpulse_pbx_outcome_required = True
        call = self.ended("E-OUT-3")
        self.assertTrue(self.payloads(self.operator1)[-1]["outcome_required"])
        with self.assertRaisesRegex(UserError, "outcome"):
            call.with_user(self.operator1).action_card_followup("resolved", False)
        call.with_user(self.operator1).action_card_followup(
            "resolved", False, outcome_id=self.information.id
        )
        self.assertEqual(call.outcome_id, self.information)

    def test_another_companys_outcome_is_refused(self):
        company_b = self.env["res.company"].create({"name": "Outcome branch C"})
        theirs = self.env["medpulse.call.outcome"].create(
            {"name": "Theirs", "company_id": company_b.id}
        )
        call = self.ended("E-OUT-4")
        with self.assertRaisesRegex(UserError, "Unknown call outcome"):
            call.with_user(self.operator1).action_card_followup(
                "resolved", False, outcome_id=theirs.id
            )

    def test_patient_recent_calls_follow_the_journals_rules(self):
        call = self.ended("E-OUT-5")
        self.assertEqual(call.sudo().patient_id, self.patient)
        for role in ("receptionist", "clinic_manager", "administrator"):
            user = new_test_user(self.env, login=f"recent_{role}", groups=ROLES[role])
            self.assertIn(call, self.patient.with_user(user).recent_call_ids, role)
        doctor = new_test_user(self.env, login="recent_doctor", groups=ROLES["doctor"])
        with self.assertRaises(AccessError):
            self.patient.with_user(doctor).read(["recent_call_ids"])
        company_b = self.env["res.company"].create({"name": "Recent branch B"})
        other = new_test_user(
            self.env, login="recent_other", groups=ROLES["receptionist"],
            company_id=company_b.id, company_ids=[(6, 0, (company_b | self.company).ids)],
        )
        # Working in company B only, the user does not see company A's calls.
        patient = self.patient.with_user(other).with_context(allowed_company_ids=company_b.ids)
        self.assertFalse(patient.recent_call_ids)


#: README, "Access matrix", the issue-20 table: role -> what it may do (else refused).
ALERTS_MATRIX = {
    "operator": {"read_outcomes", "set_call_outcome", "own_card_preferences"},
    "receptionist": {
        "read_outcomes", "set_call_outcome", "patient_recent_calls", "own_card_preferences",
    },
    "doctor": {"own_card_preferences"},
    "telephony_manager": {
        "read_outcomes", "manage_outcomes", "set_call_outcome", "own_card_preferences",
    },
    "clinic_manager": {
        "read_outcomes", "set_call_outcome", "patient_recent_calls", "own_card_preferences",
    },
    "administrator": {
        "read_outcomes", "manage_outcomes", "set_call_outcome", "patient_recent_calls",
        "own_card_preferences", "company_alert_settings",
    },
    "portal": set(),
    "public": set(),
}
ALERTS_ACTIONS = (
    "read_outcomes", "manage_outcomes", "set_call_outcome", "patient_recent_calls",
    "own_card_preferences", "company_alert_settings",
)


@tagged("post_install", "-at_install")
class TestCardAlertsAccessMatrix(TelephonyFixtures, TransactionCase):
    """One test per cell of the README's issue-20 access table (outcomes, the patient's
    recent calls, the card's preferences): ``test_<role>__<action>``, made below."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.users = {
            role: cls.env.ref("base.public_user") if groups is None
            else new_test_user(cls.env, login=f"alerts_{role}", groups=groups)
            for role, groups in ROLES.items()
        }
        cls.receive_class_call()

    @classmethod
    def receive_class_call(cls):
        Event = cls.env["medpulse.call.event"].sudo()
        entry = "E-ALERT-MATRIX"
        for path, payload in [*ivr(entry), leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
                              leg(entry, "op1", 2, "Connected", 8, op_to("101", SIP1))]:
            Event._receive(cls.company, path, dumps(payload))
        cls.call = cls.env["medpulse.call"].sudo().search([("entry_id", "=", entry)])
        cls.outcome = cls.env.ref("medpulse_telephony.medpulse_call_outcome_information")

    def attempt(self, role, action):
        user = self.users[role]
        env = self.env(user=user)
        if action == "read_outcomes":
            return bool(env["medpulse.call.outcome"].search([]))
        if action == "manage_outcomes":
            env["medpulse.call.outcome"].create({"name": f"By {role}"})
            return True
        if action == "set_call_outcome":
            self.call.with_env(env).write({"outcome_id": self.outcome.id})
            return True
        if action == "patient_recent_calls":
            return self.call in self.patient.with_env(env).recent_call_ids
        if action == "own_card_preferences":
            user.with_env(env).write({"medpulse_pbx_sound": False})
            return not user.sudo().medpulse_pbx_sound
        if action == "company_alert_settings":
            self.company.with_env(env).write({"medpulse_pbx_notify_patient_name": True})
            return True
        raise AssertionError(action)


def _alerts_cell(role, action):
    def test(self):
        allowed = attempt_allowed(self, role, action)
        expected = action in ALERTS_MATRIX[role]
        self.assertEqual(allowed, expected, f"{role} {action}")

    test.__name__ = f"test_{role}__{action}"
    test.__doc__ = f"{role} × {action}: {'allowed' if action in ALERTS_MATRIX[role] else 'refused'}"
    return test


for _role in ROLES:
    for _action in ALERTS_ACTIONS:
        _test = _alerts_cell(_role, _action)
        setattr(TestCardAlertsAccessMatrix, _test.__name__, _test)
