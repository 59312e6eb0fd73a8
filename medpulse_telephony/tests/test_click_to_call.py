import time

from lxml import etree

from odoo.tests import tagged

from mango_vpbx_emulator.testing import ACCEPTED

from .click_to_call_common import DESK_PHONE, ClickToCallCase, callback_events
from .common import LINE, PATIENT_NUMBER, T0, incoming_missed


@tagged("post_install", "-at_install")
class TestClickToCall(ClickToCallCase):
    # ------------------------------------------------------------ the signed request

    def test_from_patient(self):
        answer = self.click(self.operator1, "+7 (916) 123-45-67", self.patient)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["message"], "Calling… pick up your phone")
        [request] = self.stub.requests
        self.assertTrue(request.signed)
        self.assertEqual(request.path, "commands/callback")
        self.assertEqual(
            request.data,
            {
                "command_id": answer["command_id"],
                "from": {"extension": "101"},
                "to_number": PATIENT_NUMBER,
                "line_number": LINE,
            },
        )
        command = self.command(answer)
        self.assertEqual(command.state, "sent")
        self.assertEqual(command.kind, "callback")
        self.assertEqual(command.patient_id, self.patient)
        self.assertEqual((command.res_model, command.res_id), ("medpulse.patient", self.patient.id))
        self.assertEqual(command.number_e164, "+" + PATIENT_NUMBER)
        self.assertEqual(command.user_id, self.operator1)

    def test_from_appointment_with_user_line_and_desk_phone(self):
        appointment = self.make_appointment(self.patient)
        own_line = (
            self.env["medpulse.telephony.line"]
            .sudo()
            .create({"name": "Reception", "number": "74957654321"})
        )
        self.operator1.sudo().medpulse_pbx_callback_line_id = own_line
        self.env["medpulse.telephony.user.number"].sudo().create(
            {"user_id": self.operator1.id, "number": DESK_PHONE, "kind": "desk"}
        )
        answer = self.click(
            self.operator1, appointment.patient_phone, appointment, desk_number=DESK_PHONE
        )
        self.assertTrue(answer["ok"], answer)
        [payload] = self.stub.calls("commands/callback")
        self.assertEqual(payload["from"], {"extension": "101", "number": DESK_PHONE})
        self.assertEqual(payload["line_number"], "74957654321")
        self.assertEqual(payload["to_number"], PATIENT_NUMBER)
        command = self.command(answer)
        self.assertEqual(command.desk_number, DESK_PHONE)
        self.assertEqual(command.patient_id, self.patient)
        self.assertEqual(command.res_model, "medpulse.appointment")

    def test_from_missed_call(self):
        missed = self.receive(incoming_missed())
        answer = self.click(self.operator1, missed.external_number_display, missed)
        self.assertTrue(answer["ok"], answer)
        [payload] = self.stub.calls("commands/callback")
        self.assertEqual(payload["to_number"], PATIENT_NUMBER)
        self.assertNotIn("number", payload["from"])
        command = self.command(answer)
        self.assertEqual(command.patient_id, self.patient)
        self.assertEqual((command.res_model, command.res_id), ("medpulse.call", missed.id))

    def test_desk_phone_bound_to_the_browser(self):
        Device = self.env["medpulse.telephony.user.number"].sudo()
        desk = Device.create({"user_id": self.operator1.id, "number": DESK_PHONE, "kind": "desk"})
        other = Device.create(
            {"user_id": self.operator2.id, "number": "sip:desk102@x", "kind": "desk"}
        )
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient, desk_device_id=desk.id)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(
            self.stub.requests[-1].data["from"], {"extension": "101", "number": DESK_PHONE}
        )
        # A colleague's desk phone is not ours to ring.
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient, desk_device_id=other.id)
        self.assertEqual(self.stub.requests[-1].data["from"], {"extension": "101"})

    def test_a_desk_number_that_is_not_one_of_mine_is_refused(self):
        """S4: the PBX rings whatever ``from.number`` it is given: only the caller's devices."""
        Device = self.env["medpulse.telephony.user.number"].sudo()
        Device.create({"user_id": self.operator1.id, "number": DESK_PHONE, "kind": "desk"})
        Device.create({"user_id": self.operator2.id, "number": "sip:desk102@x", "kind": "desk"})
        commands = self.env["medpulse.call.command"].sudo().search_count([])
        for foreign in ("sip:desk102@x", "+7 916 000-00-99", "79160000099"):
            with self.subTest(desk_number=foreign):
                answer = self.click(
                    self.operator1, PATIENT_NUMBER, self.patient, desk_number=foreign
                )
                self.assertFalse(answer["ok"])
                self.assertIn("not one of your phones", answer["message"])
        self.assertEqual(self.stub.requests, [], "nothing was sent to the PBX")
        self.assertEqual(self.env["medpulse.call.command"].sudo().search_count([]), commands)
        # My own desk phone, written another way, is mine.
        answer = self.click(
            self.operator1, PATIENT_NUMBER, self.patient,
            desk_number="SIP:Desk101@clinic.mangosip.ru",
        )
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(
            self.stub.requests[-1].data["from"], {"extension": "101", "number": DESK_PHONE}
        )

    def test_numbers_use_the_phone_widget(self):
        """The call button lives in the phone widget: every number we show must use it."""
        cases = [
            ("medpulse.patient", "list", False, "phone"),
            ("medpulse.patient", "form", False, "number"),
            ("medpulse.appointment", "calendar", False, "patient_phone"),
            ("medpulse.appointment", "list", False, "patient_phone"),
            ("medpulse.appointment", "form", False, "patient_phone"),
            ("medpulse.call", "list", False, "external_number_display"),
            ("medpulse.call", "form", False, "caller_number"),
            ("medpulse.call.callback", "list", False, "e164"),
            ("medpulse.call.callback", "form", False, "e164"),
        ]
        for model, view_type, xmlid, field in cases:
            view_id = self.env.ref(xmlid).id if xmlid else False
            arch = self.env[model].with_user(self.operator1).get_view(view_id, view_type)["arch"]
            nodes = etree.fromstring(arch).xpath(f"//field[@name='{field}']")
            self.assertTrue(nodes, (model, view_type, field))
            self.assertEqual(nodes[0].get("widget"), "phone", (model, view_type, field))
        arch = self.env["medpulse.call.callback"].get_view(
            self.env.ref("medpulse_telephony.medpulse_call_callback_view_list").id, "list"
        )["arch"]
        self.assertTrue(etree.fromstring(arch).xpath("//button[@name='action_call_back']"))

    def test_call_back_button_dials_from_the_browser(self):
        missed = self.receive(incoming_missed())
        action = missed.with_user(self.operator1).action_call_back()
        self.assertEqual(action["tag"], "medpulse_telephony.click_to_call")
        self.assertEqual(
            action["params"],
            {"number": "+" + PATIENT_NUMBER, "res_model": "medpulse.call", "res_id": missed.id},
        )
        self.assertFalse(self.stub.requests, "the browser places the call, not the button")

    def test_unknown_number_from_partner(self):
        partner = self.env["res.partner"].create({"name": "Supplier", "phone": "+7 495 000-11-22"})
        answer = self.click(self.operator1, partner.phone, partner)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(self.stub.calls("commands/callback")[0]["to_number"], "74950001122")
        self.assertFalse(self.command(answer).patient_id)

    # ------------------------------------------------------------ errors

    def assertFailed(self, answer, text, sent=0):
        self.assertFalse(answer["ok"], answer)
        self.assertIn(text, answer["message"])
        self.assertEqual(len(self.stub.requests), sent)
        self.assertFalse(
            self.env["medpulse.call"].sudo().search([]), "no phantom call in the journal"
        )

    def test_error_no_extension(self):
        answer = self.click(self.operator3, PATIENT_NUMBER, self.patient)
        self.assertFailed(
            answer, "Your user has no PBX extension: set it in Settings ▸ Users ▸ Telephony"
        )
        self.assertFalse(self.Command.sudo().search([]))

    def test_error_not_configured(self):
        self.company.sudo().medpulse_pbx_api_salt = False
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.assertFailed(answer, "is not configured")

    def test_error_not_a_number(self):
        answer = self.click(self.operator1, "call me maybe", self.patient)
        self.assertFailed(answer, "is not a phone number")

    def test_error_refused_then_lockout_rule(self):
        self.stub.script("commands/callback", (400, {"code": 3104}))
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.assertFailed(answer, "3104", sent=1)
        command = self.command(answer)
        self.assertEqual(command.state, "failed")
        self.assertEqual(command.error_code, 3104)
        self.assertEqual(command.error_text, answer["message"])
        # A second invalid request within two minutes would lock the account: it is held
        # back locally, by another client (another worker) sharing the database store.
        second = self.click(self.operator2, PATIENT_NUMBER, self.patient)
        self.assertFailed(second, "paused until", sent=1)
        self.assertEqual(self.command(second).state, "failed")

    def test_error_unreachable(self):
        self.company.sudo().medpulse_pbx_api_url = "http://127.0.0.1:9/vpbx/"
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.assertFailed(answer, "Could not reach the PBX")
        self.assertEqual(self.command(answer).state, "failed")

    def test_error_rate_limited(self):
        """The PBX refuses the call over its request limits: the client sends it again once
        after the PBX's second (the PBX did nothing with it); refused again, the operator
        reads why."""
        self.stub.script(
            "commands/callback", (429, {"status": 429, "message": "Rate limit exceeded."})
        )
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.assertFailed(answer, "request limit", sent=2)
        self.assertEqual(self.command(answer).state, "failed")

    def test_rate_limited_once_then_accepted(self):
        self.stub.script(
            "commands/callback",
            (429, {"status": 429, "message": "Rate limit exceeded."}, {"Retry-After": "1"}),
            (200, {"result": 1000}),
        )
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(len(self.stub.requests), 2)
        self.assertEqual(self.command(answer).state, "sent")

    def test_error_result_notification(self):
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.post_webhook("result/callback", {"command_id": answer["command_id"], "result": "3100"})
        self.env.invalidate_all()
        command = self.command(answer)
        self.assertEqual(command.state, "failed")
        self.assertEqual(command.result_code, 3100)
        [payload] = self.bus_payloads(self.operator1)
        self.assertEqual(payload["state"], "failed")
        self.assertIn("3100", payload["message"])
        self.assertFalse(self.env["medpulse.call"].sudo().search([]))

    def test_success_result_notification(self):
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.post_webhook("result/callback", {"command_id": answer["command_id"], "result": 1000})
        self.env.invalidate_all()
        self.assertEqual(self.command(answer).state, "accepted")

    # ------------------------------------------------------------ the call it produces

    def test_events_before_the_reply_link_patient_and_appointment(self):
        # Another patient shares the number and would win the lookup: the call must
        # still belong to the patient the operator clicked.
        namesake = (
            self.env["medpulse.patient"]
            .sudo()
            .create(
                {
                    "last_name": "Ivanov",
                    "first_name": "Boris",
                    "phone_ids": [(0, 0, {"number": PATIENT_NUMBER})],
                }
            )
        )
        self.assertEqual(
            self.env["medpulse.patient"].sudo()._lookup_by_phone(PATIENT_NUMBER, limit=1), namesake
        )
        appointment = self.make_appointment(self.patient)
        events = {}

        def before_reply(request):
            events["all"] = callback_events("E-C2C-1", request.data["command_id"], T0)
            for event_path, event in events["all"][:2]:
                self.post_webhook(event_path, event)
            return ACCEPTED

        self.stub.script("commands/callback", before_reply)
        answer = self.click(self.operator1, appointment.patient_phone, appointment)
        self.assertTrue(answer["ok"], answer)
        self.env.invalidate_all()
        call = self.call_of("E-C2C-1")
        command = self.command(answer)
        self.assertEqual(command.call_id, call)
        self.assertEqual(command.state, "accepted", "the reply must not move it back to 'sent'")
        self.assertEqual(call.patient_id, self.patient)
        self.assertIn(self.patient, call.patient_ids)
        self.assertEqual(appointment.call_id, call)
        phases = [p["phase"] for p in self.bus_payloads(self.operator1)]
        self.assertEqual(phases, ["ringing_operator", "operator_connected"])

        self.deliver(events["all"][2:])
        self.assertEqual(call.direction, "outgoing")
        self.assertEqual(call.result, "answered")
        self.assertEqual(call.operator_user_id, self.operator1)
        self.assertEqual(call.patient_id, self.patient)
        self.assertEqual(self.bus_payloads(self.operator1)[-1]["phase"], "ended")

    def test_missed_call_called_back(self):
        missed = self.receive(incoming_missed(t0=T0 - 3600))
        self.assertEqual(missed.followup_state, "needs_callback")
        answer = self.click(self.operator1, missed.external_number_display, missed)
        self.deliver(callback_events("E-C2C-2", answer["command_id"], T0))
        call = self.call_of("E-C2C-2")
        self.assertEqual(call.result, "answered")
        self.assertEqual(missed.followup_state, "called_back")
        self.assertEqual(missed.closed_by_call_id, call)

    def test_missed_call_called_back_on_another_number(self):
        missed = self.receive(incoming_missed(t0=T0 - 3600))
        answer = self.click(self.operator1, "+7 903 555-44-33", missed)
        self.deliver(callback_events("E-C2C-3", answer["command_id"], T0, callee="79035554433"))
        self.assertEqual(missed.followup_state, "called_back")
        self.assertEqual(missed.closed_by_call_id, self.call_of("E-C2C-3"))
        self.assertEqual(self.call_of("E-C2C-3").patient_id, self.patient)

    def test_unanswered_callback_keeps_missed_call_open(self):
        missed = self.receive(incoming_missed(t0=T0 - 3600))
        answer = self.click(self.operator1, missed.external_number_display, missed)
        self.deliver(callback_events("E-C2C-4", answer["command_id"], T0, answered=False))
        self.assertEqual(self.call_of("E-C2C-4").result, "missed")
        self.assertEqual(missed.followup_state, "needs_callback")
        last = self.bus_payloads(self.operator1)[-1]
        self.assertEqual(last["phase"], "ended")
        self.assertTrue(last["message"])


