"""Call-backs: one per caller, an owner, a deadline on working hours, attempts, completion,
breaches, and who sees them. Calls come through the webhook's processing (``receive``)."""

import json
import uuid
from datetime import datetime, timedelta, timezone

from psycopg2 import errors as pg_errors

from odoo import Command, api, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

import mango_vpbx

from ..models.medpulse_call_callback import CLAIM_START_MINUTES
from .click_to_call_common import OP1, ClickToCallCase, callback_events
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
from .test_card_browser import _talking

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

    # ------------------------------------------- consistency with the journal

    def stats_call(self, entry_id, row):
        """``entry_id`` as the reconciliation takes it from the PBX's statistics (one row)."""
        names = ("entry_id", "start", "finish", "answer", "from_extension", "from_number",
                 "to_extension", "to_number", "disconnect_reason", "create")
        text = ";".join(str(row.get(name, "")) for name in names) + "\n"
        rows = mango_vpbx.stats.parse_csv(text.replace("{entry_id}", entry_id), ",".join(names))
        outcome = self.env["medpulse.call"].sudo()._apply_stats_rows(self.company, entry_id, rows)
        call = self.env["medpulse.call"].sudo().search(
            [("entry_id", "=", entry_id), ("company_id", "=", self.company.id)]
        )
        return outcome, call

    def activities_of(self, callbacks):
        """Every activity of the call-backs, archived ones included."""
        return self.env["mail.activity"].sudo().with_context(active_test=False).search(
            [("res_model", "=", "medpulse.call.callback"), ("res_id", "in", callbacks.ids)]
        )

    def done_messages(self, callback):
        """The chatter's "Call back done" messages (what marking an activity done posts)."""
        kind = self.env.ref("medpulse_telephony.mail_activity_type_call_back")
        return callback.message_ids.filtered(lambda message: message.mail_activity_type_id == kind)

    def test_missed_call_delivered_after_the_caller_got_through_opens_none(self):
        """The answered call is in the journal before the missed call's events arrive:
        the miss is closed by the journal's follow-up before its call-back step runs."""
        answered = self.receive(incoming_answered("E-CB-LATE-ANS", T0 + 600))
        missed = self.receive(incoming_missed("E-CB-LATE-MISS", T0))
        self.assertEqual(missed.followup_state, "resolved")
        self.assertEqual(missed.closed_by_call_id, answered)
        self.assertFalse(self.callbacks(), "the caller was reached already")
        # Redelivered, or a late event of the missed call: still none.
        self.receive(incoming_missed("E-CB-LATE-MISS", T0))
        self.assertFalse(self.callbacks())

    def test_missed_call_recovered_by_reconciliation_after_a_call_back_opens_none(self):
        """The webhook never got the missed call: the reconciliation recovers it after the
        operator's answered call back to the number is in the journal."""
        back = self.receive(outgoing("E-CB-REC-BACK", T0 + 600, answered=True))
        outcome, missed = self.stats_call("E-CB-REC-MISS", {
            "entry_id": "{entry_id}", "start": T0, "finish": T0 + 20, "answer": 0,
            "from_number": PATIENT_NUMBER, "to_extension": "101", "disconnect_reason": 1110,
            "create": T0,
        })
        self.assertEqual(outcome, "created")
        self.assertEqual(missed.call_type, "missed_incoming")
        self.assertEqual(missed.followup_state, "called_back")
        self.assertEqual(missed.closed_by_call_id, back)
        self.assertFalse(self.callbacks())

    def test_missed_call_completed_by_reconciliation_after_the_caller_got_through(self):
        """The missed call's summary never came (not settled: no call-back yet); the caller
        got through meanwhile; the reconciliation completes the miss: still none."""
        missed_events = incoming_missed("E-CB-PART-MISS", T0)
        missed = self.receive(missed_events[:-1])
        self.assertFalse(missed.is_final)
        self.assertFalse(self.callbacks(), "not settled: no call-back yet")
        answered = self.receive(incoming_answered("E-CB-PART-ANS", T0 + 600))
        self.assertFalse(self.callbacks())
        outcome, missed = self.stats_call("E-CB-PART-MISS", {
            "entry_id": "{entry_id}", "start": T0, "finish": T0 + 24, "answer": 0,
            "from_number": PATIENT_NUMBER, "to_extension": "101", "disconnect_reason": 1110,
            "create": T0,
        })
        self.assertEqual(outcome, "completed")
        self.assertEqual(missed.followup_state, "resolved")
        self.assertEqual(missed.closed_by_call_id, answered)
        self.assertFalse(self.callbacks())

    def test_call_back_recovered_by_reconciliation_closes_the_open_callback(self):
        """The miss opened a call-back; the answered call back reached the PBX but not the
        webhook: the reconciliation's call is an attempt and closes it, as reached."""
        self.receive(incoming_missed("E-CB-REC2-MISS", T0))
        callback = self.callbacks()
        self.assertEqual(callback.state, "open")
        outcome, back = self.stats_call("E-CB-REC2-BACK", {
            "entry_id": "{entry_id}", "start": T0 + 600, "finish": T0 + 660,
            "answer": T0 + 608, "from_extension": "101", "to_number": PATIENT_NUMBER,
            "disconnect_reason": 1110, "create": T0 + 600,
        })
        self.assertEqual(outcome, "created")
        self.assertEqual((back.direction, back.result), ("outgoing", "answered"))
        self.assertEqual(callback.state, "done")
        self.assertEqual(callback.reached_call_id, back)
        self.assertEqual(callback.attempt_call_ids, back)
        self.assertFalse(self.activities_of(callback))
        self.assertEqual(len(self.done_messages(callback)), 1, "its activity marked done")

    def test_caller_reached_between_two_misses_keeps_the_later_miss_open(self):
        """Misses at 09:00 and 10:00 joined one call-back; the caller's answered call of
        09:30 is learnt late (from the statistics): it reached the first miss, not the
        second, which still waits for a call-back of its own."""
        self.receive(incoming_missed("E-CB-SPLIT1", T0))
        self.receive(outgoing("E-CB-SPLIT-TRY", T0 + 600, answered=False))
        self.receive(incoming_missed("E-CB-SPLIT2", T0 + 3600))
        self.receive(outgoing("E-CB-SPLIT-TRY2", T0 + 3900, answered=False))
        first = self.callbacks()
        self.assertEqual((first.miss_count, first.attempt_count), (2, 2))
        _outcome, answered = self.stats_call("E-CB-SPLIT-ANS", {
            "entry_id": "{entry_id}", "start": T0 + 1800, "finish": T0 + 1860,
            "answer": T0 + 1805, "from_number": PATIENT_NUMBER, "to_extension": "101",
            "disconnect_reason": 1110, "create": T0 + 1800,
        })
        self.assertEqual(first.state, "done")
        self.assertEqual(first.reached_call_id, answered)
        self.assertEqual(first.call_ids.mapped("entry_id"), ["E-CB-SPLIT1"])
        self.assertEqual(first.miss_count, 1)
        self.assertEqual(first.attempt_call_ids.mapped("entry_id"), ["E-CB-SPLIT-TRY"])
        later = self.callbacks().filtered(lambda cb: cb.state == "open")
        self.assertEqual(later.call_ids.mapped("entry_id"), ["E-CB-SPLIT2"])
        self.assertEqual(later.first_missed_at, utc(2026, 3, 2, 10, 0))
        self.assertEqual(later.attempt_call_ids.mapped("entry_id"), ["E-CB-SPLIT-TRY2"])
        self.assertEqual(later.attempt_count, 1)
        self.assertEqual(later.activity_ids.user_id, self.operator1)
        self.assertEqual(later.due_at, self.Callback._due_from(self.company, later.first_missed_at))

    def test_an_earlier_answered_call_settled_late_takes_the_reach_over(self):
        """The call-back (09:15) settles before the caller's own answered call (09:05):
        the call-back was reached at 09:05, as the missed call's closure says."""
        missed = self.receive(incoming_missed("E-CB-LATE-M", T0))
        back = self.receive(outgoing("E-CB-LATE-OUT", T0 + 900, answered=True))
        callback = self.callbacks()
        self.assertEqual((callback.state, callback.reached_call_id), ("done", back))
        through = self.receive(incoming_answered("E-CB-LATE-IN", T0 + 300))
        self.assertEqual(missed.closed_by_call_id, through)
        self.assertEqual(self.callbacks(), callback, "no call-back opened")
        self.assertEqual(
            (callback.state, callback.reached_call_id, callback.reached_at),
            ("done", through, through.created_at),
        )
        self.assertEqual(callback.attempt_call_ids, back, "the call-back stays an attempt")
        # A later call settled last changes nothing; a redelivery neither.
        self.receive(incoming_answered("E-CB-LATE-IN2", T0 + 1200))
        self.receive(incoming_answered("E-CB-LATE-IN", T0 + 300))
        self.assertEqual(callback.reached_call_id, through)
        self.assertEqual(len(self.callbacks()), 1)

    def test_a_reach_taken_over_leaves_the_later_misses_to_the_later_call(self):
        """Misses at 09:00 and 09:20 share a call-back, reached by the call-back of 09:30;
        the caller's answered call of 09:10 settles last: it reached the first miss, and
        the second one was reached at 09:30 (a call-back of its own, done)."""
        self.receive(incoming_missed("E-CB-TO-M1", T0))
        self.receive(incoming_missed("E-CB-TO-M2", T0 + 1200))
        back = self.receive(outgoing("E-CB-TO-OUT", T0 + 1800, answered=True))
        [first] = self.callbacks()
        self.assertEqual((first.miss_count, first.reached_call_id), (2, back))
        through = self.receive(incoming_answered("E-CB-TO-IN", T0 + 600))
        callbacks = self.callbacks().sorted("first_missed_at")
        self.assertEqual(len(callbacks), 2)
        self.assertEqual(callbacks[0], first)
        self.assertEqual(
            [(cb.call_ids.mapped("entry_id"), cb.state, cb.reached_call_id) for cb in callbacks],
            [(["E-CB-TO-M1"], "done", through), (["E-CB-TO-M2"], "done", back)],
        )
        self.assertEqual(callbacks[1].attempt_call_ids, back)
        self.assertFalse(callbacks.activity_ids, "no call-back left to do")

    # ------------------------------------------------------ "No action needed"

    def test_no_action_needed_cancels_the_callback_and_its_activity(self):
        """An operator marks the miss "No action needed" in the journal: the call-back is
        cancelled (not reached) and its activity cancelled (deleted, not done), whoever
        owns it; the next miss of the number opens a new one."""
        missed = self.receive(incoming_missed("E-CB-NOACT", T0))
        callback = self.callbacks()
        self.assertEqual(callback.user_id, self.operator1)
        self.assertTrue(callback.activity_ids)
        # Operator 2 (not the owner) decides from the journal's form.
        missed.with_user(self.operator2).action_set_no_action()
        self.assertEqual(missed.followup_state, "no_action")
        self.assertEqual(callback.state, "cancelled")
        self.assertFalse(callback.reached_at)
        self.assertFalse(self.activities_of(callback), "its activity is gone")
        self.assertFalse(self.done_messages(callback), "cancelled, not marked done")
        self.assertIn("No action needed", callback.message_ids[:1].body)
        self.assertIn("Pavel Operator", callback.message_ids[:1].body)
        self.assertFalse(self.patient.with_user(self.operator2).open_callback_ids)
        # Marking it again changes nothing; a later miss opens a new call-back.
        missed.with_user(self.operator2).write({"followup_state": "no_action"})
        self.receive(incoming_missed("E-CB-NOACT2", T0 + 3600))
        self.assertEqual(sorted(self.callbacks().mapped("state")), ["cancelled", "open"])

    def test_no_action_needed_on_the_cards_form_and_before_settling(self):
        """The card's closing form says the same; chosen before the summary arrived, no
        call-back is opened at all."""
        missed = self.receive(incoming_missed("E-CB-NOACT-CARD", T0))
        callback = self.callbacks()
        missed.sudo().card_audience = {str(self.operator1.id): "ended"}
        missed.with_user(self.operator1).action_card_followup("no_action", note="Wrong number")
        self.assertEqual(callback.state, "cancelled")
        self.assertFalse(self.activities_of(callback))
        self.assertFalse(self.done_messages(callback))
        events = incoming_missed("E-CB-NOACT-EARLY", T0 + 3600, caller=OTHER_NUMBER)
        early = self.receive(events[:-1])
        early.with_user(self.operator1).action_set_no_action()
        self.receive(events[-1:])
        self.assertTrue(early.is_final)
        self.assertFalse(self.callbacks(OTHER_NUMBER))

    def test_no_action_needed_taken_back_reopens_the_callback(self):
        """The operator changes their mind ("Needs callback" again): the call-back that
        "No action needed" cancelled is open again, past its deadline (overdue, its owner
        told), with its owner's activity; taking the word back once more changes nothing."""
        missed = self.receive(incoming_missed("E-CB-UNDO", T0))
        callback = self.callbacks()
        due = callback.due_at
        missed.with_user(self.operator2).action_set_no_action()
        self.assertEqual(callback.state, "cancelled")
        self.assertEqual(callback.cancelled_by_call_id, missed)
        missed.with_user(self.operator2).write({"followup_state": "needs_callback"})
        self.assertEqual(callback.state, "overdue", "due in March 2026: past its deadline")
        self.assertTrue(callback.breach_notified)
        self.assertEqual(callback.due_at, due)
        self.assertFalse(callback.cancelled_by_call_id)
        self.assertEqual(callback.activity_ids.user_id, self.operator1)
        self.assertIn("Open again", callback.message_ids[:1].body)
        self.assertIn("Pavel Operator", callback.message_ids[:1].body)
        self.assertEqual(self.patient.with_user(self.operator2).open_callback_ids, callback)
        # "No action needed" again cancels it again; "Resolved" then reopens it again.
        missed.with_user(self.operator2).action_set_no_action()
        self.assertEqual(callback.state, "cancelled")
        missed.with_user(self.operator2).write({"followup_state": "resolved"})
        self.assertEqual(callback.state, "overdue")
        self.assertEqual(len(self.activities_of(callback)), 1)

    def test_no_action_taken_back_reopens_nothing_settled_otherwise(self):
        """Not reopened: a call-back its owner cancelled himself, one whose caller got
        through since, one whose number has a newer call-back."""
        owners = self.receive(incoming_missed("E-CB-UNDO-OWN", T0))
        callback = self.callbacks()
        callback.with_user(self.operator1).action_cancel()
        owners.with_user(self.operator2).action_set_no_action()
        owners.with_user(self.operator2).write({"followup_state": "needs_callback"})
        self.assertEqual(callback.state, "cancelled", "cancelled by its owner, not the word")

        reached = self.receive(incoming_missed("E-CB-UNDO-R", T0 + 3600, caller=OTHER_NUMBER))
        first = self.callbacks(OTHER_NUMBER)
        reached.with_user(self.operator2).action_set_no_action()
        self.receive(incoming_answered("E-CB-UNDO-ANS", T0 + 7200, caller=OTHER_NUMBER))
        reached.with_user(self.operator2).write({"followup_state": "needs_callback"})
        self.assertEqual(first.state, "cancelled", "the caller got through since")

        newer = self.receive(incoming_missed("E-CB-UNDO-N", T0 + 3600, caller=THIRD_NUMBER))
        old = self.callbacks(THIRD_NUMBER)
        newer.with_user(self.operator2).action_set_no_action()
        self.receive(incoming_missed("E-CB-UNDO-N2", T0 + 7200, caller=THIRD_NUMBER))
        later = self.callbacks(THIRD_NUMBER) - old
        self.assertEqual(later.state, "open")
        newer.with_user(self.operator2).write({"followup_state": "needs_callback"})
        self.assertEqual(old.state, "cancelled", "the newer call-back stands for the caller")
        self.assertEqual(later.state, "open")

    def test_no_callback_needed_button_cancels_the_activity(self):
        """The call-back's own "No call-back needed" (its owner) cancels the activity too."""
        self.receive(incoming_missed("E-CB-CANCEL", T0))
        callback = self.callbacks()
        with self.assertRaises(AccessError):
            callback.with_user(self.operator2).action_cancel()
        callback.with_user(self.operator1).action_cancel()
        self.assertEqual(callback.state, "cancelled")
        self.assertFalse(self.activities_of(callback))
        self.assertFalse(self.done_messages(callback))
        self.assertIn("no call-back needed", callback.message_ids[:1].body)

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

    def test_escalation_steps_once_each_on_a_constructed_clock(self):
        """Step 1 at the breach (owner, telephony managers); step 2 once, N minutes later
        (the chosen group of this company, the chosen user). The clock is an argument."""
        boss = new_test_user(
            self.env,
            login="cb_boss",
            name="Bella Boss",
            groups="medpulse_clinic.group_clinic_manager",
        )
        company_b = self.env["res.company"].create({"name": "Escalation branch B"})
        boss_b = new_test_user(
            self.env,
            login="cb_boss_b",
            company_id=company_b.id,
            company_ids=[Command.set(company_b.ids)],
            groups="medpulse_clinic.group_clinic_manager",
        )
        chosen = receptionist_with_extension(self.env, "cb_chosen", extension="109")
        self.company.write(
            {
                "medpulse_callback_escalation_minutes": 60,
                "medpulse_callback_escalation_group_id": self.env.ref(
                    "medpulse_clinic.group_clinic_manager"
                ).id,
                "medpulse_callback_escalation_user_id": chosen.id,
            }
        )
        self.receive(incoming_missed("E-CB-ESC", T0))
        callback = self.callbacks()
        due = callback.due_at

        def run(minutes):
            self.env.cr.precommit.run()
            since = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id
            self.Callback._cron_mark_overdue(now=due + timedelta(minutes=minutes))
            return {
                partner: payload
                for partner, payload in self.notifications(since)
                if "+" + PATIENT_NUMBER in payload["message"]
            }

        self.assertFalse(run(-1), "not due yet")
        self.assertEqual(callback.state, "open")
        step1 = run(1)
        self.assertEqual(callback.state, "overdue")
        self.assertIn(self.operator1.partner_id.id, step1, "the owner")
        self.assertIn(self.manager.partner_id.id, step1, "a telephony manager")
        self.assertNotIn(boss.partner_id.id, step1, "the clinic managers come at step 2")
        self.assertNotIn(chosen.partner_id.id, step1)
        self.assertFalse(run(59), "step 1 once; step 2 not yet")
        self.assertFalse(callback.escalated_at)
        step2 = run(61)
        self.assertEqual(callback.escalated_at, due + timedelta(minutes=61))
        self.assertIn(boss.partner_id.id, step2, "the chosen group")
        self.assertIn(chosen.partner_id.id, step2, "the chosen user")
        self.assertNotIn(boss_b.partner_id.id, step2, "not another company's managers")
        self.assertNotIn(self.operator1.partner_id.id, step2, "the owner was told at step 1")
        self.assertEqual(step2[boss.partner_id.id]["title"], "Call-back escalated")
        self.assertIn("60 minutes", step2[boss.partner_id.id]["message"])
        self.assertNotIn("Ivanova", step2[boss.partner_id.id]["message"])
        self.assertFalse(run(180), "step 2 once")
        # No step 2 when it is off (0 minutes).
        self.company.medpulse_callback_escalation_minutes = 0
        self.receive(incoming_missed("E-CB-ESC2", T0, caller=OTHER_NUMBER))
        self.Callback._cron_mark_overdue(now=due + timedelta(days=1))
        self.assertFalse(self.callbacks(OTHER_NUMBER).escalated_at)

    # ---------------------------------------------------------------- the patient

    def test_patient_form_shows_the_open_callback(self):
        self.receive(incoming_missed("E-CB-PAT", T0))
        callback = self.callbacks()
        self.assertEqual(self.patient.with_user(self.operator2).open_callback_ids, callback)
        doctor = new_test_user(
            self.env, login="cb_pat_doctor", groups="medpulse_clinic.group_clinic_doctor"
        )
        self.assertNotIn(
            "open_callback_ids", self.env["medpulse.patient"].with_user(doctor).fields_get()
        )
        with self.assertRaises(AccessError):
            self.patient.with_user(doctor).read(["open_callback_ids"])
        # Reached: the call-back leaves the patient's form.
        self.receive(incoming_answered("E-CB-PAT2", T0 + 600))
        self.patient.invalidate_recordset()
        self.assertFalse(self.patient.with_user(self.operator2).open_callback_ids)

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

    def test_operator_switches_away_in_the_systray(self):
        operator = receptionist_with_extension(self.env, "cb_away_systray", extension="108")
        self.start_tour("/odoo", "medpulse_callback_away_systray_tour", login=operator.login)
        self.assertTrue(operator.medpulse_pbx_away)
        self.assertNotIn(
            operator, self.env["medpulse.call.callback"]._on_duty_operators(self.env.company)
        )


