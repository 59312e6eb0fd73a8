"""The lost-patient ledger: its figures on a constructed week, the days it leaves out, who
reads it, the morning summary, and a manager opening it in a browser.

The clinic works in Ufa (Asia/Yekaterinburg, UTC+5, no summer time), Monday to Friday
09:00-18:00, with a call-back due 30 working minutes after the first miss; the server runs
in UTC. The week of 2026-03-02 (a Monday):

========  ===================  =======================================================
number    missed (Ufa time)    what followed
========  ===================  =======================================================
A         Mon 14:00            called back, answered, Mon 14:10: in time (1 attempt)
B         Mon 15:00            not answered 15:20, answered 17:00: late (2 attempts)
C         Mon 16:00, Tue 01:30 never reached; 01:30 on Tuesday is Monday 20:30 in UTC
D         Mon 10:00            booked an appointment at 10:15: in time, booked
E         Mon 11:00            2 s in the voice menu: not counted (opens no call-back)
F         Wed 10:00            Wednesday is not reconciled yet: not counted, reported
========  ===================  =======================================================
"""

from datetime import date, datetime, timezone

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from .common import PATIENT_NUMBER, TelephonyFixtures, dumps, incoming_missed, outgoing, role_users
from .test_access_matrix import ROLES
from .test_callback import ivr_abandon

A = PATIENT_NUMBER
B = "79167770011"
C = "79167770022"
D = "79167770033"
E = "79167770044"
F = "79167770055"
UFA = "Asia/Yekaterinburg"


def ts(*args):
    """A UTC moment as the PBX's epoch seconds."""
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


