from datetime import timedelta

import pytz

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged


def _tz_away_from_week_end(now_utc):
    """A time zone in which the next two hours stay in the current week.

    The booked slot is "now" rounded up, and the schedule shows the current week:
    two zones nine hours apart cannot both be near the week's end.
    """
    for name in ("UTC", "Asia/Tokyo"):
        local = pytz.utc.localize(now_utc).astimezone(pytz.timezone(name))
        if local.weekday() != 5 or local.hour < 22:
            return name
    return "Asia/Tokyo"


@tagged("post_install", "-at_install")
class TestClinicTour(HttpCase):
    def test_receptionist_books_from_schedule(self):
        self.receptionist = new_test_user(
            self.env, login="mp_tour_receptionist", password="mp_tour_receptionist",
            groups="medpulse_clinic.group_clinic_receptionist",
            tz=_tz_away_from_week_end(fields.Datetime.now()), lang="en_US",
        )
        service = self.env["medpulse.service"].create({"name": "Tour Consultation", "duration": 30})
        doctor = self.env["medpulse.doctor"].create({
            "name": "Tour Doctor",
            # around the clock, so the proposed slot is within the next quarter hour
            "resource_calendar_id": False,
            "service_ids": [Command.set(service.ids)],
        })
        patient = self.env["medpulse.patient"].create({
            "last_name": "Tourova", "first_name": "Anna",
            "phone_ids": [Command.create({"number": "+7 (903) 555-12-34"})],
        })
        self.start_tour(
            "/odoo", "medpulse_clinic_book_appointment_tour", login=self.receptionist.login
        )
        appointment = self.env["medpulse.appointment"].search([("patient_id", "=", patient.id)])
        self.assertEqual(len(appointment), 1)
        self.assertEqual(appointment.state, "confirmed")
        self.assertEqual(appointment.doctor_id, doctor)
        self.assertEqual(appointment.service_id, service)
        self.assertLess(appointment.start, fields.Datetime.now() + timedelta(hours=1))
