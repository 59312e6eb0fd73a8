"""The managers' reports read the tallies (``medpulse.call.tally``): their numbers are the
journal's, on a constructed month with refolds, reconciled calls, an appointment booked and
one cancelled, and calls on both sides of midnight in Ufa while the server runs in UTC.
Per day, per hour of day and per month (what the reports over everything read), and the
reports that need no day finer than a month are answered from the months."""

from collections import Counter
from datetime import datetime

import pytz

from odoo.tests import TransactionCase, new_test_user, tagged

import mango_vpbx

from ..models.medpulse_call_stats import STATS_FIELDS
from .common import (
    LINE,
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    csv_rows,
    incoming_answered,
    incoming_missed,
    outgoing,
)

UFA = pytz.timezone("Asia/Yekaterinburg")
DAY = 86400
OTHER = "79035550000"
COUNTED = ["&", ("call_id.result", "in", ("answered", "missed")),
           "|", "|", ("call_id.is_final", "=", True), ("call_id.recovered_from_stats", "=", True),
           ("call_id.completed_from_stats", "=", True)]
RATES = ["missed_rate:avg", "wait_seconds:avg", "talk_seconds:avg", "returned_rate:avg",
         "return_minutes:avg", "conversion_rate:avg", "appointment_count:sum",
         "missed_count:sum", "returned_count:sum", "talk_seconds_total:sum"]


def _stats_row(entry_id, start, finish, answer, from_number, to_ext):
    return {"entry_id": entry_id, "records": "", "start": start, "finish": finish,
            "answer": answer, "from_extension": "", "from_number": from_number,
            "to_extension": to_ext, "to_number": "", "disconnect_reason": 1110,
            "line_number": LINE, "location": "abonent", "create": start}


