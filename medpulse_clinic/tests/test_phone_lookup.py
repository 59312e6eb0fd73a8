from odoo import Command
from odoo.tests import Form

from .common import MONDAY, ClinicCase

E164 = "+79161234567"
SAME_NUMBER_FORMS = [
    "+7 (916) 123-45-67",
    "8 916 123 45 67",
    "8(916)1234567",
    "79161234567",
    "+79161234567",
    "916 123-45-67",
    "sip:79161234567@clinic.mangosip.ru",
]
NOT_A_NUMBER = ["", None, "abc", "101", "0511", "sip:operator1@clinic.mangosip.ru", "+7 (916) 12"]


class TestPhoneLookup(ClinicCase):
    def test_normalize_forms(self):
        Phone = self.env["medpulse.patient.phone"]
        for raw in SAME_NUMBER_FORMS:
            with self.subTest(raw=raw):
                self.assertEqual(Phone._normalize(raw), E164)
        for raw in NOT_A_NUMBER:
            with self.subTest(raw=raw):
                self.assertIsNone(Phone._normalize(raw))

    def test_number_stored_as_typed_and_normalised(self):
        phone = self.patient.phone_ids
        self.assertEqual(phone.number, "+7 (916) 123-45-67")
        self.assertEqual(phone.number_e164, E164)
        phone.number = "8 (903) 000-11-22"
        self.assertEqual(phone.number_e164, "+79030001122")
        self.assertEqual(self.patient.phone, "8 (903) 000-11-22")

    def test_lookup_any_form(self):
        self.create_patient("Petrov", "Petr", "8 903 555 44 33")
        for raw in SAME_NUMBER_FORMS:
            with self.subTest(raw=raw):
                self.assertEqual(self.env["medpulse.patient"]._lookup_by_phone(raw), self.patient)
        for raw in NOT_A_NUMBER:
            with self.subTest(raw=raw):
                self.assertFalse(self.env["medpulse.patient"]._lookup_by_phone(raw))

    def test_lookup_second_number_and_archived(self):
        wife = self.create_patient("Ivanova", "Maria", "+7 926 000 00 01", "8 916 123 45 67")
        Patient = self.env["medpulse.patient"]
        self.assertEqual(Patient._lookup_by_phone("79260000001"), wife)
        both = Patient._lookup_by_phone("79161234567")
        self.assertEqual(set(both.ids), {wife.id, self.patient.id})
        wife.active = False
        self.assertEqual(Patient._lookup_by_phone("79161234567"), self.patient)

    def test_lookup_orders_by_last_visit(self):
        Patient = self.env["medpulse.patient"]
        son = self.create_patient("Ivanov", "Pavel", "8-916-123-45-67")
        never = self.create_patient("Ivanova", "Olga", "79161234567")
        self.book(MONDAY.replace(hour=9), patient=self.patient).state = "done"
        self.book(MONDAY.replace(hour=10), patient=son).state = "done"
        found = Patient._lookup_by_phone("+79161234567")
        self.assertEqual(found.ids, [son.id, self.patient.id, never.id])
        self.assertEqual(Patient._lookup_by_phone("+79161234567", limit=1), son)

    def test_lookup_is_one_indexed_query(self):
        Patient = self.env["medpulse.patient"]
        Patient._lookup_by_phone("79161234567")
        with self.assertQueryCount(1):
            Patient._lookup_by_phone("79161234567")
        self.env.cr.execute(
            "SELECT 1 FROM pg_indexes WHERE tablename = 'medpulse_patient_phone' "
            "AND indexdef LIKE '%%(number_e164)%%'"
        )
        self.assertTrue(self.env.cr.fetchone(), "number_e164 must be indexed")

    def test_search_phone_field_any_format(self):
        Patient = self.env["medpulse.patient"]
        for value in ("8 (916) 123-45-67", "+79161234567", "1234567", "123-45-67"):
            with self.subTest(value=value):
                self.assertIn(self.patient, Patient.search([("phone", "ilike", value)]))
        self.assertFalse(Patient.search([("phone", "ilike", "Ivanov")]))
        # the name search of the booking form accepts a number too
        self.assertIn(self.patient, Patient.search([("display_name", "ilike", "89161234567")]))

    def test_duplicate_phone_patients(self):
        wife = self.create_patient("Ivanova", "Maria", "8 916 123-45-67")
        self.assertEqual(wife._find_duplicate_phone_patients(), self.patient)
        self.assertEqual(wife.duplicate_patient_ids, self.patient)
        stranger = self.create_patient("Sidorov", "Oleg", "+7 999 000 11 22")
        self.assertFalse(stranger._find_duplicate_phone_patients())

    def test_duplicate_phone_onchange_warning(self):
        form = Form(self.env["medpulse.patient"])
        form.last_name = "Ivanova"
        form.first_name = "Maria"
        # Form() reports an onchange warning in the log: that is the warning shown
        with self.assertLogs("odoo.tests.form.onchange", "WARNING") as logs:
            with form.phone_ids.new() as line:
                line.number = "8 916 123 45 67"
        self.assertIn("Ivanov Ivan", logs.output[0])
        self.assertEqual(form.duplicate_patient_ids[:], self.patient)
        # Not a block: families share phones.
        wife = form.save()
        self.assertEqual(wife.phone_ids.number_e164, E164)
        result = wife._onchange_phone_ids_duplicates()
        self.assertIn(self.patient.name, result["warning"]["message"])

    def test_card_number_sequence(self):
        other = self.create_patient("Petrov", "Petr", "+7 903 111 22 33")
        self.assertRegex(self.patient.card_number, r"^MP-\d{6}$")
        self.assertNotEqual(other.card_number, self.patient.card_number)
        self.assertEqual(self.patient.name, "Ivanov Ivan")
        self.patient.patronymic = "Ivanovich"
        self.assertEqual(self.patient.name, "Ivanov Ivan Ivanovich")

    def test_a_new_patient_has_no_card_number_until_saved(self):
        """The form's title shows the card number: nothing (not "/") before it exists."""
        form = Form(self.env["medpulse.patient"].with_user(self.user_receptionist))
        self.assertFalse(form.card_number)
        form.last_name, form.first_name = "Sidorova", "Olga"
        self.assertRegex(form.save().card_number, r"^MP-\d{6}$")

    def test_relative_number_label(self):
        self.patient.phone_ids = [Command.create({
            "number": "+7 903 777 66 55", "label": "relative", "relative_name": "Wife",
            "sequence": 20,
        })]
        self.assertEqual(self.env["medpulse.patient"]._lookup_by_phone("89037776655"), self.patient)
        self.assertEqual(self.patient.phone, "+7 (916) 123-45-67")
