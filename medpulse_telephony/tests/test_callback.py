"""Call-backs: one per caller, an owner, a deadline on working hours, attempts, completion,
breaches, and who sees them. Calls come through the webhook's processing (``receive``)."""

import json
from datetime import datetime, timezone

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

import mango_vpbx

from .common import (
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    call_event,
    incoming_answered,
    incoming_missed,
    outgoing,
    receptionist_with_extension,
    summary,
)

OTHER_NUMBER = "79167770011"
THIRD_NUMBER = "79167770022"


def utc(*args):
    return datetime(*args)


def ts(moment):
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def ivr_abandon(entry_id, t0, caller=PATIENT_NUMBER, seconds=2):
    """The caller hangs up in the voice menu after ``seconds``."""
    ivr_to = {"number": "74951234567", "line_number": "74951234567"}
    return [
        call_event(
            entry_id, f"{entry_id}:ivr", 1, "Appeared", t0, "ivr", {"number": caller}, ivr_to
        ),
        call_event(
            entry_id,
            f"{entry_id}:ivr",
            2,
            "Disconnected",
            t0 + seconds,
            "ivr",
            {"number": caller},
            ivr_to,
            disconnect_reason=1110,
        ),
        summary(entry_id, 1, {"number": caller}, ivr_to, t0, 0, 0, t0 + seconds, 0, 1110),
    ]


