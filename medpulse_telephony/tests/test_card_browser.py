"""The incoming-call card among Odoo's own layers and in Russian, in a real browser.

Each tour starts on a page where the user's call is in progress: its card comes back
at load (``get_active_cards``), as after a reload during a call.
"""

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged

from .common import LINE, PATIENT_NUMBER, T0, TelephonyFixtures, call_event


def _talking(entry_id, extension, caller=PATIENT_NUMBER):
    """The IVR, then ``extension`` rings and picks up: a call in progress."""
    ivr_to = {"number": LINE, "line_number": LINE}
    operator = {"extension": extension, "number": f"sip:op{extension}@clinic.mangosip.ru",
                "line_number": LINE}
    return [
        call_event(entry_id, f"{entry_id}:ivr", 1, "Appeared", T0, "ivr", {"number": caller},
                   ivr_to),
        call_event(entry_id, f"{entry_id}:ivr", 2, "Disconnected", T0 + 4, "ivr",
                   {"number": caller}, ivr_to, disconnect_reason=1100),
        call_event(entry_id, f"{entry_id}:op", 1, "Appeared", T0 + 4, "abonent",
                   {"number": caller, "taken_from_call_id": f"{entry_id}:ivr"}, operator),
        call_event(entry_id, f"{entry_id}:op", 2, "Connected", T0 + 9, "abonent",
                   {"number": caller}, operator),
    ]


@tagged("post_install", "-at_install")
class TestCardInBrowser(TelephonyFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        service = cls.env["medpulse.service"].create(
            {"name": "Card Tour Consultation", "duration": 30}
        )
        cls.env["medpulse.doctor"].create({
            "name": "Card Tour Doctor", "resource_calendar_id": False,
            "service_ids": [Command.set(service.ids)],
        })

    def _call_in_progress(self, entry_id, extension):
        call = self.receive(_talking(entry_id, extension))
        # The PBX's time of the call is in the past; the card comes back for calls of "now"
        # (and its timer counts from the answer).
        now = fields.Datetime.now()
        call.sudo().write({"created_at": now, "answered_at": now})
        return call

    def test_card_leaves_notifications_and_dialogs_usable(self):
        call = self._call_in_progress("E-TOUR-LAYERS", "101")
        self.start_tour("/odoo", "medpulse_card_layers_tour", login=self.operator1.login)
        appointment = self.env["medpulse.appointment"].search([("call_id", "=", call.id)])
        self.assertEqual((appointment.origin, appointment.patient_id), ("phone", self.patient))

    def test_card_in_russian(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        installed = self.env["ir.module.module"].search([("state", "=", "installed")])
        installed._update_translations(["ru_RU"])
        russian = new_test_user(
            self.env, login="tel_ru", name="Ольга Регистратор", lang="ru_RU",
            groups="medpulse_clinic.group_clinic_receptionist",
        )
        russian.medpulse_pbx_extension = "105"
        self._call_in_progress("E-TOUR-RU", "105")
        self.start_tour("/odoo", "medpulse_card_russian_tour", login=russian.login)