@tagged("post_install", "-at_install")
class TestLimitStore(ClickToCallCase):
    def test_budget_and_blocks_are_shared(self):
        from ..models.medpulse_telephony_limit import DatabaseLimitStore

        now = [1000.0]
        first = DatabaseLimitStore(self.registry, clock=lambda: now[0])
        second = DatabaseLimitStore(self.registry, clock=lambda: now[0])
        bucket = [("acct:commands/callback", 4, 1.0)]
        for store in (first, second, first, second):
            self.assertEqual(store.acquire(bucket), 0.0)
        self.assertAlmostEqual(first.acquire(bucket), 1.0, places=3)
        now[0] += 1.0
        self.assertEqual(second.acquire(bucket), 0.0)
        self.assertIsNone(second.blocked_until("acct:invalid"))
        first.block("acct:invalid", now[0] + 120)
        self.assertEqual(second.blocked_until("acct:invalid"), now[0] + 120)
        second.block("acct:invalid", now[0] + 10)
        self.assertEqual(
            first.blocked_until("acct:invalid"), now[0] + 120, "a block is never shortened"
        )
        now[0] += 121
        self.assertIsNone(first.blocked_until("acct:invalid"))

    def test_company_client_uses_the_database_store(self):
        client = self.company._medpulse_pbx_client()
        self.assertEqual(type(client.limiter).__name__, "DatabaseLimitStore")
        client.limiter.block(client._scope("invalid"), time.time() + 60)
        answer = self.click(self.operator1, PATIENT_NUMBER, self.patient)
        self.assertFalse(answer["ok"])
        self.assertIn("paused until", answer["message"])
        self.assertFalse(self.stub.requests)


@tagged("post_install", "-at_install")
class TestClickToCallTour(ClickToCallCase):
    def test_tour_call_from_patient_form(self):
        self.start_tour(
            f"/odoo/action-medpulse_clinic.medpulse_patient_action/{self.patient.id}",
            "medpulse_click_to_call_tour",
            login="tel_op1",
        )
        [payload] = self.stub.calls("commands/callback")
        self.assertEqual(payload["from"], {"extension": "101"})
        self.assertEqual(payload["to_number"], PATIENT_NUMBER)
        command = self.Command.sudo().search([("command_id", "=", payload["command_id"])])
        self.assertEqual(
            (command.res_model, command.patient_id), ("medpulse.patient.phone", self.patient)
        )