class LedgerWeek(TelephonyFixtures):
    """The constructed week of the module's docstring, through the webhook's processing."""

    @classmethod
    def setup_week(cls):
        cls.setup_telephony()
        cls.calendar = cls.env["resource.calendar"].create(
            {
                "name": "Clinic hours in Ufa (ledger test)",
                "tz": UFA,
                "attendance_ids": [
                    Command.create(
                        {"name": f"Day {day}", "dayofweek": str(day), "hour_from": 9, "hour_to": 18}
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
                # Monday and Tuesday are reconciled (up to Wednesday 00:00 in Ufa).
                "medpulse_pbx_reconciled_until": datetime(2026, 3, 3, 19, 0),
            }
        )
        cls.patient_d = cls.env["medpulse.patient"].sudo().create(
            {"last_name": "Dmitrieva", "first_name": "Daria",
             "phone_ids": [Command.create({"number": "+" + D})]}
        )
        cls.receive_all(
            incoming_missed("L-A-MISS", ts(2026, 3, 2, 9, 0), caller=A),
            outgoing("L-A-BACK", ts(2026, 3, 2, 9, 10), callee=A),
            incoming_missed("L-B-MISS", ts(2026, 3, 2, 10, 0), caller=B),
            outgoing("L-B-TRY", ts(2026, 3, 2, 10, 20), callee=B, answered=False),
            outgoing("L-B-BACK", ts(2026, 3, 2, 12, 0), callee=B),
            incoming_missed("L-C-MISS1", ts(2026, 3, 2, 11, 0), caller=C),
            incoming_missed("L-C-MISS2", ts(2026, 3, 2, 20, 30), caller=C),
            incoming_missed("L-D-MISS", ts(2026, 3, 2, 5, 0), caller=D),
            ivr_abandon("L-E-ABANDON", ts(2026, 3, 2, 6, 0), caller=E),
            incoming_missed("L-F-MISS", ts(2026, 3, 4, 5, 0), caller=F),
        )
        specialty = cls.env["medpulse.specialty"].create({"name": "Ledger therapy"})
        service = cls.env["medpulse.service"].create(
            {"name": "Ledger consultation", "code": "LDG", "duration": 30,
             "specialty_id": specialty.id}
        )
        doctor = cls.env["medpulse.doctor"].create(
            {"name": "Doctor Ledger", "specialty_id": specialty.id,
             "service_ids": [Command.set(service.ids)]}
        )
        # The booking reaches D at 10:15 in Ufa: a quarter of an hour after the miss.
        with freeze_time("2026-03-02 05:15:00"):
            cls.env["medpulse.appointment"].with_user(cls.operator1).create(
                {"patient_id": cls.patient_d.id, "doctor_id": doctor.id,
                 "service_id": service.id, "start": "2026-03-10 05:00:00"}
            )
        cls.env.flush_all()

    @classmethod
    def receive_all(cls, *calls):
        Event = cls.env["medpulse.call.event"].sudo()
        for events in calls:
            for path, payload in events:
                Event._receive(cls.company, path, dumps(payload))

    def rows(self, period="day", user=None, **domain):
        Ledger = self.env["medpulse.call.ledger"]
        if user:
            Ledger = Ledger.with_user(user)
        self.env.flush_all()
        return Ledger.search(
            [("company_id", "=", self.company.id), ("period", "=", period),
             *[(name, "=", value) for name, value in domain.items()]]
        )


@tagged("post_install", "-at_install")
class TestCallLedger(LedgerWeek, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.setup_week()

    def by_number(self, rows):
        return {
            row.e164: {
                "outcome": row.outcome,
                "misses": row.miss_count,
                "attempts": row.attempt_count,
                "booked": row.booked,
            }
            for row in rows.filtered("reconciled")
        }

    def test_monday_figures(self):
        rows = self.rows(date="2026-03-02")
        self.assertEqual(
            self.by_number(rows),
            {
                "+" + A: {"outcome": "in_time", "misses": 1, "attempts": 1, "booked": False},
                "+" + B: {"outcome": "late", "misses": 1, "attempts": 2, "booked": False},
                "+" + C: {"outcome": "never", "misses": 1, "attempts": 0, "booked": False},
                "+" + D: {"outcome": "in_time", "misses": 1, "attempts": 0, "booked": True},
            },
        )
        row_b = rows.filtered(lambda row: row.e164 == "+" + B)
        self.assertEqual(row_b.due_at, datetime(2026, 3, 2, 10, 30), "15:30 in Ufa")
        self.assertEqual(row_b.reached_at, datetime(2026, 3, 2, 12, 0))
        self.assertEqual(row_b.wait_seconds, 24)
        self.assertEqual(rows.filtered(lambda row: row.e164 == "+" + D).patient_id, self.patient_d)
        self.assertFalse(rows.filtered(lambda row: row.e164 == "+" + E), "a 2 s abandon")

    def test_totals_and_shares_in_the_pivot(self):
        [totals] = self.env["medpulse.call.ledger"].read_group(
            [("company_id", "=", self.company.id), ("period", "=", "day"),
             ("date", "=", "2026-03-02")],
            ["caller_count", "miss_count", "in_time_count", "late_count", "never_count",
             "booked_count", "in_time_rate", "late_rate", "never_rate"],
            [],
        )
        self.assertEqual(
            {name: totals[name] for name in ("caller_count", "miss_count", "in_time_count",
                                             "late_count", "never_count", "booked_count")},
            {"caller_count": 4, "miss_count": 4, "in_time_count": 2, "late_count": 1,
             "never_count": 1, "booked_count": 1},
        )
        self.assertEqual(
            (totals["in_time_rate"], totals["late_rate"], totals["never_rate"]),
            (50.0, 25.0, 25.0),
        )

    def test_day_boundary_in_the_clinics_time_zone(self):
        """Monday 20:30 in UTC is Tuesday 01:30 in Ufa: C is a caller of Tuesday too."""
        tuesday = self.rows(date="2026-03-03")
        self.assertEqual(
            self.by_number(tuesday),
            {"+" + C: {"outcome": "never", "misses": 1, "attempts": 0, "booked": False}},
        )
        self.assertTrue(all(tuesday.mapped("reconciled")))

    def test_week_counts_a_caller_once(self):
        week = self.rows(period="week", date="2026-03-02")
        figures = self.by_number(week)
        self.assertEqual(len(figures), 4)
        self.assertEqual(figures["+" + C], {"outcome": "never", "misses": 2, "attempts": 0,
                                            "booked": False})
        [totals] = self.env["medpulse.call.ledger"].read_group(
            [("company_id", "=", self.company.id), ("period", "=", "week"),
             ("date", "=", "2026-03-02")],
            ["caller_count", "miss_count"], [],
        )
        self.assertEqual((totals["caller_count"], totals["miss_count"]), (4, 5))

    def test_unreconciled_day_is_left_out_and_reported(self):
        wednesday = self.rows(date="2026-03-04")
        self.assertEqual(len(wednesday), 1, "no caller, one row that says so")
        self.assertFalse(wednesday.reconciled)
        self.assertEqual(wednesday.pending_miss_count, 1)
        self.assertEqual(wednesday.caller_count, 0)
        self.assertIn("not reconciled yet", wednesday.display_name)
        week = self.rows(period="week", date="2026-03-02")
        self.assertEqual(week.filtered(lambda row: not row.reconciled).unreconciled_day.isoformat(),
                         "2026-03-04")
        self.assertNotIn("+" + F, week.mapped("e164"))

    def test_runs_covering_a_day_reconcile_it(self):
        """Without the company's mark, finished runs that cover a day without a gap count."""
        self.company.medpulse_pbx_reconciled_until = False
        self.assertFalse(self.rows(date="2026-03-02").filtered("reconciled"))
        Run = self.env["medpulse.call.reconcile"].sudo()
        base = {"company_id": self.company.id, "state": "done"}
        # Monday in Ufa is 2026-03-01 19:00 to 2026-03-02 19:00 in UTC.
        Run.create(dict(base, date_from=datetime(2026, 3, 1, 18, 0),
                        date_to=datetime(2026, 3, 2, 12, 0)))
        Run.create(dict(base, date_from=datetime(2026, 3, 2, 11, 0),
                        date_to=datetime(2026, 3, 3, 2, 0)))
        # A failed run covering Tuesday counts for nothing.
        Run.create(dict(base, state="failed", date_from=datetime(2026, 3, 3, 2, 0),
                        date_to=datetime(2026, 3, 4, 2, 0)))
        self.assertEqual(len(self.rows(date="2026-03-02").filtered("reconciled")), 4)
        self.assertFalse(self.rows(date="2026-03-03").filtered("reconciled"))

    def test_closing_a_callback_moves_the_caller(self):
        """Reaching C today makes Monday's C late, not never, at once (a view, no refresh)."""
        self.receive_all(outgoing("L-C-BACK", ts(2026, 3, 5, 6, 0), callee=C))
        rows = self.rows(date="2026-03-02")
        self.assertEqual(rows.filtered(lambda row: row.e164 == "+" + C).outcome, "late")
        self.assertEqual(rows.filtered(lambda row: row.e164 == "+" + C).attempt_count, 1)

    def test_no_action_needed_settles_the_caller(self):
        """An operator marks C's first miss "No action needed" (a wrong number): C's
        call-back is cancelled, with its activity (not done), and C is no longer lost: "no
        call-back needed" on Monday, on Tuesday (the other miss of the same call-back) and
        in the week, out of the shares, which are then over A, B and D."""
        Callback = self.env["medpulse.call.callback"].sudo()
        callback = Callback.search([("e164", "=", "+" + C)])
        self.assertEqual((callback.state, callback.miss_count), ("open", 2))
        missed = self.env["medpulse.call"].sudo().search([("entry_id", "=", "L-C-MISS1")])
        missed.with_user(self.operator1).action_set_no_action()
        self.assertEqual(callback.state, "cancelled")
        self.assertFalse(callback.activity_ids)
        kind = self.env.ref("medpulse_telephony.mail_activity_type_call_back")
        self.assertFalse(
            callback.message_ids.filtered(lambda message: message.mail_activity_type_id == kind),
            "the activity is cancelled, not marked done",
        )
        for period, day in (("day", "2026-03-02"), ("day", "2026-03-03"), ("week", "2026-03-02")):
            row = self.rows(period=period, date=day).filtered(lambda row: row.e164 == "+" + C)
            self.assertEqual(row.outcome, "not_needed", f"{period} {day}")
            self.assertFalse(row.never_count)
            self.assertFalse(row.in_time_rate or row.late_rate or row.never_rate)
        [totals] = self.env["medpulse.call.ledger"].read_group(
            [("company_id", "=", self.company.id), ("period", "=", "day"),
             ("date", "=", "2026-03-02")],
            ["caller_count", "in_time_count", "late_count", "never_count", "in_time_rate"],
            [],
        )
        self.assertEqual(
            (totals["caller_count"], totals["in_time_count"], totals["late_count"],
             totals["never_count"]),
            (4, 2, 1, 0),
        )
        self.assertAlmostEqual(totals["in_time_rate"], 200 / 3)
        totals = self.env["medpulse.call.ledger"]._totals(self.company, date(2026, 3, 2))
        self.assertEqual(
            (totals["not_needed"], totals["never"], totals["in_time_share"]), (1, 0, 67)
        )

    # ------------------------------------------------------------- the summary

    def test_morning_summary(self):
        telephony_manager = new_test_user(
            self.env, login="ldg_tel_mgr", groups="medpulse_telephony.group_telephony_manager"
        )
        clinic_manager = new_test_user(
            self.env, login="ldg_clinic_mgr", groups="medpulse_clinic.group_clinic_manager"
        )
        receptionist = self.operator1
        kind = self.env.ref("medpulse_telephony.mail_activity_type_ledger_summary")

        def summaries(user):
            return self.env["mail.activity"].sudo().search(
                [("activity_type_id", "=", kind.id), ("user_id", "=", user.id)]
            )

        Ledger = self.env["medpulse.call.ledger"]
        # Tuesday 08:00 in Ufa: yesterday is Monday.
        with freeze_time("2026-03-03 03:00:00"):
            Ledger._cron_morning_summary()
            Ledger._cron_morning_summary()  # a second run the same day changes nothing
        for manager in (telephony_manager, clinic_manager):
            activity = summaries(manager)
            self.assertEqual(len(activity), 1, manager.login)
            self.assertEqual(activity.date_deadline.isoformat(), "2026-03-03")
            self.assertIn("03/02/2026", activity.summary)
            note = str(activity.note)
            self.assertIn("4 callers did not get through (4 missed calls)", note)
            self.assertIn("Reached in time: 2 (50 %)", note)
            self.assertIn("reached late: 1 (25 %)", note)
            self.assertIn("never reached: 1 (25 %)", note)
            self.assertIn("Booked: 1", note)
            self.assertIn("/odoo/action-", note)
            self.assertEqual(activity.res_model, "res.partner")
            self.assertEqual(activity.res_id, self.company.partner_id.id)
        self.assertFalse(summaries(receptionist), "receptionists get none")
        # Thursday: yesterday (Wednesday) is not reconciled; the open summary is replaced.
        with freeze_time("2026-03-05 03:00:00"):
            Ledger._cron_morning_summary()
        activity = summaries(clinic_manager)
        self.assertEqual(len(activity), 1)
        self.assertIn("03/04/2026", activity.summary)
        self.assertIn("Not reconciled with the PBX yet: 1 missed calls are not counted", str(
            activity.note))


#: The README's rows for the ledger: role -> what it may do.
LEDGER_ACTIONS = ("read_ledger", "ledger_patient_names", "morning_summary")
LEDGER_MATRIX = {
    "operator": set(),
    "receptionist": set(),
    "doctor": set(),
    "telephony_manager": {"read_ledger", "morning_summary"},
    "clinic_manager": set(LEDGER_ACTIONS),
    "administrator": set(LEDGER_ACTIONS),
    "portal": set(),
    "public": set(),
}


@tagged("post_install", "-at_install")
class TestCallLedgerAccess(LedgerWeek, TransactionCase):
    """One test per cell of the ledger's rows of the README's access matrix, and a user of
    another company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.setup_week()
        cls.users = role_users(cls.env, "ldg")
        with freeze_time("2026-03-03 03:00:00"):
            cls.env["medpulse.call.ledger"]._cron_morning_summary()

    def check_read_ledger(self, user):
        try:
            rows = self.rows(user=user, date="2026-03-02")
        except AccessError:
            return False
        return len(rows.filtered("reconciled")) == 4

    def check_ledger_patient_names(self, user):
        try:
            rows = self.rows(user=user, date="2026-03-02")
            values = rows.read(["patient_id"])
        except AccessError:
            return False
        names = [value["patient_id"][1] for value in values if value.get("patient_id")]
        return any("Dmitrieva" in name for name in names)

    def check_morning_summary(self, user):
        kind = self.env.ref("medpulse_telephony.mail_activity_type_ledger_summary")
        return bool(
            self.env["mail.activity"].sudo().search_count(
                [("activity_type_id", "=", kind.id), ("user_id", "=", user.id)]
            )
        )

    def test_another_company_reads_nothing(self):
        other = self.env["res.company"].create({"name": "Ledger branch B"})
        user = new_test_user(
            self.env, login="ldg_other", company_id=other.id, company_ids=[Command.set(other.ids)],
            groups="medpulse_telephony.group_telephony_manager,medpulse_clinic.group_clinic_manager",
        )
        self.env.flush_all()
        self.assertFalse(self.env["medpulse.call.ledger"].with_user(user).search([]))
        rows = self.rows(date="2026-03-02")
        with self.assertRaises(AccessError):
            rows.with_user(user).read(["e164"])


def _cell(role, action):
    def test(self):
        allowed = action in LEDGER_MATRIX[role]
        self.assertEqual(getattr(self, f"check_{action}")(self.users[role]), allowed,
                         f"{role} / {action}")

    test.__name__ = f"test_{role}__{action}"
    test.__doc__ = f"{role}: {action} {'allowed' if action in LEDGER_MATRIX[role] else 'refused'}"
    return test


for _role in ROLES:
    for _action in LEDGER_ACTIONS:
        setattr(TestCallLedgerAccess, f"test_{_role}__{_action}", _cell(_role, _action))


@tagged("post_install", "-at_install")
class TestCallLedgerTour(LedgerWeek, HttpCase):
    """Telephony ▸ Reporting ▸ Lost-patient ledger, opened from the menu by both managers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_week()

    def test_telephony_manager_opens_the_ledger(self):
        user = new_test_user(
            self.env, login="ldg_tour_tel", groups="medpulse_telephony.group_telephony_manager",
            tz=UFA,
        )
        self.start_tour("/odoo/action-medpulse_telephony.medpulse_call_action",
                        "medpulse_call_ledger_tour", login=user.login)

    def test_clinic_manager_opens_the_ledger(self):
        user = new_test_user(
            self.env, login="ldg_tour_clinic", groups="medpulse_clinic.group_clinic_manager",
            tz=UFA,
        )
        self.start_tour("/odoo/action-medpulse_telephony.medpulse_call_action",
                        "medpulse_call_ledger_tour", login=user.login)
