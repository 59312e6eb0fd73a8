from odoo.tests import tagged

from .click_to_call_common import OP1, ClickToCallCase
from .common import LINE, PATIENT_NUMBER, T0, call_event

ENTRY = "E-LIVE-1"
IVR_LEG, OP1_LEG = f"{ENTRY}:ivr", f"{ENTRY}:op1"
OP2 = {"extension": "102", "number": "sip:reception2@clinic.mangosip.ru"}


def ringing():
    """A patient's call through the voice menu, now ringing operator 101."""
    ivr_to = {"number": LINE, "line_number": LINE}
    return [
        call_event(ENTRY, IVR_LEG, 1, "Appeared", T0, "ivr", {"number": PATIENT_NUMBER}, ivr_to),
        call_event(
            ENTRY,
            IVR_LEG,
            2,
            "Disconnected",
            T0 + 4,
            "ivr",
            {"number": PATIENT_NUMBER},
            ivr_to,
            disconnect_reason=1100,
        ),
        call_event(
            ENTRY,
            OP1_LEG,
            1,
            "Appeared",
            T0 + 4,
            "abonent",
            {"number": PATIENT_NUMBER, "taken_from_call_id": IVR_LEG},
            dict(OP1, line_number=LINE),
        ),
    ]


def connected():
    return ringing() + [
        call_event(
            ENTRY,
            OP1_LEG,
            2,
            "Connected",
            T0 + 9,
            "abonent",
            {"number": PATIENT_NUMBER},
            dict(OP1, line_number=LINE),
        ),
    ]


@tagged("post_install", "-at_install")
class TestCallControl(ClickToCallCase):
    def control(self, user, call):
        return call.with_user(user)

    def test_hangup_my_leg(self):
        call = self.receive(connected())
        answer = self.control(self.operator1, call).action_hangup()
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(
            self.stub.calls("commands/call/hangup"),
            [{"command_id": answer["command_id"], "call_id": OP1_LEG}],
        )
        command = self.command(answer)
        self.assertEqual(
            (command.kind, command.state, command.call_id, command.pbx_call_id),
            ("hangup", "sent", call, OP1_LEG),
        )

    def test_transfer_blind_to_colleague(self):
        call = self.receive(connected())
        answer = self.control(self.operator1, call).action_transfer(
            target_user_id=self.operator2.id
        )
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(
            self.stub.calls("commands/transfer"),
            [
                {
                    "command_id": answer["command_id"],
                    "call_id": OP1_LEG,
                    "method": "blind",
                    "to_number": "102",
                    "initiator": "101",
                }
            ],
        )
        self.assertIn("Pavel Operator", answer["message"])

    def test_transfer_to_number(self):
        call = self.receive(connected())
        answer = self.control(self.operator1, call).action_transfer(
            to_number="+7 903 555-44-33", method="hold"
        )
        self.assertTrue(answer["ok"], answer)
        [payload] = self.stub.calls("commands/transfer")
        self.assertEqual((payload["to_number"], payload["method"]), ("79035554433", "hold"))

    def test_consultative_transfer_complete_and_cancel(self):
        call = self.receive(connected())
        transfer = self.control(self.operator1, call).action_transfer(
            target_user_id=self.operator2.id, method="hold"
        )
        self.assertTrue(transfer["ok"], transfer)
        consult = f"{ENTRY}:consult"
        self.receive(
            [
                call_event(
                    ENTRY,
                    OP1_LEG,
                    3,
                    "OnHold",
                    T0 + 20,
                    "abonent",
                    {"number": PATIENT_NUMBER},
                    dict(OP1, line_number=LINE),
                ),
                call_event(
                    ENTRY,
                    consult,
                    1,
                    "Appeared",
                    T0 + 20,
                    "abonent",
                    dict(OP1, taken_from_call_id=OP1_LEG),
                    OP2,
                    command_id=transfer["command_id"],
                ),
                call_event(
                    ENTRY,
                    consult,
                    2,
                    "Connected",
                    T0 + 25,
                    "abonent",
                    OP1,
                    OP2,
                    command_id=transfer["command_id"],
                ),
            ]
        )
        complete = self.control(self.operator1, call).action_transfer_complete()
        self.assertTrue(complete["ok"], complete)
        self.assertEqual(
            self.stub.calls("commands/calls_connect"),
            [
                {
                    "command_id": complete["command_id"],
                    "holded_call_id": OP1_LEG,
                    "transferred_call_id": consult,
                    "transfer_initiator_number": "101",
                }
            ],
        )
        cancel = self.control(self.operator1, call).action_transfer_cancel()
        self.assertTrue(cancel["ok"], cancel)
        self.assertEqual(
            self.stub.calls("commands/transfer_cancel"),
            [{"command_id": cancel["command_id"], "call_id": consult}],
        )

    def test_no_transfer_in_progress(self):
        call = self.receive(connected())
        answer = self.control(self.operator1, call).action_transfer_complete()
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["message"], "There is no transfer in progress on this call.")
        self.assertFalse(self.stub.requests)

    def test_route_ringing_call(self):
        call = self.receive(ringing())
        answer = self.control(self.operator1, call).action_route(target_user_id=self.operator2.id)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(
            self.stub.calls("commands/route"),
            [{"command_id": answer["command_id"], "call_id": OP1_LEG, "to_number": "102"}],
        )

    def test_transfer_needs_a_connected_leg(self):
        call = self.receive(ringing())
        answer = self.control(self.operator1, call).action_transfer(
            target_user_id=self.operator2.id
        )
        self.assertFalse(answer["ok"])
        self.assertFalse(self.stub.requests)

    def test_rights(self):
        call = self.receive(connected())
        answer = self.control(self.operator2, call).action_hangup()
        self.assertEqual(
            answer, {"ok": False, "message": "You are not part of this call.", "command_id": False}
        )
        self.manager.sudo().medpulse_pbx_extension = "109"
        answer = self.control(self.manager, call).action_hangup()
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(self.stub.calls("commands/call/hangup")[0]["call_id"], OP1_LEG)
        plain = self.env["res.users"].sudo().create({"name": "Plain", "login": "c2c_plain"})
        answer = call.with_user(plain).action_hangup()
        self.assertFalse(answer["ok"])
        self.assertEqual(len(self.stub.requests), 1)

    def test_refused_command_is_failed(self):
        call = self.receive(connected())
        self.stub.script("commands/call/hangup", (200, {"result": 4101}))
        answer = self.control(self.operator1, call).action_hangup()
        self.assertFalse(answer["ok"])
        self.assertIn("4101", answer["message"])
        self.assertEqual(self.command(answer).state, "failed")

    def test_target_without_extension(self):
        call = self.receive(connected())
        answer = self.control(self.operator1, call).action_transfer(
            target_user_id=self.operator3.id
        )
        self.assertEqual(answer["message"], "This colleague has no PBX extension.")
        self.assertFalse(self.stub.requests)