@tagged("post_install", "-at_install")
class TestCallTally(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        # The clinic is in Ufa (its working calendar), the server in UTC.
        cls.company.resource_calendar_id.sudo().tz = "Asia/Yekaterinburg"
        cls.Call = cls.env["medpulse.call"].sudo()
        cls.Tally = cls.env["medpulse.call.tally"].with_user(cls.manager)
        cls.Hours = cls.env["medpulse.call.tally.hour"].with_user(cls.manager)
        cls.Months = cls.env["medpulse.call.tally.month"].with_user(cls.manager)
        cls.HourMonths = cls.env["medpulse.call.tally.hour.month"].with_user(cls.manager)
        # The calls of the database's demo data are not this test's.
        cls.env.cr.execute("DELETE FROM medpulse_call_tally; DELETE FROM medpulse_call_tally_hour;"
                           " DELETE FROM medpulse_call_tally_month;"
                           " DELETE FROM medpulse_call_tally_hour_month")
        cls.others = cls.Call.search([])
        for day in range(0, 30, 3):
            t0 = T0 + day * DAY
            cls.receive(cls, incoming_answered(f"T-A{day}", t0=t0))
            cls.receive(cls, incoming_missed(f"T-M{day}", t0=t0 + 600, caller=OTHER))
            if day % 2 == 0:
                # called back half an hour later: the missed call is returned
                cls.receive(cls, outgoing(f"T-CB{day}", t0=t0 + 2400, callee=OTHER))
        # Midnight in Ufa is 19:00 UTC: one day in UTC, two days for the clinic.
        cls.before_midnight = cls.receive(cls, incoming_answered("T-B1", t0=T0 + 5 * DAY + 35880))
        cls.after_midnight = cls.receive(
            cls, incoming_missed("T-B2", t0=T0 + 5 * DAY + 36060, caller=OTHER)
        )

    def journal(self):
        return self.Call.search([("id", "not in", self.others.ids)])

    def expected(self, keys):
        """The journal's counted calls (settled, in their final state) counted by ``keys``
        (a function of a call)."""
        settled = self.journal().filtered(self.env["medpulse.call.tally"]._counts)
        return Counter(keys(call) for call in settled)

    @staticmethod
    def local(call):
        return pytz.utc.localize(call.created_at).astimezone(UFA)

    def tallied(self, model, fields):
        groups = model.read_group([], ["call_count:sum"], fields, lazy=False)
        result = Counter()
        for group in groups:
            key = tuple(
                group[name][0] if isinstance(group[name], tuple) else group[name]
                for name in fields
            )
            result[key] = group["call_count"]
            self.assertEqual(group["__count"], group["call_count"], "counts are calls")
        return +result

    def assert_as_journal(self):
        self.env.flush_all()
        by_operator = self.expected(lambda c: (
            self.local(c).strftime("%d %b %Y"), c.operator_user_id.id, c.line_id.id,
            c.call_type,
        ))
        self.assertEqual(
            self.tallied(self.Tally, ["day:day", "operator_user_id", "line_id", "call_type"]),
            by_operator,
        )
        by_hour = self.expected(lambda c: (
            self.local(c).strftime("%d %b %Y"), self.local(c).strftime("%H"), c.call_type,
        ))
        self.assertEqual(
            self.tallied(self.Hours, ["day:day", "hour_of_day", "call_type"]), by_hour,
        )
        by_month = self.expected(lambda c: (
            self.local(c).strftime("%B %Y"), c.operator_user_id.id, c.line_id.id, c.call_type,
        ))
        self.assertEqual(
            self.tallied(self.Months, ["day:month", "operator_user_id", "line_id", "call_type"]),
            by_month,
        )
        by_hour_month = self.expected(lambda c: (
            self.local(c).strftime("%B %Y"), self.local(c).strftime("%H"), c.call_type,
        ))
        self.assertEqual(
            self.tallied(self.HourMonths, ["day:month", "hour_of_day", "call_type"]),
            by_hour_month,
        )
        # What the reports over everything ask (by operator, line, type, hour): from the
        # months, the numbers the days give.
        for model, fields in (
            (self.Tally, ["operator_user_id"]), (self.Tally, ["line_id"]),
            (self.Tally, ["call_type"]), (self.Tally, ["day:year"]),
            (self.Tally, ["operator_user_id", "day:month"]), (self.Hours, ["hour_of_day"]),
            (self.Hours, ["hour_of_day", "call_type"]),
        ):
            by_day = model.with_context(medpulse_tally_by_day=True)
            self.assertTrue(model._month_answers([], fields, ["__count"]))
            self.assertFalse(by_day._month_answers([], fields, ["__count"]))
            self.assertEqual(self.tallied(model, fields), self.tallied(by_day, fields))
            specs = ["__count", *RATES]
            self.assertEqual(model.read_group([], specs, fields, lazy=False),
                             by_day.read_group([], specs, fields, lazy=False))
        # ... and what needs days does not.
        for domain, fields in (([], ["day:day"]), ([], ["weekday"]), ([], ["day:week"]),
                               ([("day", ">=", "2026-03-07")], ["operator_user_id"])):
            self.assertFalse(self.Tally._month_answers(domain, fields, ["__count"]))
        # The rates and averages the per-call analysis (the reports' former source) gives.
        Report = self.env["medpulse.call.report"].with_user(self.manager)
        [report] = Report.read_group(
            [("call_id", "in", self.journal().ids), *COUNTED], RATES, [],
        )
        for model in (self.Tally, self.Hours, self.Months, self.HourMonths):
            [tally] = model.read_group([], RATES, [])
            for spec in RATES:
                name = spec.split(":")[0]
                self.assertAlmostEqual(tally[name] or 0, report[name] or 0, places=6,
                                       msg=f"{model._name}: {name}")
        return by_operator

    def test_month_as_the_journal_says(self):
        by_operator = self.assert_as_journal()
        days = {day for day, *_rest in by_operator}
        self.assertIn("07 Mar 2026", days, "14:00 in Ufa on day 5")
        self.assertIn("08 Mar 2026", days, "00:01 in Ufa: the next day")
        self.assertEqual(self.local(self.before_midnight).day, 7)
        self.assertEqual(self.local(self.after_midnight).day, 8)

        # An appointment booked during a call, another booked then cancelled.
        doctor = self.env["medpulse.doctor"].create({"name": "Dr House"})
        service = self.env["medpulse.service"].create(
            {"name": "Consultation", "currency_id": self.company.currency_id.id}
        )
        booked = self.Call.search([("entry_id", "=", "T-A3")])
        cancelled = self.Call.search([("entry_id", "=", "T-A6")])
        Appointment = self.env["medpulse.appointment"]
        Appointment.create({"patient_id": self.patient.id, "doctor_id": doctor.id,
                            "service_id": service.id, "start": datetime(2026, 4, 1, 10),
                            "call_id": booked.id})
        second = Appointment.create({"patient_id": self.patient.id, "doctor_id": doctor.id,
                                     "service_id": service.id, "start": datetime(2026, 4, 2, 10),
                                     "call_id": cancelled.id})
        second.state = "cancelled"
        [totals] = self.Tally.read_group([], ["appointment_count:sum"], [])
        self.assertEqual(totals["appointment_count"], 1)
        self.assert_as_journal()

        # A refold: the call was folded differently by an older fold (stored through the
        # ORM as the fold stores it), the new fold corrects it and its day with it.
        refolded = self.Call.search([("entry_id", "=", "T-A9")])
        refolded.write({"call_type": "missed_incoming", "result": "missed",
                        "operator_user_id": False, "talk_seconds": 0})
        self.assert_as_journal()
        self.Call._recompute(self.company, "T-A9")
        self.assertEqual(refolded.call_type, "incoming")
        self.assert_as_journal()

        # Reconciliation: a call only the statistics know, and one whose end was lost.
        self.receive(incoming_answered("T-PART", t0=T0 + 12 * DAY + 4000)[:1])
        self.assertEqual(self.Call.search([("entry_id", "=", "T-PART")]).result, "in_progress")
        self.assert_as_journal()
        rows = [
            _stats_row("T-LOST", T0 + 12 * DAY + 3000, T0 + 12 * DAY + 3030, 0, OTHER, "101"),
            _stats_row("T-PART", T0 + 12 * DAY + 4000, T0 + 12 * DAY + 4100,
                       T0 + 12 * DAY + 4010, PATIENT_NUMBER, "101"),
        ]
        parsed = mango_vpbx.stats.parse_csv(
            csv_rows(rows, ",".join(STATS_FIELDS)), STATS_FIELDS,
            self.company._medpulse_pbx_time_base(),
        )
        Reconcile = self.env["medpulse.call.reconcile"].sudo()
        counts = Reconcile._apply_rows(self.company, parsed)
        self.assertEqual((counts["created_count"], counts["completed_count"]), (1, 1))
        by_operator = self.assert_as_journal()
        self.assertEqual(sum(by_operator.values()), len(self.journal()))

        # The hourly merge: one row per key, the same numbers.
        self.Tally._cron_compact()
        self.assert_as_journal()
        for model in (self.Tally, self.Hours, self.Months, self.HourMonths):
            keys = [name for name in ("company_id", "day", "weekday", "operator_user_id",
                                      "hour_of_day", "line_id", "direction", "call_type")
                    if name in model._fields]
            rows = model.sudo().search_read([], keys)
            self.assertEqual(len({tuple(str(row[k]) for k in keys) for row in rows}), len(rows))
            self.assertTrue(all(model.sudo().search([]).mapped("compacted")))

        # A day rebuilt from the calls is the same; a ledger out of step is put right.
        self.env.cr.execute("DELETE FROM medpulse_call_tally WHERE day = '2026-03-08'")
        self.env.cr.execute("UPDATE medpulse_call_tally_hour SET call_count = call_count + 5")
        self.env.cr.execute("UPDATE medpulse_call_tally_month SET call_count = call_count + 5")
        self.env.cr.execute("UPDATE medpulse_call_tally_hour_month SET call_count = call_count + 5")
        self.Tally.sudo()._rebuild(self.company, [datetime(2026, 3, 8).date()])
        with self.assertRaises(AssertionError):
            self.assert_as_journal()
        self.Tally.sudo()._rebuild(self.company)
        self.assert_as_journal()
        self.Tally.sudo()._rebuild(self.company)
        self.assert_as_journal()

        # A deleted call leaves the reports.
        self.after_midnight.unlink()
        self.assert_as_journal()

    def test_calls_changed_together_enter_at_the_end_as_one_by_one(self):
        """The folder's transaction of several calls (``_added_at_end``): what the calls
        that change in it count for enters the tallies at its end, one statement for
        them all; a call changed twice, one deleted, one changed in a savepoint rolled
        back come out as the journal says."""
        Tally = self.env["medpulse.call.tally"]
        added = []
        original = type(Tally)._add

        def counting(model, call_ids, sign=1):
            added.append((sorted(call_ids), sign))
            return original(model, call_ids, sign)

        self.patch(type(Tally), "_add", counting)
        first, second, third, gone = (
            self.Call.search([("entry_id", "=", entry_id)])
            for entry_id in ("T-A9", "T-A12", "T-A15", "T-M18")
        )
        talk = sum(self.Tally.search([]).mapped("talk_seconds_total"))
        with Tally._added_at_end():
            first.write({"talk_seconds": first.talk_seconds + 100})
            second.write({"talk_seconds": second.talk_seconds + 10})
            second.write({"talk_seconds": second.talk_seconds + 10})
            gone.unlink()
            self.assertEqual(Tally._pending(), {first.id, second.id, gone.id})
            self.assertEqual(added, [([first.id], -1), ([second.id], -1), ([gone.id], -1)],
                             "a pending call's second change removes nothing")
            self.env.flush_all()
            self.assertEqual(
                sum(self.Tally.search([]).mapped("talk_seconds_total")),
                talk - first.talk_seconds + 100 - second.talk_seconds + 20,
                "the new contributions wait for the end",
            )
            added.clear()
            with self.env.cr.savepoint() as savepoint:
                # The savepoint's flush added what was pending.
                self.assertEqual(added, [(sorted((first | second | gone).ids), 1)])
                third.write({"talk_seconds": 999})
                self.assertEqual(Tally._pending(), {third.id})
                savepoint.rollback()
            self.assertFalse(Tally._pending(), "what the savepoint undid is forgotten")
            third.invalidate_recordset()
            self.assertNotEqual(third.talk_seconds, 999)
            first.write({"talk_seconds": first.talk_seconds + 1})
        self.assertIsNone(Tally._pending())
        self.assertEqual(added[-1], ([first.id], 1), "one statement at the end")
        self.assert_as_journal()
        # Outside, each change is added at once.
        added.clear()
        third.write({"talk_seconds": third.talk_seconds + 1})
        self.assertEqual(added, [([third.id], -1), ([third.id], 1)])
        self.assert_as_journal()

    def test_other_company_and_no_patient_data(self):
        other = self.env["res.company"].create({"name": "Other clinic"})
        stranger = new_test_user(
            self.env, login="tally_other", company_id=other.id, company_ids=[other.id],
            groups="medpulse_telephony.group_telephony_manager",
        )
        self.assertFalse(self.env["medpulse.call.tally"].with_user(stranger).search([]))
        self.assertTrue(self.Tally.search([]))
        relations = {
            field.comodel_name
            for model in (self.Tally, self.Hours) for field in model._fields.values()
            if field.relational
        }
        self.assertEqual(relations, {"res.company", "res.users", "medpulse.telephony.line"})
        operator = self.env["medpulse.call.tally"].with_user(self.operator1)
        with self.assertRaises(Exception):  # noqa: B017, PT027 - AccessError from check_access
            operator.search([])

    def test_in_progress_calls_count_nowhere_until_settled(self):
        events = incoming_answered("T-LIVE", t0=T0 + 40 * DAY)
        partial = self.receive(events[:1])
        self.assertEqual(partial.result, "in_progress")
        self.env.flush_all()
        self.assertFalse(self.Tally.search([("day", ">", datetime(2026, 4, 5).date())]))
        # Answered, its summary not in yet: what it counts for may still change.
        talking = self.receive(events[:-1])
        self.assertEqual((talking.result, talking.is_final), ("answered", False))
        self.env.flush_all()
        self.assertFalse(self.Tally.search([("day", ">", datetime(2026, 4, 5).date())]))
        self.assertFalse(self.Months.search([("day", ">", datetime(2026, 4, 5).date())]))
        self.receive(events)
        self.assertTrue(talking.is_final)
        self.assert_as_journal()

    def test_timezone_change_needs_rebuild_and_rebuild_follows(self):
        """Moving the clinic's time zone moves its days: the rebuild puts them right."""
        self.assertEqual(self.tallied(self.Tally, ["day:day"])["07 Mar 2026",], 1)
        self.company.resource_calendar_id.sudo().tz = "UTC"
        self.Tally.sudo()._rebuild(self.company)
        self.env.flush_all()
        self.assertEqual(self.tallied(self.Tally, ["day:day"])["07 Mar 2026",], 2,
                         "in UTC both calls are of 7 March")
        self.assertEqual(
            sum(self.tallied(self.Tally, ["day:day"]).values()),
            len(self.journal().filtered(self.env["medpulse.call.tally"]._counts)),
        )
