"""Export is checked like a read along every exported path (``models/base.py``).

Odoo checks a field's groups only when it fetches the field from the database, so a value
already in the cache, or a related or computed one, was exported to whoever asked; and it
exports any linked record. Each case here is one field of patient data reached through a
path a user may not read, by a user who has Odoo's "Access to export feature".
"""

from odoo.exceptions import AccessError, UserError
from odoo.tools import mute_logger

from .common import MONDAY, ClinicCase

EXPORT = "base.group_allow_export"
#: Where Odoo logs the refusals it raises.
REFUSALS = ("odoo.models", "odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule")


class TestExportAccess(ClinicCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for user in (cls.user_receptionist, cls.user_doctor_a, cls.user_plain):
            user.groups_id += cls.env.ref(EXPORT)
        Appointment = cls.env["medpulse.appointment"]
        cls.mine = Appointment.create({
            "patient_id": cls.patient.id, "doctor_id": cls.doctor_a.id,
            "service_id": cls.service_30.id, "start": MONDAY.replace(hour=9),
        })
        cls.mine.action_done()
        cls.other = Appointment.create({
            "patient_id": cls.patient.id, "doctor_id": cls.doctor_b.id,
            "service_id": cls.service_30.id, "start": MONDAY.replace(hour=10),
        })

    def export(self, user, records, *paths):
        # As the web client does: one request, nothing of another user's in the cache...
        self.env.invalidate_all()
        with mute_logger(*REFUSALS):
            return records.with_user(user).export_data(list(paths))["datas"]

    def export_after_superuser_read(self, user, records, *paths):
        # ...or with the superuser's values in it (a record rule's check fills it).
        records.sudo().read()
        records.patient_id.sudo().read()
        with mute_logger(*REFUSALS):
            return records.with_user(user).export_data(list(paths))["datas"]

    def test_reception_exports_the_patients_history(self):
        rows = self.export(self.user_receptionist, self.mine,
                           "patient_id/name", "patient_id/last_service_id/name",
                           "patient_id/phone_ids/number")
        self.assertEqual(rows, [["Ivanov Ivan", "Consultation (test)", "+7 (916) 123-45-67"]])

    def test_a_field_the_user_may_not_read(self):
        # The reception's history of the patient is not the doctor's, even from their own
        # appointment; the doctor's own history is.
        for export in (self.export, self.export_after_superuser_read):
            for path in ("patient_id/last_service_id/name", "patient_id/next_appointment_id",
                         "patient_id/visit_count", "patient_id/last_visit_at"):
                with self.subTest(export=export.__name__, path=path), \
                        self.assertRaises(AccessError):
                    export(self.user_doctor_a, self.mine, "patient_id/name", path)
        rows = self.export(self.user_doctor_a, self.mine,
                           "patient_id/name", "patient_id/doctor_last_service_id/name")
        self.assertEqual(rows, [["Ivanov Ivan", "Consultation (test)"]])

    def test_linked_records_the_user_may_not_read(self):
        # The patient's appointments include another doctor's.
        with self.assertRaises(AccessError):
            self.export(self.user_doctor_a, self.mine, "patient_id/appointment_ids/doctor_id")
        with self.assertRaises(AccessError):
            self.export(self.user_doctor_a, self.mine, "patient_id/appointment_ids/start")
        # The exported records themselves.
        with self.assertRaises(AccessError):
            self.export(self.user_doctor_a, self.other, "start")

    def test_a_user_without_a_clinic_role(self):
        with self.assertRaises(AccessError):
            self.export(self.user_plain, self.patient, "name")
        with self.assertRaises(AccessError):
            self.export(self.user_plain, self.mine, "start")

    def test_no_export_right_keeps_odoos_refusal(self):
        with self.assertRaisesRegex(UserError, "rights to export"):
            self.export(self.user_manager, self.mine, "patient_id/name")
