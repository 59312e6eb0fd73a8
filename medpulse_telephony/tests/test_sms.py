"""SMS through the PBX: consent, the limit, the command's lifecycle, the PBX's answers
through the signed webhook, failures, templates, and who may do what (issue 21)."""

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from mango_vpbx_emulator.testing import ACCEPTED, closed_port_url

from .click_to_call_common import ClickToCallCase
from .common import PATIENT_NUMBER, matrix_mismatches
from .test_access_matrix import ROLES
from .test_card_browser import _talking


class SmsCase(ClickToCallCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.patient.sudo().consent_sms = True
        cls.refusing = cls.env["medpulse.patient"].sudo().create({
            "last_name": "Petrov", "first_name": "Ivan", "consent_sms": False,
            "phone_ids": [(0, 0, {"number": "+7 916 765-43-21"})],
        })
        cls.company.sudo().medpulse_sms_sender = "CLINIC"

    def wizard(self, user, patient=None, text="Hello", **values):
        return self.env["medpulse.sms.send"].with_user(user).create(
            dict({"patient_id": (patient or self.patient).id, "text": text}, **values)
        )

    def sms_of(self, command_id):
        return self.env["medpulse.sms"].sudo().search([("command_id", "=", command_id)])

    def sent(self):
        return self.stub.calls("commands/sms")


@tagged("post_install", "-at_install")
class TestSms(SmsCase):
    # ------------------------------------------------------------ refused before sending

    def test_no_consent_refuses_and_sends_nothing(self):
        wizard = self.wizard(self.operator1, self.refusing)
        self.assertFalse(wizard.consent_sms)
        with self.assertRaisesRegex(UserError, "has not agreed to SMS: nothing was sent"):
            wizard.action_send()
        self.assertEqual(self.sent(), [])
        self.assertFalse(self.env["medpulse.sms"].sudo().search([]))
        self.assertFalse(self.Command.sudo().search([("kind", "=", "sms")]))

    def test_length_segments_and_the_limit(self):
        wizard = self.wizard(self.operator1, text="a" * 161)
        self.assertEqual((wizard.char_count, wizard.segments, wizard.limit, wizard.fits),
                         (161, 2, 612, True))
        wizard.text = "я" * 268
        self.assertEqual((wizard.char_count, wizard.segments, wizard.limit, wizard.fits),
                         (268, 4, 268, True))
        self.assertEqual(wizard.size_info, "268 of 268 characters, 4 SMS part(s)")
        wizard.text = "я" * 269
        self.assertFalse(wizard.fits)
        self.assertIn("Too long: 269 characters", wizard.size_info)
        with self.assertRaisesRegex(UserError, "269 characters long: the PBX sends at most 268"):
            wizard.action_send()
        wizard.text = ""
        with self.assertRaisesRegex(UserError, "no text"):
            wizard.action_send()
        self.assertEqual(self.sent(), [])

    def test_only_the_patients_numbers(self):
        with self.assertRaisesRegex(UserError, "one of the patient's numbers"):
            self.env["medpulse.sms"].with_user(self.operator1)._send(
                self.patient, "Hello", "+7 916 000-00-00"
            )
        self.assertEqual(self.sent(), [])

    def test_no_extension(self):
        with self.assertRaisesRegex(UserError, "Your user has no PBX extension"):
            self.wizard(self.operator3).action_send()
        self.assertEqual(self.sent(), [])

    # ------------------------------------------------------------ the command and its outcome

    def test_pending_is_committed_before_the_request_then_accepted(self):
        def result_before_reply(request):
            # The PBX's result beats its reply: the webhook must already find the SMS.
            self.post_webhook("result/sms", {"command_id": request.data["command_id"],
                                             "result": 1000})
            return ACCEPTED

        self.stub.script("commands/sms", result_before_reply)
        action = self.wizard(self.operator1, text="Приём завтра").action_send()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("accepted", action["params"]["message"])
        [payload] = self.sent()
        self.assertEqual(
            {k: v for k, v in payload.items() if k != "command_id"},
            {"text": "Приём завтра", "from_extension": "101", "to_number": PATIENT_NUMBER,
             "sms_sender": "CLINIC"},
        )
        self.env.invalidate_all()
        sms = self.sms_of(payload["command_id"])
        self.assertEqual(sms.state, "accepted")
        self.assertEqual(sms.pbx_command_id.kind, "sms")
        self.assertEqual(sms.pbx_command_id.result_code, 1000, "the result found the command")
        self.assertEqual((sms.patient_id, sms.user_id, sms.extension, sms.number),
                         (self.patient, self.operator1, "101", "+" + PATIENT_NUMBER))
        self.assertEqual((sms.char_count, sms.segments), (12, 1))
        self.assertEqual(self.patient.with_user(self.operator1).medpulse_sms_ids, sms)

    def test_pending_while_the_request_is_in_flight(self):
        seen = {}

        def look(request):
            seen["state"] = self.sms_of(request.data["command_id"]).state
            return ACCEPTED

        self.stub.script("commands/sms", look)
        self.wizard(self.operator1).action_send()
        self.assertEqual(seen["state"], "pending")
        [payload] = self.sent()
        self.env.invalidate_all()
        self.assertEqual(self.sms_of(payload["command_id"]).state, "accepted")

    def test_delivery_reports_through_the_signed_webhook(self):
        self.wizard(self.operator1).action_send()
        self.wizard(self.operator1).action_send()
        first, second = (p["command_id"] for p in self.sent())
        self.post_webhook("result/sms", {"command_id": first, "result": 1000})
        self.post_webhook("events/sms", {"command_id": first, "timestamp": "1764770000",
                                         "reason": "1000"})
        self.post_webhook("events/sms", {"command_id": second, "timestamp": 1764770001,
                                         "reason": 4392})
        self.env.invalidate_all()
        self.assertEqual(self.sms_of(first).state, "delivered")
        self.assertTrue(self.sms_of(first).delivered_at)
        failed = self.sms_of(second)
        self.assertEqual((failed.state, failed.pbx_code, failed.reason),
                         ("failed", 4392, "SMS rejected"))
        events = self.env["medpulse.call.event"].sudo().search([("path", "=", "events/sms")])
        self.assertEqual(events.mapped("state"), ["processed", "processed"])
        self.assertFalse(self.env["medpulse.call"].sudo().search([]), "an SMS is no call")
        # A late failure report does not undo a delivery.
        self.post_webhook("events/sms", {"command_id": first, "timestamp": 1764770100,
                                         "reason": 4301})
        self.env.invalidate_all()
        self.assertEqual(self.sms_of(first).state, "delivered")

    def test_a_refusal_in_the_result(self):
        self.wizard(self.operator1).action_send()
        [payload] = self.sent()
        self.post_webhook("result/sms", {"command_id": payload["command_id"], "result": 4300})
        self.env.invalidate_all()
        sms = self.sms_of(payload["command_id"])
        self.assertEqual((sms.state, sms.pbx_code), ("refused", 4300))
        self.assertIn("4300", sms.reason)

    # ------------------------------------------------------------ the PBX says no or is away

    def test_refused_at_once(self):
        self.stub.fail("commands/sms", 3100)
        with self.assertRaisesRegex(UserError, "3100"):
            self.wizard(self.operator1).action_send()
        [payload] = self.sent()
        sms = self.sms_of(payload["command_id"])
        self.assertEqual((sms.state, sms.pbx_code), ("refused", 3100))
        self.assertIn("3100", sms.reason)
        # The next one within two minutes would lock the account: held back, logged failed.
        with self.assertRaisesRegex(UserError, "paused until"):
            self.wizard(self.operator2).action_send()
        self.assertEqual(len(self.sent()), 1)
        held = self.env["medpulse.sms"].sudo().search([("user_id", "=", self.operator2.id)])
        self.assertEqual((held.state, held.pbx_code), ("failed", 0))

    def test_pbx_down_gives_a_failed_sms_never_a_sent_one(self):
        self.company.sudo().medpulse_pbx_api_url = closed_port_url()
        with self.assertRaisesRegex(UserError, "Could not reach the PBX"):
            self.wizard(self.operator1).action_send()
        sms = self.env["medpulse.sms"].sudo().search([])
        self.assertEqual(sms.state, "failed")
        self.assertIn("Could not reach the PBX", sms.reason)
        self.assertEqual(sms.pbx_command_id.state, "failed")

    # ------------------------------------------------------------ where it starts, templates

    def test_automatic_sms_go_from_the_company_extension(self):
        Sms = self.env["medpulse.sms"].with_user(self.operator1)
        with self.assertRaisesRegex(UserError, "No SMS extension"):
            Sms._send(self.patient, "Hello", PATIENT_NUMBER, automatic=True)
        self.company.sudo().medpulse_sms_extension = "555"
        self.assertTrue(Sms._send(self.patient, "Hello", PATIENT_NUMBER, automatic=True)["ok"])
        self.assertEqual(self.sent()[0]["from_extension"], "555")

    def test_from_the_appointment_and_the_call(self):
        appointment = self.make_appointment(self.patient)
        Wizard = self.env["medpulse.sms.send"].with_user(self.operator1)
        from_appointment = Wizard.with_context(default_appointment_id=appointment.id).create({})
        self.assertEqual((from_appointment.patient_id, from_appointment.appointment_id),
                         (self.patient, appointment))
        self.assertEqual(from_appointment.phone_id, self.patient.phone_ids)
        from_patient = Wizard.with_context(default_patient_id=self.patient.id).create({})
        self.assertEqual(from_patient.appointment_id, appointment, "the next appointment")

    def test_the_card_offers_sms_to_the_reception_with_the_consent(self):
        call = self.receive(_talking("E-SMS-PAYLOAD", "101"))
        reception = call._card_payload(self.operator1, "talking")
        self.assertTrue(reception["can_sms"])
        self.assertEqual([p["consent_sms"] for p in reception["patients"]], [True])
        self.patient.sudo().consent_sms = False
        self.assertEqual([p["consent_sms"] for p in call._card_payload(
            self.operator1, "talking")["patients"]], [False])
        # Who gets cards but does not send SMS: an operator without a clinic role, and a
        # doctor who answers the phone.
        operator = "medpulse_telephony.group_telephony_operator"
        doctor = f"{operator},medpulse_clinic.group_clinic_doctor"
        for index, groups in enumerate((operator, doctor)):
            user = new_test_user(self.env, login=f"sms_card_{index}", groups=groups)
            self.assertFalse(call._card_payload(user, "talking")["can_sms"], groups)

    def test_from_a_call_the_callers_number_and_the_appointment_booked_in_it(self):
        self.patient.sudo().phone_ids = [(0, 0, {"number": "+7 903 555-66-77"})]
        call = self.receive(_talking("E-SMS-PREFILL", "101", caller="79035556677"))
        self.assertEqual(call.sudo().patient_id, self.patient)
        next_one = self.make_appointment(self.patient)
        booked = next_one.copy({"start": "2030-02-04 10:00:00", "stop": "2030-02-04 10:30:00",
                                "call_id": call.id})
        wizard = self.env["medpulse.sms.send"].with_user(self.operator1).with_context(
            default_call_id=call.id).create({})
        self.assertEqual((wizard.patient_id, wizard.phone_id.number_e164, wizard.appointment_id),
                         (self.patient, "+79035556677", booked))
        # From the card, which names the patient (one of several with the number).
        wizard = self.env["medpulse.sms.send"].with_user(self.operator1).with_context(
            default_call_id=call.id, default_patient_id=self.patient.id).create({})
        self.assertEqual((wizard.phone_id.number_e164, wizard.appointment_id),
                         ("+79035556677", booked))

    def test_template_in_the_company_time_zone(self):
        self.company.sudo().resource_calendar_id.tz = "Asia/Yekaterinburg"  # Ufa, UTC+5
        self.company.sudo().partner_id.write(
            {"phone": "+7 347 225-10-10", "street": False, "street2": False, "city": "Ufa"})
        appointment = self.make_appointment(self.patient)  # 2030-01-07 10:00 UTC
        template = self.env["medpulse.sms.template"].sudo().create({
            "name": "T", "body": "{patient}: {date} {time}, {doctor}, {service}. {clinic_phone} "
                                 "{clinic_address} {unknown}",
        })
        wizard = self.env["medpulse.sms.send"].with_user(self.operator1).create({
            "patient_id": self.patient.id, "appointment_id": appointment.id,
            "template_id": template.id,
        })
        self.assertIn("Ivanova Anna: ", wizard.text)
        self.assertRegex(wizard.text, r"01/07/2030 3:00\sPM", "15:00 in Ufa")
        self.assertIn("Doctor C2C, Consultation (c2c). +7 347 225-10-10 Ufa {unknown}",
                      wizard.text)

    def test_shipped_templates_render(self):
        appointment = self.make_appointment(self.patient)
        for xmlid in ("reminder", "confirmed", "call_us"):
            template = self.env.ref(f"medpulse_telephony.medpulse_sms_template_{xmlid}")
            text = template._render(self.patient, appointment)
            self.assertNotIn("{", text)
            self.assertIn("Anna", text)

    def test_consent_default_and_its_log(self):
        Patient = self.env["medpulse.patient"].with_user(self.operator1).with_context(
            tracking_disable=False)
        self.assertFalse(Patient.create({"last_name": "A", "first_name": "B"}).consent_sms)
        self.company.sudo().medpulse_consent_sms_default = True
        patient = Patient.create({"last_name": "C", "first_name": "D"})
        self.assertTrue(patient.consent_sms)
        patient.env.cr.precommit.run()  # a change in the creating transaction is not tracked
        patient.consent_sms = False
        patient.env.cr.precommit.run()
        tracked = patient.sudo().message_ids.tracking_value_ids.filtered(
            lambda value: value.field_id.name == "consent_sms")
        self.assertEqual(len(tracked), 1)
        self.assertEqual(tracked.mail_message_id.author_id, self.operator1.partner_id)


#: README, "Access matrix", the SMS table: role -> what it may do (else refused).
SMS_MATRIX = {
    "operator": {"read_sms_log"},
    "receptionist": {"read_sms_log", "read_sms_text", "send_sms", "sms_from_card",
                     "read_templates"},
    "doctor": {"read_sms_log", "read_sms_text", "read_templates"},
    "telephony_manager": {"read_sms_log"},
    "clinic_manager": {"read_sms_log", "read_sms_text", "send_sms", "sms_from_card",
                       "read_templates", "manage_templates"},
    "administrator": {"read_sms_log", "read_sms_text", "export_sms_text", "send_sms",
                      "sms_from_card", "read_templates", "manage_templates", "sms_settings"},
    "portal": set(),
    "public": set(),
    "other_company": set(),
}
SMS_ACTIONS = ("read_sms_log", "read_sms_text", "export_sms_text", "send_sms", "sms_from_card",
               "read_templates", "manage_templates", "sms_settings")


@tagged("post_install", "-at_install")
class TestSmsAccessMatrix(SmsCase):
    """One check per cell of the README's SMS access table."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = {}
        for index, (role, groups) in enumerate(ROLES.items()):
            if groups is None:
                cls.users[role] = cls.env.ref("base.public_user")
                continue
            cls.users[role] = new_test_user(cls.env, login=f"sms_{role}", groups=groups)
            if role != "portal":
                cls.users[role].sudo().medpulse_pbx_extension = str(201 + index)
        company_b = cls.env["res.company"].create({"name": "SMS branch B"})
        cls.users["other_company"] = new_test_user(
            cls.env, login="sms_other_company", company_id=company_b.id,
            company_ids=[(6, 0, company_b.ids)],
            groups="medpulse_clinic.group_clinic_manager,medpulse_telephony.group_telephony_manager",
        )
        cls.users["other_company"].sudo().medpulse_pbx_extension = "299"
        # Company A's own template: shared ones (no company) are every company's.
        cls.template = cls.env["medpulse.sms.template"].create({
            "name": "Company A only", "body": "Hi {first_name}", "company_id": cls.company.id,
        })

    def setUp(self):
        super().setUp()
        self.call = self.receive(_talking("E-SMS-MATRIX", "101"))
        self.sms = self.env["medpulse.sms"].browse(
            self.env["medpulse.sms"].with_user(self.operator1)._send(
                self.patient, "Anna, see you", PATIENT_NUMBER)["sms_id"])

    def attempt(self, role, action):
        user = self.users[role]
        env = self.env(user=user)
        if action == "read_sms_log":
            found = env["medpulse.sms"].search([("id", "=", self.sms.id)])
            return bool(found.read(["number", "state"]))
        if action == "read_sms_text":
            return bool(self.sms.with_env(env).read(["text", "patient_id"])[0]["text"])
        if action == "export_sms_text":
            return bool(self.sms.with_env(env).export_data(["text"])["datas"][0][0])
        if action == "send_sms":
            return env["medpulse.sms"]._send(self.patient.with_env(env), "Hi",
                                             PATIENT_NUMBER)["ok"]
        if action == "sms_from_card":
            # The card of a call of the patient shows "Send SMS" (the client's condition).
            card = self.call._card_payload(user, "talking")
            return bool(card["can_sms"] and card["patient_id"] and not card["restricted"])
        if action == "read_templates":
            return self.template in env["medpulse.sms.template"].search([])
        if action == "manage_templates":
            self.template.with_env(env).write({"body": f"By {role}"})
            return True
        if action == "sms_settings":
            self.company.with_env(env).write({"medpulse_sms_sender": "X"})
            return True
        raise AssertionError(action)

    def test_matrix(self):
        self.assertEqual(matrix_mismatches(self, SMS_MATRIX, SMS_ACTIONS), [])


#: Paths of an SMS's export that reach patient data, and paths that do not.
SMS_PATIENT_PATHS = (
    "text", "patient_id", "patient_id/name", "patient_id/card_number",
    "appointment_id/patient_id/name", "appointment_id/start", "template_id/body",
    "pbx_command_id/patient_id", "pbx_command_id/patient_id/name",
)
SMS_OPEN_PATHS = ("number", "state", "segments", "user_id/name", "create_date")


@tagged("post_install", "-at_install")
class TestSmsExport(SmsCase):
    """Exporting the SMS log is checked like reading it, path by path (``medpulse_clinic``'s
    ``base.export_data``): who does not read an SMS's text or patient cannot export them,
    directly or through what the SMS links to; the number and the state they can."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        export = "base.group_allow_export"
        cls.exporters = {
            # Telephony managers have Odoo's "Access to export feature"; an operator is
            # given it here. Neither has a clinic role.
            "telephony_manager": new_test_user(
                cls.env, login="sms_exp_tm", groups="medpulse_telephony.group_telephony_manager"),
            "operator": new_test_user(
                cls.env, login="sms_exp_op",
                groups=f"medpulse_telephony.group_telephony_operator,{export}"),
            "receptionist": new_test_user(
                cls.env, login="sms_exp_rec",
                groups=f"medpulse_clinic.group_clinic_receptionist,{export}"),
        }

    def setUp(self):
        super().setUp()
        appointment = self.make_appointment(self.patient)
        template = self.env.ref("medpulse_telephony.medpulse_sms_template_reminder")
        answer = self.env["medpulse.sms"].with_user(self.operator1)._send(
            self.patient, "Anna, see you", PATIENT_NUMBER, appointment=appointment,
            template=template,
        )
        self.sms = self.env["medpulse.sms"].browse(answer["sms_id"])

    def export(self, role, path, cached=False):
        self.env.invalidate_all()
        if cached:
            # The superuser's values in the cache, as a record rule's check leaves them.
            self.sms.sudo().read()
            self.sms.sudo().pbx_command_id.read()
            self.sms.sudo().patient_id.read()
        with mute_logger("odoo.models", "odoo.addons.base.models.ir_model",
                         "odoo.addons.base.models.ir_rule"):
            return self.sms.with_user(self.exporters[role]).export_data([path])["datas"][0][0]

    def test_no_clinic_role_exports_no_text_or_patient(self):
        for role in ("telephony_manager", "operator"):
            for path in SMS_PATIENT_PATHS:
                for cached in (False, True):
                    with self.subTest(role=role, path=path, cached=cached), \
                            self.assertRaises(AccessError):
                        self.export(role, path, cached)
            for path in SMS_OPEN_PATHS:
                with self.subTest(role=role, path=path):
                    self.assertTrue(self.export(role, path, cached=True))
        self.assertEqual(self.export("telephony_manager", "pbx_command_id/command_id"),
                         self.sms.command_id)
        # An operator reads their own PBX commands only (record rule), and exports no other.
        with self.assertRaises(AccessError):
            self.export("operator", "pbx_command_id/command_id")

    def test_the_reception_exports_them(self):
        self.assertEqual(self.export("receptionist", "text"), "Anna, see you")
        self.assertEqual(self.export("receptionist", "patient_id/name"), "Ivanova Anna")
        self.assertEqual(self.export("receptionist", "appointment_id/patient_id/name"),
                         "Ivanova Anna")
        self.assertTrue(self.export("receptionist", "template_id/body"))


@tagged("post_install", "-at_install")
class TestSmsTour(SmsCase):
    def test_tour_send_from_the_patient_as_receptionist(self):
        self.make_appointment(self.patient)
        self.start_tour(
            f"/odoo/action-medpulse_clinic.medpulse_patient_action/{self.patient.id}",
            "medpulse_sms_send_tour",
            login="tel_op1",
        )
        [payload] = self.sent()
        self.assertTrue(payload["text"].startswith("Anna, you have an appointment with Doctor C2C"))
        self.assertEqual((payload["from_extension"], payload["to_number"]), ("101", PATIENT_NUMBER))
        sms = self.sms_of(payload["command_id"])
        self.assertEqual((sms.state, sms.user_id, sms.template_id.name),
                         ("accepted", self.operator1, "Appointment reminder"))

    def _call_booked(self, entry_id, extension):
        """A call of the patient in progress at ``extension``, an appointment booked in it."""
        call = self.receive(_talking(entry_id, extension))
        now = fields.Datetime.now()
        call.sudo().write({"created_at": now, "answered_at": now})
        appointment = self.make_appointment(self.patient)
        appointment.sudo().call_id = call
        return call, appointment

    def assert_sent_about(self, user, call, appointment):
        [payload] = self.sent()
        self.assertEqual((payload["from_extension"], payload["to_number"]),
                         (user.medpulse_pbx_extension, PATIENT_NUMBER))
        self.assertTrue(payload["text"].startswith("Anna, you are booked: Consultation (c2c)"))
        sms = self.sms_of(payload["command_id"])
        self.assertEqual((sms.state, sms.user_id, sms.patient_id, sms.appointment_id),
                         ("accepted", user, self.patient, appointment))

    def test_tour_send_from_the_card_as_receptionist(self):
        call, appointment = self._call_booked("E-SMS-CARD", "101")
        self.start_tour("/odoo", "medpulse_sms_card_tour", login="tel_op1")
        self.assert_sent_about(self.operator1, call, appointment)

    def _journal_tour(self, user, extension):
        user.medpulse_pbx_extension = extension
        call, appointment = self._call_booked(f"E-SMS-JOURNAL-{extension}", extension)
        self.start_tour("/odoo/action-medpulse_telephony.medpulse_call_action",
                        "medpulse_sms_journal_tour", login=user.login)
        self.assert_sent_about(user, call, appointment)

    def test_tour_send_from_the_journal_as_clinic_manager(self):
        self._journal_tour(new_test_user(self.env, login="sms_clinic_manager",
                                         groups="medpulse_clinic.group_clinic_manager"), "104")

    def test_tour_send_from_the_journal_as_administrator(self):
        self._journal_tour(self.env.ref("base.user_admin"), "105")
