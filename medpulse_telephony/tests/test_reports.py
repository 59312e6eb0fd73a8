from datetime import datetime, timedelta, timezone

from odoo.tests import TransactionCase, freeze_time, new_test_user, tagged

from .common import T0, TelephonyFixtures, incoming_answered, incoming_missed, outgoing

OTHER = "79035550000"
THIRD = "79035550001"


@tagged("post_install", "-at_install")
class TestReports(TelephonyFixtures, TransactionCase):
    """A known day: 5 incoming calls (3 missed), 2 callbacks (after 30 and 10 minutes),
    one appointment booked during an answered call."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.receive(cls, incoming_missed("M1", t0=T0))
        cls.receive(cls, outgoing("CB1", t0=T0 + 1800))
        cls.receive(cls, incoming_missed("M2", t0=T0 + 3600, caller=OTHER))
        cls.receive(cls, outgoing("CB2", t0=T0 + 3600 + 600, callee=OTHER))
        cls.receive(cls, incoming_missed("M3", t0=T0 + 7200, caller=THIRD))
        cls.a1 = cls.receive(cls, incoming_answered("A1", t0=T0 + 9000))
        cls.receive(cls, incoming_answered("A2", t0=T0 + 9600, caller=OTHER))
        doctor = cls.env["medpulse.doctor"].create({"name": "Dr House"})
        currency = cls.env.company.currency_id
        service = cls.env["medpulse.service"].create(
            {"name": "Consultation", "currency_id": currency.id}
        )
        cls.env["medpulse.appointment"].create({
            "patient_id": cls.patient.id, "doctor_id": doctor.id, "service_id": service.id,
            "start": datetime(2026, 3, 5, 10, 0), "call_id": cls.a1.id,
        })
        cls.env.flush_all()

    def test_journal_followup_as_expected(self):
        calls = {c.entry_id: c for c in self.env["medpulse.call"].search([])}
        self.assertEqual(calls["M1"].closed_by_call_id, calls["CB1"])
        self.assertEqual(calls["M2"].closed_by_call_id, calls["CB2"])
        self.assertEqual(calls["M3"].followup_state, "needs_callback")

    def test_report_figures(self):
        Report = self.env["medpulse.call.report"].with_user(self.manager)
        [incoming] = Report.read_group(
            [("direction", "=", "incoming")],
            ["missed_rate:avg", "missed_count:sum", "wait_seconds:avg"],
            [],
        )
        self.assertEqual(incoming["__count"], 5)
        self.assertEqual(incoming["missed_count"], 3)
        self.assertAlmostEqual(incoming["missed_rate"], 60.0)
        [callbacks] = Report.read_group(
            [], ["returned_rate:avg", "return_minutes:avg", "returned_count:sum"], [],
        )
        self.assertEqual(callbacks["returned_count"], 2)
        self.assertAlmostEqual(callbacks["returned_rate"], 200 / 3, places=2)
        self.assertAlmostEqual(callbacks["return_minutes"], 20.0)
        [conversion] = Report.read_group([], ["conversion_rate:avg", "appointment_count:sum"], [])
        self.assertEqual(conversion["appointment_count"], 1)
        self.assertAlmostEqual(conversion["conversion_rate"], 25.0, msg="1 of 4 answered calls")
        by_operator = {
            row["operator_user_id"][0]: row
            for row in Report.read_group(
                [("operator_user_id", "!=", False)], ["conversion_rate:avg"], ["operator_user_id"]
            )
        }
        self.assertAlmostEqual(by_operator[self.operator1.id]["conversion_rate"], 25.0)
        # Ufa time (the company's calendar): 09:00 UTC is 14:00 on a Monday.
        self.company.resource_calendar_id.tz = "Asia/Yekaterinburg"
        self.env.flush_all()
        hours = Report.read_group(
            [("call_id.entry_id", "=", "M1")],
            ["missed_count:sum"],
            ["hour_of_day", "weekday"],
            lazy=False,
        )
        self.assertEqual((hours[0]["hour_of_day"], hours[0]["weekday"]), ("14", "1"))

    def test_dashboard_yesterday(self):
        next_day = datetime.fromtimestamp(T0, tz=timezone.utc).replace(tzinfo=None) + timedelta(
            days=1
        )
        with freeze_time(next_day):
            action = self.env.ref("medpulse_telephony.medpulse_call_dashboard_action")
            self.assertEqual(action.res_model, "medpulse.call.dashboard")
            board = (
                self.env["medpulse.call.dashboard"]
                .with_user(self.manager)
                .with_context(tz="UTC")
                .create({})
            )
            self.assertEqual(board.period, "yesterday")
            self.assertEqual(
                (
                    board.incoming_count,
                    board.missed_count,
                    board.returned_count,
                    board.waiting_count,
                ),
                (5, 3, 2, 1),
            )
            self.assertAlmostEqual(board.missed_rate, 60.0)
            self.assertAlmostEqual(board.returned_rate, 66.7, places=1)
            self.assertAlmostEqual(board.median_return_minutes, 20.0)
            self.assertAlmostEqual(board.conversion_rate, 25.0)
            missed = self.env["medpulse.call"].search(board.action_open_missed()["domain"])
            self.assertEqual(sorted(missed.mapped("entry_id")), ["M1", "M2", "M3"])
            board.period = "today"
            self.assertEqual(board.incoming_count, 0)

    def test_dashboard_as_telephony_manager_without_clinic_role(self):
        """The figures are no patient data: a telephony manager who may not read the
        appointments still sees how many calls booked one."""
        manager = new_test_user(
            self.env, login="phone_boss", groups="medpulse_telephony.group_telephony_manager"
        )
        self.assertFalse(self.env["medpulse.appointment"].with_user(manager).has_access("read"))
        next_day = datetime.fromtimestamp(T0, tz=timezone.utc).replace(tzinfo=None) + timedelta(
            days=1
        )
        with freeze_time(next_day):
            board = (
                self.env["medpulse.call.dashboard"].with_user(manager).with_context(tz="UTC")
                .create({})
            )
            self.assertEqual((board.appointment_count, board.conversion_rate), (1, 25.0))
