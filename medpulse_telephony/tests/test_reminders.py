"""Reminders (issue 21, part 2): built per day in the clinic's time zone, consents, quiet
hours, idempotent, a run interrupted by a lockout or an outage and resumed without
duplicates, appointments moved or cancelled after their reminder, the call step, and the
reminders' SMS as batch work in the request budget."""

from datetime import date, timedelta
from unittest.mock import patch

import pytz

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from mango_vpbx_emulator.testing import ACCEPTED, Response, closed_port_url

from ..models import res_company
from ..models.medpulse_reminder import day_bounds, local_day
from .common import PATIENT_NUMBER
from .reminder_common import UFA, ReminderCase, utc

# 2030-01-08 01:00 in Ufa while the server's UTC date is still the 7th.
NIGHT = utc(2030, 1, 7, 20, 0)
# The appointment "tomorrow" in Ufa: the 9th at 10:00 (05:00 UTC).
TOMORROW_10 = utc(2030, 1, 9, 5, 0)


@tagged("post_install", "-at_install")
class TestReminders(ReminderCase):
    # ------------------------------------------------------------ days and times

    def test_tomorrow_in_ufa_from_a_server_in_utc(self):
        self.assertEqual(local_day(self.company, NIGHT), date(2030, 1, 8), "already the 8th")
        begin, end = day_bounds(self.company, date(2030, 1, 9))
        self.assertEqual((begin, end), (utc(2030, 1, 8, 19, 0), utc(2030, 1, 9, 19, 0)))
        tomorrow = self.book(self.patient, TOMORROW_10)
        # The 8th at 15:00 in Ufa: tomorrow for the server (UTC), today for the clinic.
        today_in_ufa = self.book(self.no_call, utc(2030, 1, 8, 10, 0))
        # The 9th at 20:00 UTC is the 10th at 01:00 in Ufa: not tomorrow.
        day_after = self.book(self.no_sms, utc(2030, 1, 9, 20, 0))
        built = self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.assertEqual(built.appointment_id, tomorrow)
        self.Reminder._cron_build(now=NIGHT)  # today and tomorrow, in Ufa
        self.assertTrue(self.reminders(today_in_ufa))
        self.assertFalse(self.reminders(day_after), "the day after tomorrow, in Ufa")
        sms = self.reminders(tomorrow, "sms")
        # 24 hours before: the 8th at 10:00 in Ufa, out of the quiet hours.
        self.assertEqual(sms.planned_at, utc(2030, 1, 8, 5, 0))
        self.assertEqual(self.reminders(tomorrow, "call").planned_at, utc(2030, 1, 8, 9, 0))

    def test_quiet_hours_in_the_clinic_time_zone(self):
        tz = pytz.timezone(UFA)
        # An 08:00 appointment: its SMS would go at 08:00 the day before, in the quiet
        # hours (21:00 to 09:00 in Ufa): it goes at 09:00.
        early = self.book(self.patient, utc(2030, 1, 9, 3, 0))
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        sms = self.reminders(early, "sms")
        self.assertEqual(pytz.utc.localize(sms.planned_at).astimezone(tz).hour, 9)
        # When the end of the quiet hours would be after the appointment, just before they
        # begin: an SMS due at 23:00 for an appointment at 08:00 goes at 20:59.
        planned = self.rule._outside_quiet(utc(2030, 1, 8, 18, 0), utc(2030, 1, 9, 3, 0), tz)
        self.assertEqual(planned, utc(2030, 1, 8, 15, 59))
        # Equal times: no quiet hours.
        self.rule.quiet_end = self.rule.quiet_start
        self.assertFalse(self.rule._is_quiet(utc(2030, 1, 8, 18, 0), tz))

    def test_rule_per_service_and_its_checks(self):
        other = self.env["medpulse.service"].sudo().create({
            "name": "X-ray (reminders)", "code": "REM-X", "duration": 15,
            "specialty_id": self.specialty.id,
        })
        self.doctor.sudo().service_ids |= other
        calls_only = self.env["medpulse.reminder.rule"].sudo().create({
            "name": "X-ray", "company_id": self.company.id, "channel": "call",
            "lead_hours": 48, "service_ids": [(6, 0, other.ids)],
        })
        xray = self.book(self.patient, TOMORROW_10, service_id=other.id)
        checkup = self.book(self.no_call, TOMORROW_10 + timedelta(hours=2))
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.assertEqual(self.reminders(xray).mapped("step"), ["call"])
        self.assertEqual(self.reminders(xray).rule_id, calls_only)
        self.assertEqual(sorted(self.reminders(checkup).mapped("step")), ["call", "sms"])
        with self.assertRaisesRegex(ValidationError, "already have a reminder rule"):
            self.env["medpulse.reminder.rule"].sudo().create({
                "name": "Again", "company_id": self.company.id, "service_ids": [(6, 0, other.ids)],
            })
        with self.assertRaisesRegex(ValidationError, "default reminder rule already"):
            self.env["medpulse.reminder.rule"].sudo().create(
                {"name": "Default 2", "company_id": self.company.id})
        with self.assertRaisesRegex(ValidationError, "The call comes after the SMS"):
            self.rule.call_hours = 30

    # ------------------------------------------------------------ consents

    def test_consent_refusals_are_recorded_and_nothing_goes(self):
        no_sms = self.book(self.no_sms, TOMORROW_10)
        no_call = self.book(self.no_call, TOMORROW_10 + timedelta(hours=1))
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.assertEqual(
            (self.reminders(no_sms, "sms").state, self.reminders(no_sms, "sms").skip_reason),
            ("skipped", "no_sms_consent"),
        )
        self.assertEqual(self.reminders(no_sms, "call").state, "planned", "a call is allowed")
        self.assertEqual(self.reminders(no_call, "call").skip_reason, "no_call_consent")
        self.assertEqual(self.reminders(no_call, "sms").state, "planned")
        self.send(utc(2030, 1, 8, 11, 0))
        [payload] = self.sms_requests()
        self.assertEqual(payload["to_number"], "79167654322", "only the consenting patient")
        self.assertEqual(self.Item.search([("appointment_id", "in", (no_sms | no_call).ids)])
                         .appointment_id, no_sms, "only the patient who agreed to calls")

    def test_consent_withdrawn_after_the_build(self):
        appointment = self.book(self.patient, TOMORROW_10)
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.patient.sudo().consent_sms = False
        self.send(utc(2030, 1, 8, 6, 0))
        self.assertEqual(self.sms_requests(), [])
        self.assertEqual(self.reminders(appointment, "sms").skip_reason, "no_sms_consent")

    # ------------------------------------------------------------ sending, once

    def test_build_and_send_are_idempotent(self):
        appointments = self.book(self.patient, TOMORROW_10) | self.book(
            self.no_call, TOMORROW_10 + timedelta(hours=1))
        first = self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        again = self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.assertEqual((len(first), len(again)), (4, 0))
        due = utc(2030, 1, 8, 11, 0)
        self.send(due)
        self.send(due)
        self.send(due + timedelta(hours=1))
        self.assertEqual(sorted(p["to_number"] for p in self.sms_requests()),
                         [PATIENT_NUMBER, "79167654322"])
        sms = self.reminders(appointments, "sms")
        self.assertEqual(sms.mapped("state"), ["sent", "sent"])
        self.assertEqual(sms.sms_id.mapped("state"), ["accepted", "accepted"])
        self.assertTrue(all(s.pbx_command_id.priority == "batch" for s in sms.sms_id),
                        "reminders are batch work in the request budget")
        self.assertIn("Doctor Reminder", sms.sms_id[0].text)
        self.assertEqual(self.sms_requests()[0]["from_extension"], "555", "the company's")

    def test_a_lockout_interrupts_the_run_which_resumes_without_duplicates(self):
        appointments = self.env["medpulse.appointment"]
        patients = self.patient | self.no_call
        for index in range(4):
            appointments |= self.book(patients[index % 2], TOMORROW_10 + timedelta(hours=index))
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        # Two accepted, then the PBX locks the account out (HTTP 401).
        self.stub.script("commands/sms", ACCEPTED, ACCEPTED, (401, ""))
        due = utc(2030, 1, 8, 11, 0)
        self.send(due)
        sms = self.reminders(appointments, "sms")
        self.assertEqual(sms.mapped("state"), ["sent", "sent", "planned", "planned"])
        interrupted = sms[2]
        self.assertEqual(interrupted.attempt_count, 1)
        self.assertEqual(interrupted.error, interrupted.sms_id.reason)
        self.assertEqual(interrupted.sms_id.state, "failed", "logged as failed, never sent")
        self.assertEqual(len(self.sms_requests()), 3, "the run stopped at the lockout")
        # The lockout is remembered: a run before the retry time sends nothing.
        self.send(due + timedelta(minutes=1))
        self.assertEqual(len(self.sms_requests()), 3)
        # Two minutes later the lockout is over (the budget forgets it) and the run resumes.
        self.stub.reset()
        self.stub.script("*", ACCEPTED)
        self.env.cr.execute("DELETE FROM medpulse_telephony_limit WHERE kind = 'block'")
        self.send(due + timedelta(minutes=3))
        self.send(due + timedelta(minutes=10))
        self.assertEqual(len(self.sms_requests()), 2, "the two left, once each")
        self.assertEqual(self.reminders(appointments, "sms").mapped("state"), ["sent"] * 4)
        accepted = self.env["medpulse.sms"].sudo().search([
            ("appointment_id", "in", appointments.ids), ("state", "=", "accepted")])
        self.assertEqual(sorted(accepted.appointment_id.ids), sorted(appointments.ids),
                         "one accepted SMS per appointment")

    def test_pbx_down_keeps_the_reminder_for_later(self):
        appointment = self.book(self.patient, TOMORROW_10)
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        url = self.company.medpulse_pbx_api_url
        self.company.sudo().medpulse_pbx_api_url = closed_port_url()
        due = utc(2030, 1, 8, 6, 0)
        self.send(due)
        reminder = self.reminders(appointment, "sms")
        self.assertEqual((reminder.state, reminder.attempt_count), ("planned", 1))
        self.assertIn("Could not reach the PBX", reminder.error)
        self.company.sudo().medpulse_pbx_api_url = url
        self.send(due + timedelta(minutes=3))
        self.assertEqual(self.reminders(appointment, "sms").state, "sent")
        self.assertEqual(len(self.sms_requests()), 1)

    @patch.object(res_company, "PBX_TIMEOUT_SECONDS", 1.0)
    def test_an_sms_the_pbx_may_have_taken_is_never_sent_again(self):
        appointment = self.book(self.patient, TOMORROW_10)
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.stub.script("commands/sms", Response(200, {"result": 1000}, delay=2.0))
        self.send(utc(2030, 1, 8, 6, 0))
        reminder = self.reminders(appointment, "sms")
        self.assertEqual(reminder.state, "failed")
        self.assertIn("did not answer in time", reminder.error)
        self.send(utc(2030, 1, 8, 7, 0))
        self.assertEqual(len(self.sms_requests()), 1, "not sent again")

    def test_a_reminder_left_sending_by_a_dead_worker(self):
        with_sms, without = self.book(self.patient, TOMORROW_10), self.book(
            self.no_call, TOMORROW_10 + timedelta(hours=1))
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        due = utc(2030, 1, 8, 11, 0)
        self.send(due)
        first, second = self.reminders(with_sms, "sms"), self.reminders(without, "sms")
        self.env.cr.execute(
            "UPDATE medpulse_reminder SET state = 'sending', write_date = %s WHERE id = %s",
            [due, first.id])
        self.env.cr.execute(
            "UPDATE medpulse_reminder SET state = 'sending', sms_id = NULL, write_date = %s"
            " WHERE id = %s", [due, second.id])
        self.env.invalidate_all()
        self.send(due + timedelta(minutes=30))
        self.assertEqual((first.state, second.state), ("sent", "sent"))
        self.assertEqual(len(self.sms_requests()), 3, "the one never sent went, the other not")

    # ------------------------------------------------------------ changes

    def test_an_appointment_moved_after_its_reminder_gets_a_new_one(self):
        appointment = self.book(self.patient, TOMORROW_10)
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.send(utc(2030, 1, 8, 6, 0))
        [first] = self.sms_requests()
        self.assertIn("10:00", first["text"])
        # At 12:00 on the 8th the patient calls: 15:00 instead. The call step of 10:00 goes.
        moved_at = utc(2030, 1, 8, 7, 0)
        appointment.sudo().start = utc(2030, 1, 9, 10, 0)
        self.assertEqual(self.reminders(appointment, "call")[0].skip_reason, "moved")
        self.Reminder._cron_build(now=moved_at)
        new = self.reminders(appointment, "sms").filtered(
            lambda r: r.appointment_start == appointment.start)
        # Its time (24 hours before 15:00) is still ahead: sent then, with the new time.
        self.assertEqual(new.planned_at, utc(2030, 1, 8, 10, 0))
        self.send(moved_at)
        self.assertEqual(len(self.sms_requests()), 1, "not yet")
        self.send(utc(2030, 1, 8, 10, 5))
        second = self.sms_requests()[1]
        self.assertIn("3:00", second["text"], "15:00 in Ufa")
        self.assertEqual(self.reminders(appointment, "sms").mapped("state"), ["sent", "sent"])

    def test_moved_late_is_reminded_at_once(self):
        appointment = self.book(self.patient, TOMORROW_10)
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.send(utc(2030, 1, 8, 6, 0))
        # Moved at 16:00 on the 8th to 09:00 on the 9th: its reminder time is long past, but
        # the patient was reminded of another time: the new time goes at once.
        late = utc(2030, 1, 8, 11, 0)
        appointment.sudo().start = utc(2030, 1, 9, 4, 0)
        self.Reminder._cron_build(now=late)
        self.send(late)
        self.assertEqual(len(self.sms_requests()), 2)
        self.assertIn("9:00", self.sms_requests()[1]["text"])

    def test_booked_after_the_reminder_time_gets_none(self):
        appointment = self.book(self.patient, utc(2030, 1, 8, 10, 0))
        self.Reminder._cron_build(now=utc(2030, 1, 8, 6, 0))
        self.assertEqual(set(self.reminders(appointment).mapped("skip_reason")), {"too_late"})
        self.send(utc(2030, 1, 8, 6, 0))
        self.assertEqual(self.sms_requests(), [])

    def test_a_cancelled_appointment_gets_no_reminder(self):
        cancelled = self.book(self.patient, TOMORROW_10)
        kept = self.book(self.no_call, TOMORROW_10 + timedelta(hours=1))
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        cancelled.sudo().action_cancel()
        self.assertEqual(set(self.reminders(cancelled).mapped("skip_reason")), {"cancelled"})
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.assertEqual(len(self.reminders(cancelled)), 2, "none built again")
        self.send(utc(2030, 1, 8, 11, 0))
        self.assertEqual([p["to_number"] for p in self.sms_requests()], ["79167654322"])
        self.assertTrue(self.reminders(kept, "sms").sms_id)

    # ------------------------------------------------------------ the call step

    def test_sms_then_a_call_when_not_confirmed(self):
        confirmed = self.book(self.patient, TOMORROW_10)
        silent = self.book(self.no_sms, TOMORROW_10 + timedelta(hours=1))
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.send(utc(2030, 1, 8, 6, 0))
        confirmed.sudo().confirmation_state = "confirmed"
        self.send(utc(2030, 1, 8, 10, 30))  # both call times are past
        self.assertEqual(self.reminders(confirmed, "call").skip_reason, "confirmed")
        call = self.reminders(silent, "call")
        self.assertEqual(call.state, "listed")
        item = call.item_id
        self.assertEqual((item.appointment_id, item.number, item.list_date, item.state),
                         (silent, "+79167654321", date(2030, 1, 9), "todo"))

    def test_reminder_sms_in_the_clinic_language(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        self.company.sudo().partner_id.lang = "ru_RU"
        template = self.env.ref("medpulse_telephony.medpulse_sms_template_reminder").sudo()
        template.with_context(lang="ru_RU").body = "{first_name}, ждём вас {date} в {time}."
        self.book(self.patient, TOMORROW_10)
        self.Reminder._build_day(self.company, date(2030, 1, 9), now=NIGHT)
        self.send(utc(2030, 1, 8, 6, 0))
        self.assertTrue(self.sms_requests()[0]["text"].startswith("Anna, ждём вас"))
