"""Click-to-call fixtures: the PBX replaced by the PBX double, events through the real webhook.

The double accepts every command (``ACCEPTED``) unless a test scripts otherwise: the
calls exist only in the events the tests deliver, not in the emulator behind the double.
"""

import json

import requests

from odoo import Command
from odoo.tests import HttpCase

import mango_vpbx
from mango_vpbx_emulator.testing import ACCEPTED, PbxDouble

from .common import API_KEY, API_SALT, LINE, PATIENT_NUMBER, TelephonyFixtures, call_event

DESK_PHONE = "sip:desk101@clinic.mangosip.ru"
OP1 = {"extension": "101", "number": "sip:reception1@clinic.mangosip.ru"}


def callback_events(entry_id, command_id, t0, callee=PATIENT_NUMBER, operator=None, answered=True):
    """A ``commands/callback`` as the PBX runs it (official example 246).

    The first leg rings the operator (``to``) on behalf of the patient (``from``); once
    the operator picks up, a second leg rings the patient.
    """
    operator = OP1 if operator is None else operator
    first, second = f"{entry_id}:op", f"{entry_id}:pt"
    events = [
        call_event(
            entry_id,
            first,
            1,
            "Appeared",
            t0,
            "abonent",
            {"number": callee},
            operator,
            command_id=command_id,
            callback_initiator="API",
        ),
        call_event(
            entry_id,
            first,
            2,
            "Connected",
            t0 + 3,
            "abonent",
            {"number": callee},
            operator,
            command_id=command_id,
            callback_initiator="API",
        ),
        call_event(
            entry_id,
            second,
            1,
            "Appeared",
            t0 + 3,
            "abonent",
            dict(operator, taken_from_call_id=first),
            {"number": callee, "line_number": LINE},
        ),
    ]
    if answered:
        events += [
            call_event(
                entry_id, second, 2, "Connected", t0 + 9, "abonent", operator, {"number": callee}
            ),
            call_event(
                entry_id,
                second,
                3,
                "Disconnected",
                t0 + 69,
                "abonent",
                operator,
                {"number": callee},
                disconnect_reason=1110,
            ),
        ]
    else:
        events += [
            call_event(
                entry_id,
                second,
                2,
                "Disconnected",
                t0 + 33,
                "abonent",
                operator,
                {"number": callee},
                disconnect_reason=1111,
            ),
        ]
    events.append(
        call_event(
            entry_id,
            first,
            3,
            "Disconnected",
            t0 + (69 if answered else 33),
            "abonent",
            {"number": callee},
            operator,
            disconnect_reason=1110,
            command_id=command_id,
        )
    )
    return events


class ClickToCallCase(HttpCase, TelephonyFixtures):
    """HttpCase, because the webhook must run in its own request while a command waits."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.setup_telephony()
        cls.stub = PbxDouble(API_KEY, API_SALT, require_signature=True).start()
        cls.addClassCleanup(cls.stub.stop)
        cls.line = (
            cls.env["medpulse.telephony.line"]
            .sudo()
            .create(
                {
                    "name": "Main number",
                    "number": LINE,
                    "company_id": cls.company.id,
                }
            )
        )
        cls.company.sudo().write(
            {
                "medpulse_pbx_api_url": cls.stub.url,
                "medpulse_medpulse_pbx_callback_line_id": cls.line.id,
            }
        )
        cls.Command = cls.env["medpulse.call.command"]

    def setUp(self):
        super().setUp()
        self.stub.reset()
        self.stub.script("*", ACCEPTED)

    def click(self, user, number, record=None, desk_number=False, desk_device_id=False):
        return self.Command.with_user(user).action_click_to_call(
            number,
            record._name if record else False,
            record.id if record else False,
            desk_number,
            desk_device_id,
        )

    def command(self, answer):
        return self.Command.sudo().search([("command_id", "=", answer["command_id"])])

    def post_webhook(self, path, payload):
        """Deliver one signed event through the real webhook (any thread may call this)."""
        response = requests.post(
            f"{self.base_url()}/mango/{path}",
            data=mango_vpbx.encode(payload, API_KEY, API_SALT),
            timeout=30,
        )
        response.raise_for_status()

    def deliver(self, events):
        for path, payload in events:
            self.post_webhook(path, payload)
        self.env.invalidate_all()

    def call_of(self, entry_id):
        return self.env["medpulse.call"].sudo().search([("entry_id", "=", entry_id)])

    def bus_payloads(self, user, notification_type="medpulse_telephony.command"):
        self.env.cr.precommit.run()
        channel = json.dumps(
            [self.env.cr.dbname, "res.partner", user.partner_id.id], separators=(",", ":")
        )
        messages = self.env["bus.bus"].sudo().search([("channel", "=", channel)], order="id")
        payloads = []
        for message in messages:
            content = json.loads(message.message)
            if content["type"] == notification_type:
                payloads.append(content["payload"])
        return payloads

    def make_appointment(self, patient):
        env = self.env(su=True)
        specialty = env["medpulse.specialty"].create({"name": "Therapy (c2c)"})
        service = env["medpulse.service"].create(
            {
                "name": "Consultation (c2c)",
                "code": "C2C",
                "duration": 30,
                "specialty_id": specialty.id,
            }
        )
        doctor = env["medpulse.doctor"].create(
            {
                "name": "Doctor C2C",
                "specialty_id": specialty.id,
                "service_ids": [Command.set(service.ids)],
            }
        )
        return env["medpulse.appointment"].create(
            {
                "patient_id": patient.id,
                "doctor_id": doctor.id,
                "service_id": service.id,
                "start": "2030-01-07 10:00:00",
            }
        )