@tagged("post_install", "-at_install")
class TestCallback(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.setup_telephony()
        # Monday to Friday, 09:00-18:00 Moscow time (UTC+3 all year).
        cls.calendar = cls.env["resource.calendar"].create(
            {
                "name": "Clinic hours (call-back test)",
                "tz": "Europe/Moscow",
                "attendance_ids": [
                    Command.create(
                        {
                            "name": f"Day {day}",
                            "dayofweek": str(day),
                            "hour_from": 9,
                            "hour_to": 18,
                        }
                    )
                    for day in range(5)
                ],
            }
        )
        cls.company.write(
            {
                "resource_calendar_id": cls.calendar.id,
                "medpulse_callback_service_minutes": 30,
                "medpulse_callback_min_wait_seconds": 3,
                "medpulse_callback_owner_rule": "rang",
            }
        )
        # Only the test's operators are on duty (the demo's are away).
        cls.env["res.users"].search(
            [
                ("medpulse_pbx_extension", "!=", False),
                ("id", "not in", (cls.operator1 | cls.operator2).ids),
            ]
        ).write({"medpulse_pbx_away": True})
        cls.Callback = cls.env["medpulse.call.callback"].sudo()

    def callbacks(self, number=PATIENT_NUMBER):
        return self.Callback.search(
            [("e164", "=", "+" + number), ("company_id", "=", self.company.id)]
        )

    # ------------------------------------------------------------ one per caller

    def test_three_misses_make_one_callback(self):
        for index in range(3):
            self.receive(incoming_missed(f"E-CB-M{index}", T0 + index * 600))
        callback = self.callbacks()
        self.assertEqual(len(callback), 1)
        self.assertEqual(callback.miss_count, 3)
        self.assertEqual(len(callback.call_ids), 3)
        self.assertEqual(callback.first_missed_at, utc(2026, 3, 2, 9, 0))
        self.assertEqual(callback.last_missed_at, utc(2026, 3, 2, 9, 20))
        self.assertEqual(callback.state, "open")
        self.assertEqual(callback.patient_id, self.patient)
        # Monday 12:00 in Moscow + 30 working minutes.
        self.assertEqual(callback.due_at, utc(2026, 3, 2, 9, 30))
        activity = callback.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(
            activity.activity_type_id,
            self.env.ref("medpulse_telephony.mail_activity_type_call_back"),
        )
        self.assertEqual(activity.activity_type_id.category, "phonecall")
        self.assertEqual(activity.user_id, self.operator1, "operator 101's phone rang")
        self.assertEqual(activity.date_deadline, fields.Date.to_date("2026-03-02"))
        # The same events again (a redelivery) change nothing.
        self.receive(incoming_missed("E-CB-M0", T0))
        self.assertEqual(self.callbacks().miss_count, 3)

    def test_missed_call_recovered_from_statistics_opens_one(self):
        """A call whose events never reached the webhook, recovered by reconciliation."""
        fields_ = (
            "entry_id, start, finish, answer, from_number, to_extension, disconnect_reason, create"
        )
        rows = mango_vpbx.stats.parse_csv(
            f"E-CB-STATS;{T0};{T0 + 20};0;{PATIENT_NUMBER};101;1110;{T0}\n", fields_
        )
        outcome = (
            self.env["medpulse.call"].sudo()._apply_stats_rows(self.company, "E-CB-STATS", rows)
        )
        self.assertEqual(outcome, "created")
        callback = self.callbacks()
        self.assertEqual(callback.call_ids.entry_id, "E-CB-STATS")
        self.assertEqual(callback.user_id, self.operator1)

    def test_hidden_numbers_and_short_abandons_open_none(self):
        short = self.receive(ivr_abandon("E-CB-SHORT", T0, seconds=2))
        self.assertEqual(short.call_type, "missed_incoming")
        self.assertFalse(self.callbacks())
        hidden = self.receive(incoming_missed("E-CB-HIDDEN", T0, caller=""))
        self.assertEqual(hidden.call_type, "missed_incoming")
        self.assertFalse(hidden.external_e164)
        self.assertFalse(self.Callback.search([("call_ids", "in", hidden.ids)]))
        self.receive(ivr_abandon("E-CB-LONG", T0 + 60, seconds=3))
        self.assertEqual(self.callbacks().miss_count, 1, "3 s is the threshold: it counts")
        self.company.medpulse_callback_min_wait_seconds = 10
        self.receive(ivr_abandon("E-CB-LONG2", T0 + 120, seconds=5))
        self.assertEqual(self.callbacks().miss_count, 1)

    # ------------------------------------------------------------------ deadline

    def test_deadline_on_working_hours(self):
        due = self.Callback._due_from
        # Friday 21:00 Moscow: Monday at opening time + 30 min.
        self.assertEqual(due(self.company, utc(2026, 3, 6, 18, 0)), utc(2026, 3, 9, 6, 30))
        # Tuesday 19:00 (after hours): Wednesday 09:30.
        self.assertEqual(due(self.company, utc(2026, 3, 3, 16, 0)), utc(2026, 3, 4, 6, 30))
        # Monday 17:50: ten minutes today, twenty tomorrow.
        self.assertEqual(due(self.company, utc(2026, 3, 2, 14, 50)), utc(2026, 3, 3, 6, 20))
        # Monday 9 March is a holiday: the Friday evening call is due on Tuesday.
        self.env["resource.calendar.leaves"].create(
            {
                "name": "Holiday",
                "calendar_id": self.calendar.id,
                "date_from": utc(2026, 3, 8, 21, 0),
                "date_to": utc(2026, 3, 9, 20, 59, 59),
            }
        )
        self.assertEqual(due(self.company, utc(2026, 3, 6, 18, 0)), utc(2026, 3, 10, 6, 30))
        # Through the webhook: the activity is due on the due time's local date.
        self.receive(incoming_missed("E-CB-FRI", ts(utc(2026, 3, 6, 18, 0))))
        callback = self.callbacks()
        self.assertEqual(callback.due_at, utc(2026, 3, 10, 6, 30))
        self.assertEqual(callback.activity_ids.date_deadline, fields.Date.to_date("2026-03-10"))

    # --------------------------------------------------------------------- owner

    def test_owner_round_robin_skips_away_operators(self):
        self.company.medpulse_callback_owner_rule = "round_robin"
        on_duty = self.Callback._on_duty_operators(self.company)
        self.assertEqual(on_duty, self.operator1 | self.operator2, "an extension, not away")
        owners = []
        for index, number in enumerate((PATIENT_NUMBER, OTHER_NUMBER, THIRD_NUMBER)):
            self.receive(incoming_missed(f"E-CB-RR{index}", T0 + index * 60, caller=number))
            owners.append(self.callbacks(number).user_id)
        self.assertEqual(owners[0] | owners[1], self.operator1 | self.operator2)
        self.assertEqual(owners[2], owners[0], "in turn")
        # Away operators get none.
        owners[1].with_user(owners[1]).write({"medpulse_pbx_away": True})
        self.receive(incoming_missed("E-CB-RR9", T0 + 600, caller="79167770033"))
        self.assertEqual(self.callbacks("79167770033").user_id, owners[0])

    def test_owner_fixed_user_must_be_an_operator(self):
        clerk = new_test_user(self.env, login="cb_clerk", groups="base.group_user")
        with self.assertRaisesRegex(ValidationError, "Operator right"):
            self.company.medpulse_callback_user_id = clerk
        self.company.write(
            {
                "medpulse_callback_owner_rule": "fixed",
                "medpulse_callback_user_id": self.operator2.id,
            }
        )
        self.receive(incoming_missed("E-CB-FIX", T0))
        self.assertEqual(self.callbacks().user_id, self.operator2)
        self.assertEqual(self.callbacks().activity_ids.user_id, self.operator2)

    def test_owner_hands_over(self):
        self.receive(incoming_missed("E-CB-HAND", T0))
        callback = self.callbacks()
        self.assertEqual(callback.user_id, self.operator1)
        with self.assertRaises(AccessError):
            callback.with_user(self.operator2).write({"user_id": self.operator2.id})
        with self.assertRaisesRegex(UserError, "on duty"):
            callback.with_user(self.operator2).action_take()
        callback.with_user(self.operator1).write({"user_id": self.operator2.id})
        self.assertEqual(callback.activity_ids.user_id, self.operator2, "the activity follows")
        # Operator 2 goes away: operator 1 may take it back.
        self.operator2.with_user(self.operator2).medpulse_pbx_away = True
        callback.with_user(self.operator1).action_take()
        self.assertEqual(callback.activity_ids.user_id, self.operator1)

    # ------------------------------------------------------ attempts, completion

    def test_attempts_then_answered_call_back_completes(self):
        self.receive(incoming_missed("E-CB-A", T0))
        callback = self.callbacks()
        activity = callback.activity_ids
        self.receive(outgoing("E-CB-OUT1", T0 + 300, answered=False))
        self.assertEqual(callback.attempt_count, 1)
        self.assertEqual(callback.attempt_call_ids.result, "missed")
        self.assertEqual(callback.state, "open")
        self.receive(outgoing("E-CB-OUT2", T0 + 900, answered=True))
        self.assertEqual(callback.attempt_count, 2)
        self.assertEqual(callback.state, "done")
        self.assertEqual(callback.reached_call_id.entry_id, "E-CB-OUT2")
        self.assertFalse(callback.activity_ids)
        self.assertFalse(activity.with_context(active_test=False).exists().active)
        self.assertIn("Reached in call", " ".join(callback.message_ids.mapped("body")))
        # A later miss opens a new call-back.
        self.receive(incoming_missed("E-CB-A2", T0 + 3600))
        self.assertEqual(len(self.callbacks()), 2)

    def test_caller_gets_through_completes(self):
        self.receive(incoming_missed("E-CB-T", T0))
        self.receive(incoming_answered("E-CB-T2", T0 + 600))
        callback = self.callbacks()
        self.assertEqual(callback.state, "done")
        self.assertEqual(callback.attempt_count, 0, "an incoming call is no attempt")

    def test_earlier_calls_are_no_attempt(self):
        self.receive(outgoing("E-CB-OLD", T0 - 600, answered=True))
        self.receive(incoming_missed("E-CB-N", T0))
        self.receive(outgoing("E-CB-OLD", T0 - 600, answered=True))
        self.assertEqual(self.callbacks().state, "open")
        self.assertEqual(self.callbacks().attempt_count, 0)

    def test_booking_completes(self):
        self.receive(incoming_missed("E-CB-B", T0))
        specialty = self.env["medpulse.specialty"].create({"name": "Call-back therapy"})
        service = self.env["medpulse.service"].create(
            {
                "name": "Call-back consultation",
                "code": "CB",
                "duration": 30,
                "specialty_id": specialty.id,
            }
        )
        doctor = self.env["medpulse.doctor"].create(
            {
                "name": "Doctor CB",
                "specialty_id": specialty.id,
                "service_ids": [Command.set(service.ids)],
            }
        )
        self.env["medpulse.appointment"].with_user(self.operator1).create(
            {
                "patient_id": self.patient.id,
                "doctor_id": doctor.id,
                "service_id": service.id,
                "start": "2030-01-07 10:00:00",
            }
        )
        callback = self.callbacks()
        self.assertEqual(callback.state, "done")
        self.assertFalse(callback.activity_ids)

    # ------------------------------------------------------------------ breaches

    def notifications(self, since):
        self.env.cr.precommit.run()
        rows = self.env["bus.bus"].sudo().search([("id", ">", since)], order="id")
        found = []
        for row in rows:
            message = json.loads(row.message)
            if message["type"] == "simple_notification":
                found.append((json.loads(row.channel)[2], message["payload"]))
        return found

    def test_breach_notifies_owner_and_managers_once(self):
        now = fields.Datetime.now()
        self.receive(incoming_missed("E-CB-LATE", T0))
        self.receive(incoming_missed("E-CB-LATE2", T0 + 60, caller=THIRD_NUMBER))
        self.receive(incoming_missed("E-CB-NOW", ts(now), caller=OTHER_NUMBER))
        self.env.cr.precommit.run()
        since = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id
        self.Callback._cron_mark_overdue()
        late, fresh = self.callbacks(), self.callbacks(OTHER_NUMBER)
        self.assertEqual(late.state, "overdue")
        self.assertTrue(late.is_overdue)
        self.assertEqual(self.callbacks(THIRD_NUMBER).state, "overdue")
        self.assertEqual(fresh.state, "open", "not due yet")
        self.assertEqual(late.activity_state, "overdue")
        sent = self.notifications(since)
        partners = [partner for partner, _payload in sent]
        self.assertIn(self.operator1.partner_id.id, partners, "the owner")
        self.assertIn(self.manager.partner_id.id, partners, "a telephony manager")
        self.assertNotIn(self.operator2.partner_id.id, partners)
        self.assertEqual(len(partners), len(set(partners)), "one message per person and run")
        for _partner, payload in sent:
            self.assertIn("+" + PATIENT_NUMBER, payload["message"])
            self.assertIn("+" + THIRD_NUMBER, payload["message"])
            self.assertNotIn("+" + OTHER_NUMBER, payload["message"])
            self.assertNotIn("Ivanova", payload["message"])
        since = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id
        self.Callback._cron_mark_overdue()
        self.assertFalse(self.notifications(since), "once per breach")
        # Reaching the caller still closes an overdue call-back.
        self.receive(outgoing("E-CB-LATE-OUT", ts(now) + 60, answered=True))
        self.assertEqual(late.state, "done")

    # -------------------------------------------------------------------- access

    def test_access_per_role_and_company(self):
        self.receive(incoming_missed("E-CB-ACC", T0))
        callback = self.callbacks()
        phone_only = new_test_user(
            self.env,
            login="cb_phone_only",
            groups="medpulse_telephony.group_telephony_operator",
        )
        rows = (
            self.env["medpulse.call.callback"]
            .with_user(phone_only)
            .search_read([("id", "=", callback.id)], ["e164", "user_id", "due_at"])
        )
        self.assertEqual(rows[0]["e164"], "+" + PATIENT_NUMBER)
        self.assertNotIn(
            "patient_id", self.env["medpulse.call.callback"].with_user(phone_only).fields_get()
        )
        with self.assertRaises(AccessError):
            callback.with_user(phone_only).read(["patient_id"])
        self.assertEqual(callback.with_user(self.operator2).patient_id, self.patient)
        doctor = new_test_user(
            self.env, login="cb_doctor", groups="medpulse_clinic.group_clinic_doctor"
        )
        with self.assertRaises(AccessError):
            self.env["medpulse.call.callback"].with_user(doctor).search([])
        company_b = self.env["res.company"].create({"name": "Call-back branch B"})
        other = new_test_user(
            self.env,
            login="cb_other",
            company_id=company_b.id,
            company_ids=[Command.set(company_b.ids)],
            groups="medpulse_telephony.group_telephony_manager,medpulse_clinic.group_clinic_manager",
        )
        self.assertFalse(self.env["medpulse.call.callback"].with_user(other).search([]))
        with self.assertRaises(AccessError):
            callback.with_user(other).read(["e164"])
        # The manager hands anyone's over.
        callback.with_user(self.manager).write({"user_id": self.operator2.id})
        self.assertEqual(callback.activity_ids.user_id, self.operator2)

    def test_away_is_the_users_own_preference(self):
        self.operator2.with_user(self.operator2).write({"medpulse_pbx_away": True})
        self.assertTrue(self.operator2.medpulse_pbx_away)
        self.assertNotIn(self.operator2, self.Callback._on_duty_operators(self.company))
        with self.assertRaises(AccessError):
            self.operator1.with_user(self.operator2).write({"medpulse_pbx_away": True})


@tagged("post_install", "-at_install")
class TestCallbackAway(HttpCase):
    def test_operator_marks_themselves_away_in_preferences(self):
        operator = receptionist_with_extension(self.env, "cb_away")
        self.assertIn(
            operator, self.env["medpulse.call.callback"]._on_duty_operators(self.env.company)
        )
        self.start_tour("/odoo", "medpulse_callback_away_tour", login=operator.login)
        self.assertTrue(operator.medpulse_pbx_away)
        self.assertNotIn(
            operator, self.env["medpulse.call.callback"]._on_duty_operators(self.env.company)
        )
