from datetime import datetime

from odoo import Command
from odoo.tests import TransactionCase, new_test_user

# A Monday far enough ahead that "now" never interferes with the schedule tests.
MONDAY = datetime(2030, 1, 7)


class ClinicCase(TransactionCase):
    """A small clinic: one calendar in UTC (Mon-Fri 09-13 and 14-18), two doctors with
    their own users, two services, and one user per access profile."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.calendar = cls.env["resource.calendar"].create({
            "name": "Clinic test hours",
            "tz": "UTC",
            "company_id": cls.company.id,
            "attendance_ids": [
                Command.create({
                    "name": f"{day} {period}", "dayofweek": str(day), "hour_from": start,
                    "hour_to": stop, "day_period": period,
                })
                for day in range(5)
                for start, stop, period in ((9, 13, "morning"), (14, 18, "afternoon"))
            ],
        })
        cls.specialty = cls.env["medpulse.specialty"].create({"name": "Therapy (test)"})
        cls.service_30 = cls.env["medpulse.service"].create({
            "name": "Consultation (test)", "code": "T-30", "duration": 30,
            "specialty_id": cls.specialty.id, "price": 2000,
        })
        cls.service_60 = cls.env["medpulse.service"].create({
            "name": "Long procedure (test)", "code": "T-60", "duration": 60,
            "specialty_id": cls.specialty.id, "price": 5000,
        })
        cls.user_receptionist = new_test_user(
            cls.env, login="mp_receptionist", groups="medpulse_clinic.group_clinic_receptionist",
            name="Reception Test",
        )
        cls.user_manager = new_test_user(
            cls.env, login="mp_manager", groups="medpulse_clinic.group_clinic_manager",
        )
        cls.user_doctor_a = new_test_user(
            cls.env, login="mp_doctor_a", groups="medpulse_clinic.group_clinic_doctor",
        )
        cls.user_doctor_b = new_test_user(
            cls.env, login="mp_doctor_b", groups="medpulse_clinic.group_clinic_doctor",
        )
        cls.user_plain = new_test_user(cls.env, login="mp_plain", groups="base.group_user")
        cls.doctor_a = cls.env["medpulse.doctor"].create({
            "name": "Doctor A (test)", "specialty_id": cls.specialty.id,
            "user_id": cls.user_doctor_a.id, "resource_calendar_id": cls.calendar.id,
            "service_ids": [Command.set([cls.service_30.id, cls.service_60.id])],
        })
        cls.doctor_b = cls.env["medpulse.doctor"].create({
            "name": "Doctor B (test)", "specialty_id": cls.specialty.id,
            "user_id": cls.user_doctor_b.id, "resource_calendar_id": cls.calendar.id,
            "service_ids": [Command.set([cls.service_30.id])],
        })
        cls.patient = cls.create_patient("Ivanov", "Ivan", "+7 (916) 123-45-67")

    @classmethod
    def create_patient(cls, last_name, first_name, *numbers, **values):
        return cls.env["medpulse.patient"].create({
            "last_name": last_name,
            "first_name": first_name,
            "phone_ids": [Command.create({"number": number}) for number in numbers],
            **values,
        })

    def book(self, start, doctor=None, service=None, patient=None, **values):
        return self.env["medpulse.appointment"].create({
            "patient_id": (patient or self.patient).id,
            "doctor_id": (doctor or self.doctor_a).id,
            "service_id": (service or self.service_30).id,
            "start": start,
            **values,
        })
