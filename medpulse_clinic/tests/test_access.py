from odoo.exceptions import AccessError
from odoo.tests import new_test_user
from odoo.tools import mute_logger

from .common import MONDAY, ClinicCase


class TestAccess(ClinicCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.appointment_a = cls.env["medpulse.appointment"].create({
            "patient_id": cls.patient.id, "doctor_id": cls.doctor_a.id,
            "service_id": cls.service_30.id, "start": MONDAY.replace(hour=9),
        })
        cls.appointment_b = cls.env["medpulse.appointment"].create({
            "patient_id": cls.patient.id, "doctor_id": cls.doctor_b.id,
            "service_id": cls.service_30.id, "start": MONDAY.replace(hour=9),
        })
        cls.appointment_a.action_done()

    def as_user(self, user, model):
        return self.env[model].with_user(user)

    def test_admin_is_clinic_manager(self):
        self.assertTrue(self.env.ref("base.user_admin").has_group("medpulse_clinic.group_clinic_manager"))
        self.assertTrue(self.user_manager.has_group("medpulse_clinic.group_clinic_receptionist"))

    @mute_logger("odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule")
    def test_receptionist(self):
        Patient = self.as_user(self.user_receptionist, "medpulse.patient")
        patient = Patient.create({
            "last_name": "Petrov", "first_name": "Petr",
            "phone_ids": [(0, 0, {"number": "+7 903 111 22 33"})],
        })
        patient.write({"notes": "<p>allergy</p>"})
        self.assertEqual(Patient._lookup_by_phone("89161234567"), self.patient)
        Appointment = self.as_user(self.user_receptionist, "medpulse.appointment")
        self.assertEqual(
            set(Appointment.search([]).ids) & {self.appointment_a.id, self.appointment_b.id},
            {self.appointment_a.id, self.appointment_b.id},
        )
        booked = Appointment.create({
            "patient_id": patient.id, "doctor_id": self.doctor_a.id,
            "service_id": self.service_30.id, "start": MONDAY.replace(hour=10),
        })
        booked.action_confirm()
        booked.action_cancel()
        with self.assertRaises(AccessError):
            patient.unlink()
        with self.assertRaises(AccessError):
            booked.unlink()
        with self.assertRaises(AccessError):
            self.doctor_a.with_user(self.user_receptionist).write({"name": "Renamed"})
        with self.assertRaises(AccessError):
            self.service_30.with_user(self.user_receptionist).write({"price": 1})

    @mute_logger("odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule")
    def test_manager_deletes_patient(self):
        patient = self.create_patient("Petrov", "Petr", "+7 903 111 22 33")
        patient.with_user(self.user_manager).unlink()
        self.assertFalse(patient.exists())

    @mute_logger("odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule")
    def test_doctor_sees_own_appointments_only(self):
        Appointment = self.as_user(self.user_doctor_a, "medpulse.appointment")
        visible = Appointment.search([("id", "in", [self.appointment_a.id, self.appointment_b.id])])
        self.assertEqual(visible, self.appointment_a)
        with self.assertRaises(AccessError):
            self.appointment_b.with_user(self.user_doctor_a).read(["start"])
        with self.assertRaises(AccessError):
            Appointment.create({
                "patient_id": self.patient.id, "doctor_id": self.doctor_a.id,
                "service_id": self.service_30.id, "start": MONDAY.replace(hour=11),
            })
        # the doctor reads the patient and their own history with them, but cannot change them
        patient = self.patient.with_user(self.user_doctor_a)
        self.assertEqual(patient.doctor_last_service_id, self.service_30)
        self.assertEqual(patient.phone, "+7 (916) 123-45-67")
        with self.assertRaises(AccessError):
            patient.write({"notes": "<p>changed</p>"})
        with self.assertRaises(AccessError):
            patient.phone_ids.write({"number": "+7 903 000 00 00"})

    @mute_logger(
        "odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule", "odoo.models"
    )
    def test_doctor_sees_history_with_other_doctors_nowhere(self):
        """S7: the patient's last service and next appointment, for a doctor, are theirs only.

        Doctor A saw the patient (done, "Consultation"); doctor B has the next appointment
        ("Long procedure"). Neither learns the other's through the patient's fields; the
        reception sees both.
        """
        self.appointment_b.service_id = self.service_60
        patient = self.patient
        self.assertEqual(patient.next_appointment_id, self.appointment_b)
        self.assertEqual(patient.last_service_id, self.service_30)
        stored = [
            "last_visit_at", "last_service_id", "visit_count", "next_appointment_id",
            "next_appointment_at",
        ]
        for doctor in (self.user_doctor_a, self.user_doctor_b):
            as_doctor = patient.with_user(doctor)
            for operation in (
                lambda p: p.read(stored[:1]),
                lambda p: p.read(["next_appointment_id"]),
                lambda p: p.read(["next_appointment_at"]),
                lambda p: p.read(["last_service_id"]),
                lambda p: p.search_read([("id", "=", p.id)], ["next_appointment_id"]),
                lambda p: p.web_read({"next_appointment_id": {"fields": {"display_name": {}}}}),
                lambda p: p.read_group([], ["last_service_id"], ["last_service_id"]),
                lambda p: p.search([("last_service_id", "=", self.service_30.id)]),
                lambda p: p.search([("next_appointment_id.doctor_id", "=", self.doctor_b.id)]),
            ):
                with self.subTest(doctor=doctor.login), self.assertRaises(AccessError):
                    operation(as_doctor)
        a = patient.with_user(self.user_doctor_a).read(
            ["doctor_last_service_id", "doctor_next_appointment_id", "doctor_visit_count",
             "doctor_last_visit_at"]
        )[0]
        self.assertEqual(a["doctor_last_service_id"][0], self.service_30.id)
        self.assertEqual((a["doctor_next_appointment_id"], a["doctor_visit_count"]), (False, 1))
        self.assertEqual(a["doctor_last_visit_at"], MONDAY.replace(hour=9))
        b = patient.with_user(self.user_doctor_b).read(
            ["doctor_last_service_id", "doctor_next_appointment_id", "doctor_visit_count"]
        )[0]
        self.assertEqual(b["doctor_next_appointment_id"][0], self.appointment_b.id)
        self.assertEqual((b["doctor_last_service_id"], b["doctor_visit_count"]), (False, 0))
        reception = patient.with_user(self.user_receptionist).read(stored)[0]
        self.assertEqual(reception["last_service_id"][0], self.service_30.id)
        self.assertEqual(reception["next_appointment_id"][0], self.appointment_b.id)
        # The patient form and list load for a doctor (the reception's fields are left out).
        for view_type in ("form", "list", "search"):
            arch = self.env["medpulse.patient"].with_user(self.user_doctor_a).get_views(
                [(False, view_type)]
            )["views"][view_type]["arch"]
            self.assertNotIn('name="next_appointment_id"', arch)
            self.assertNotIn('name="last_service_id"', arch)
        Patient = self.env["medpulse.patient"].with_user(self.user_doctor_a)
        form = Patient.get_views([(False, "form")])
        self.assertIn('name="doctor_next_appointment_id"', form["views"]["form"]["arch"])
        # A doctor's caller lookup still works (ordered without the reception's history).
        self.assertEqual(
            self.env["medpulse.patient"].with_user(self.user_doctor_a)._lookup_by_phone("89161234567"),
            self.patient,
        )

    @mute_logger("odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule")
    def test_plain_user_reads_no_patient(self):
        user = self.user_plain
        for model in ("medpulse.patient", "medpulse.patient.phone", "medpulse.appointment"):
            with self.subTest(model=model), self.assertRaises(AccessError):
                self.env[model].with_user(user).search([])
        with self.assertRaises(AccessError):
            self.patient.with_user(user).read(["name"])
        with self.assertRaises(AccessError):
            self.patient.phone_ids.with_user(user).read(["number"])
        with self.assertRaises(AccessError):
            self.appointment_a.with_user(user).read(["patient_id"])
        with self.assertRaises(AccessError):
            self.env["medpulse.patient"].with_user(user)._lookup_by_phone("89161234567")
        # nor through the chatter of the patient
        message = self.patient.message_post(body="Diagnosis: confidential")
        with self.assertRaises(AccessError):
            message.with_user(user).read(["body"])
        # and patients are not partners: Contacts shows nothing of them
        self.assertFalse(
            self.env["res.partner"].with_user(user).search([("name", "ilike", "Ivanov Ivan")])
        )

    @mute_logger("odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule")
    def test_multi_company_isolation(self):
        other_company = self.env["res.company"].create({"name": "Other clinic"})
        outsider = self.env["medpulse.patient"].with_company(other_company).create({
            "last_name": "Outsider", "first_name": "Oleg",
            "phone_ids": [(0, 0, {"number": "8 916 123 45 67"})],
        })
        self.assertEqual(outsider.company_id, other_company)
        self.assertEqual(outsider.phone_ids.company_id, other_company)
        Patient = self.as_user(self.user_receptionist, "medpulse.patient")
        self.assertEqual(Patient._lookup_by_phone("+79161234567"), self.patient)
        self.assertNotIn(outsider, Patient.search([]))
        with self.assertRaises(AccessError):
            outsider.with_user(self.user_receptionist).read(["name"])
        both = new_test_user(
            self.env, login="mp_two_companies", groups="medpulse_clinic.group_clinic_receptionist",
            company_ids=[(6, 0, [self.company.id, other_company.id])], company_id=self.company.id,
        )
        Both = self.env["medpulse.patient"].with_user(both).with_context(
            allowed_company_ids=[self.company.id, other_company.id]
        )
        found = Both._lookup_by_phone("+79161234567")
        self.assertEqual(set(found.ids), {self.patient.id, outsider.id})
        # One clinic's patients only (the telephony's journal asks so, even as superuser).
        Sudo = self.env["medpulse.patient"].sudo()
        self.assertEqual(Sudo._lookup_by_phone("+79161234567", company=other_company), outsider)
        self.assertEqual(Sudo._lookup_by_phone("+79161234567", company=self.company),
                         self.patient)