@tagged("post_install", "-at_install")
class TestCallbackTransferPanel(TelephonyFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()

    def test_transfer_panel_shows_who_is_away(self):
        self.operator3.sudo().medpulse_pbx_extension = "109"
        self.operator2.with_user(self.operator2).medpulse_pbx_away = True
        call = self.receive(_talking("E-CB-TRANSFER", "101"))
        now = fields.Datetime.now()
        call.sudo().write({"created_at": now, "answered_at": now})
        targets = self.env["medpulse.call"].with_user(self.operator1).get_transfer_targets()
        away = {target["name"]: target["away"] for target in targets["operators"]}
        self.assertEqual((away["Pavel Operator"], away["Mira Mobile"]), (True, False))
        self.start_tour("/odoo", "medpulse_callback_transfer_away_tour", login=self.operator1.login)


@tagged("post_install", "-at_install")
class TestCallbackClaims(ClickToCallCase):
    """ "Being called by …": an operator's click-to-call claims the number's call-back; a
    colleague is refused until that call ends (or never starts). The PBX is the double."""

    def setUp(self):
        super().setUp()
        self.receive(incoming_missed("E-CL-MISS", T0))
        self.callback = (
            self.env["medpulse.call.callback"].sudo().search([("e164", "=", "+" + PATIENT_NUMBER)])
        )
        self.assertEqual(len(self.callback), 1)

    def being_called_by(self, user):
        self.env.invalidate_all()
        return self.callback.with_user(user).being_called_by_id

    def test_a_colleague_sees_being_called_by_until_the_call_ends(self):
        answer = self.click(self.operator1, "+" + PATIENT_NUMBER, self.callback)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(self.being_called_by(self.operator2), self.operator1)
        self.assertEqual(self.callback.claim_command_id, self.command(answer))
        # The colleague: refused from the call-back, and from the patient (or the journal).
        warning = self.callback.with_user(self.operator2).action_call_back()
        self.assertEqual(warning["tag"], "display_notification", "no click-to-call")
        self.assertIn("Olga Operator is calling", warning["params"]["message"])
        self.assertEqual(
            self.callback.with_user(self.operator1).action_call_back()["tag"],
            "medpulse_telephony.click_to_call",
            "the caller herself may call again",
        )
        refused = self.click(self.operator2, PATIENT_NUMBER, self.patient)
        self.assertFalse(refused["ok"])
        self.assertIn("Olga Operator is calling", refused["message"])
        self.assertEqual(len(self.stub.calls("commands/callback")), 1, "one call to the PBX")
        # The call starts: it holds the claim past the start timeout, while it lasts.
        now = ts(fields.Datetime.now())
        events = callback_events("E-CL-OUT", answer["command_id"], now, answered=False)
        self.deliver(events[:3])
        self.callback.claim_expires_at = fields.Datetime.now() - timedelta(minutes=1)
        self.assertEqual(self.being_called_by(self.operator2), self.operator1, "the call is on")
        # It ends unanswered: an attempt, the claim is gone, the colleague may call.
        self.deliver(
            events[3:]
            + [
                summary(
                    "E-CL-OUT", 2, OP1, {"number": PATIENT_NUMBER}, now, now, 0, now + 33, 0, 1111
                )
            ]
        )
        self.assertEqual(self.callback.attempt_count, 1)
        self.assertEqual(self.callback.state, "open")
        self.assertFalse(self.callback.claimed_by_id)
        self.assertFalse(self.being_called_by(self.operator2))
        self.assertTrue(self.click(self.operator2, PATIENT_NUMBER, self.patient)["ok"])
        self.assertEqual(self.being_called_by(self.operator1), self.operator2)

    def test_a_claim_without_a_call_expires_and_a_refused_command_holds_none(self):
        self.assertTrue(self.click(self.operator1, PATIENT_NUMBER, self.patient)["ok"])
        self.assertEqual(self.being_called_by(self.operator2), self.operator1)
        later = fields.Datetime.now() + timedelta(minutes=CLAIM_START_MINUTES, seconds=1)
        self.assertFalse(self.callback._live_claim(later), "no call started in time")
        self.callback.claim_expires_at = fields.Datetime.now() - timedelta(seconds=1)
        self.env.flush_all()
        self.assertTrue(self.click(self.operator2, PATIENT_NUMBER, self.patient)["ok"])
        self.assertEqual(self.being_called_by(self.operator1), self.operator2)
        # The PBX cannot be reached: no claim, no attempt.
        self.callback._release_claim()
        self.company.sudo().medpulse_pbx_api_url = "http://127.0.0.1:9/vpbx/"
        self.env.flush_all()
        failed = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.assertFalse(failed["ok"])
        self.assertIn("Could not reach the PBX", failed["message"])
        self.assertFalse(self.callback.claimed_by_id)
        self.assertFalse(self.being_called_by(self.operator2))
        self.assertEqual(self.callback.attempt_count, 0)

    def test_being_called_by_in_the_list_and_the_form(self):
        self.callback.write(
            {
                "claimed_by_id": self.operator1.id,
                "claim_expires_at": fields.Datetime.now() + timedelta(minutes=10),
            }
        )
        self.env.flush_all()
        self.start_tour(
            "/odoo/action-medpulse_telephony.medpulse_call_callback_action",
            "medpulse_callback_being_called_tour",
            login=self.operator2.login,
        )
        self.assertFalse(self.stub.requests, "nothing was dialled")


@tagged("post_install", "-at_install")
class TestCallbackClaimRace(TransactionCase):
    """Two operators click "Call back" on one number at the same moment: two real
    transactions on their own cursors, both with their snapshot taken before either
    claims. The rows are committed, so the test removes them."""

    def setUp(self):
        super().setUp()
        self.number = f"+7916{uuid.uuid4().int % 10**7:07d}"
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {"tracking_disable": True})
            env["medpulse.call.callback"].create(
                {
                    "company_id": env.ref("base.main_company").id,
                    "e164": self.number,
                    "due_at": fields.Datetime.now(),
                }
            )
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            env["medpulse.call.callback"].search([("e164", "=", self.number)]).unlink()

    def _operator(self, xmlid):
        cr = self.registry.cursor()
        self.addCleanup(cr.close)
        uid = api.Environment(cr, api.SUPERUSER_ID, {}).ref(xmlid).id
        cr.execute("SELECT 1")  # the transaction's snapshot is taken here
        return api.Environment(cr, uid, {})

    def test_two_operators_at_once_one_call(self):
        first, second = self._operator("base.user_admin"), self._operator("base.user_root")
        company = first.ref("base.main_company")
        claimed, refusal = first["medpulse.call.callback"]._claim_in_transaction(
            company, self.number
        )
        self.assertTrue(claimed)
        self.assertFalse(refusal)
        first.cr.commit()
        Second = second["medpulse.call.callback"]
        with mute_logger("odoo.sql_db"), self.assertRaises(pg_errors.SerializationFailure):
            Second._claim_in_transaction(company.with_env(second), self.number)
        second.cr.rollback()
        claimed, refusal = Second._claim_in_transaction(company.with_env(second), self.number)
        self.assertFalse(claimed, "the second sees the first's claim")
        self.assertIn(first.user.name, refusal)
        self.assertIn(self.number, refusal)
        second.cr.rollback()
        # Through the entry point, which commits on its own cursor: still the first's.
        claimed, refusal = Second._claim_for_click_to_call(company.with_env(second), self.number)
        self.assertFalse(claimed)
        self.assertIn(first.user.name, refusal)
        claimed, refusal = first["medpulse.call.callback"]._claim_for_click_to_call(
            company, self.number
        )
        self.assertTrue(claimed, "the claimer may call again")
