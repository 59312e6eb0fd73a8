from datetime import datetime, timedelta

from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form
from odoo.tools import mute_logger

from .common import MONDAY, ClinicCase


class TestAppointment(ClinicCase):
    def test_stop_follows_service_duration_and_stays_editable(self):
        appointment = self.book(MONDAY.replace(hour=9))
        self.assertEqual(appointment.stop, MONDAY.replace(hour=9, minute=30))
        appointment.service_id = self.service_60
        self.assertEqual(appointment.stop, MONDAY.replace(hour=10))
        appointment.stop = MONDAY.replace(hour=10, minute=15)
        self.assertEqual(appointment.stop, MONDAY.replace(hour=10, minute=15))

    def test_double_booking_refused_with_the_conflict_named(self):
        first = self.book(MONDAY.replace(hour=10))
        with self.assertRaises(ValidationError) as caught:
            other = self.create_patient("Petrov", "Petr")
            self.book(MONDAY.replace(hour=10, minute=15), patient=other)
        self.assertIn(first.display_name, str(caught.exception))
        self.assertIn("Doctor A (test)", str(caught.exception))
        # back to back is fine, and so is another doctor at the same time
        self.book(MONDAY.replace(hour=10, minute=30))
        self.book(MONDAY.replace(hour=10, minute=15), doctor=self.doctor_b)

    def test_cancelled_and_no_show_free_the_slot(self):
        first = self.book(MONDAY.replace(hour=11))
        first.action_cancel()
        second = self.book(MONDAY.replace(hour=11))
        second.action_no_show()
        self.book(MONDAY.replace(hour=11))
        # reopening a cancelled appointment whose time is taken is refused
        with self.assertRaises(ValidationError):
            first.action_reset_to_scheduled()

    def test_moving_onto_a_booked_time_is_refused(self):
        self.book(MONDAY.replace(hour=9))
        other = self.book(MONDAY.replace(hour=15))
        with self.assertRaises(ValidationError):
            other.start = MONDAY.replace(hour=9, minute=15)

    def test_working_hours_warning_is_not_an_error(self):
        inside = self.book(MONDAY.replace(hour=9))
        self.assertFalse(inside.outside_working_hours)
        lunch = self.book(MONDAY.replace(hour=12, minute=45))
        self.assertTrue(lunch.outside_working_hours)
        saturday = self.book(MONDAY.replace(hour=10) + timedelta(days=5))
        self.assertTrue(saturday.outside_working_hours)
        warning = saturday._onchange_working_hours_warning()
        self.assertIn("Doctor A (test)", warning["warning"]["message"])
        self.assertIsNone(inside._onchange_working_hours_warning())

    def test_next_free_slot(self):
        find = self.env["medpulse.appointment"]._find_next_free_slot
        # Friday 17:40 -> nothing fits before 18:00; the next working day is Monday.
        friday = MONDAY - timedelta(days=3)
        self.assertEqual(
            find(self.doctor_a, self.service_30, friday.replace(hour=17, minute=40)),
            MONDAY.replace(hour=9),
        )
        self.book(MONDAY.replace(hour=9))
        self.book(MONDAY.replace(hour=9, minute=30), service=self.service_60)
        # rounds up to the quarter and skips the two booked appointments
        self.assertEqual(
            find(self.doctor_a, self.service_30, MONDAY.replace(hour=8, minute=50)),
            MONDAY.replace(hour=10, minute=30),
        )
        # a 60-minute service does not fit in the 30 minutes before lunch
        self.book(MONDAY.replace(hour=10, minute=30), service=self.service_60)
        self.book(MONDAY.replace(hour=11, minute=30))
        self.book(MONDAY.replace(hour=12, minute=15))
        self.assertEqual(
            find(self.doctor_a, self.service_60, MONDAY.replace(hour=9)),
            MONDAY.replace(hour=14),
        )
        # another doctor's appointments do not count
        self.assertEqual(
            find(self.doctor_b, self.service_30, MONDAY.replace(hour=9)),
            MONDAY.replace(hour=9),
        )

    def test_next_free_slot_button(self):
        """The form's button gets the slot and changes nothing: the form fills it in."""
        self.book(MONDAY.replace(hour=9))
        with freeze_time(MONDAY.replace(hour=8)):
            late = self.book(MONDAY.replace(hour=17))
            Appointment = self.env["medpulse.appointment"].with_user(self.user_receptionist)
            slot = Appointment.get_next_free_slot(
                self.doctor_a.id, self.service_30.id, exclude_ids=late.ids
            )
        self.assertEqual(slot, "2030-01-07 09:30:00")
        self.assertEqual(late.start, MONDAY.replace(hour=17))

    def test_form_proposes_the_next_free_slot(self):
        self.book(MONDAY.replace(hour=9))
        with freeze_time(MONDAY.replace(hour=8)):
            form = Form(self.env["medpulse.appointment"])
            form.patient_id = self.patient
            form.doctor_id = self.doctor_a
            form.service_id = self.service_30
            self.assertEqual(form.start, MONDAY.replace(hour=9, minute=30))
            appointment = form.save()
        self.assertEqual(appointment.stop, MONDAY.replace(hour=10))

    def test_transitions(self):
        appointment = self.book(MONDAY.replace(hour=9))
        self.assertEqual(appointment.state, "scheduled")
        appointment.action_confirm()
        self.assertEqual(appointment.state, "confirmed")
        appointment.action_arrive()
        self.assertEqual(appointment.state, "arrived")
        with self.assertRaises(UserError):
            appointment.action_no_show()
        appointment.action_done()
        self.assertEqual(appointment.state, "done")
        for action in ("action_confirm", "action_cancel", "action_arrive",
                       "action_reset_to_scheduled"):
            with self.subTest(action=action), self.assertRaises(UserError):
                getattr(appointment, action)()
        cancelled = self.book(MONDAY.replace(hour=10))
        cancelled.action_cancel()
        cancelled.action_reset_to_scheduled()
        self.assertEqual(cancelled.state, "scheduled")

    def test_last_visit_from_done_appointments(self):
        patient = self.patient
        self.assertFalse(patient.last_visit_at)
        first = self.book(MONDAY.replace(hour=9))
        second = self.book(MONDAY.replace(hour=14), service=self.service_60)
        self.book(MONDAY.replace(hour=16)).action_cancel()
        self.assertEqual(patient.visit_count, 0)
        first.action_done()
        self.assertEqual(patient.last_visit_at, MONDAY.replace(hour=9))
        self.assertEqual(patient.last_service_id, self.service_30)
        self.assertEqual(patient.visit_count, 1)
        second.action_arrive()
        second.action_done()
        self.assertEqual(patient.last_visit_at, MONDAY.replace(hour=14))
        self.assertEqual(patient.last_service_id, self.service_60)
        self.assertEqual(patient.visit_count, 2)
        # stored: readable straight from the database
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT last_visit_at, visit_count FROM medpulse_patient WHERE id = %s", [patient.id]
        )
        self.assertEqual(self.env.cr.fetchone(), (MONDAY.replace(hour=14), 2))

    def test_next_appointment(self):
        with freeze_time(MONDAY.replace(hour=8)):
            later = self.book(MONDAY.replace(hour=15))
            sooner = self.book(MONDAY.replace(hour=10))
            self.assertEqual(self.patient.next_appointment_id, sooner)
            sooner.action_cancel()
            self.assertEqual(self.patient.next_appointment_id, later)
        with freeze_time(MONDAY.replace(hour=16)):
            self.env["medpulse.patient"]._cron_refresh_next_appointment()
            self.assertFalse(self.patient.next_appointment_id)

    @mute_logger("odoo.sql_db")
    def test_stop_before_start_refused(self):
        with self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.book(MONDAY.replace(hour=9), stop=datetime(2030, 1, 7, 8))
            self.env.flush_all()
