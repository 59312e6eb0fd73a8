"""The waiting list's screens in a real browser (issue 22, part 3), as each clinic role that
works with them (the receptionist, the clinic manager); the doctor and an operator without
a clinic role reach none of them."""

import json

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .test_card_browser import _talking
from .test_waitlist import WED_10, WaitlistCase

SCREENS = (
    "medpulse_telephony.medpulse_waitlist_action",
    "medpulse_telephony.medpulse_waitlist_offer_action",
    "medpulse_telephony.medpulse_waitlist_slot_action",
    "medpulse_telephony.medpulse_waitlist_slot_action_report",
)
MENUS = (
    "medpulse_telephony.medpulse_waitlist_menu",
    "medpulse_telephony.medpulse_waitlist_offer_menu",
    "medpulse_telephony.medpulse_waitlist_slot_menu",
    "medpulse_telephony.medpulse_waitlist_slot_report_menu",
)


@tagged("post_install", "-at_install")
class TestWaitlistTours(WaitlistCase):
    def two_waiting(self):
        first = self.wait(self.patient, since_days=20, hour_from=9, hour_to=13)
        second = self.wait(self.no_call, since_days=5)
        return first, second

    def test_card_of_a_waiting_caller_as_receptionist(self):
        self.wait(self.patient)
        call = self.receive(_talking("E-WAIT-TOUR", "101"))
        now = fields.Datetime.now()
        call.sudo().write({"created_at": now, "answered_at": now})
        self.start_tour("/odoo", "medpulse_waitlist_card_tour", login=self.operator1.login)
        added = self.Waitlist.search([("patient_id", "=", self.patient.id),
                                      ("doctor_id", "=", self.other_doctor.id)])
        self.assertEqual((added.state, added.specialty_id), ("waiting", self.specialty))

    def test_from_the_schedule_as_each_clinic_role(self):
        appointment = self.book(self.no_sms, WED_10)
        for user in (self.operator1, self.clinic_manager):
            self.start_tour(f"/odoo/medpulse.appointment/{appointment.id}",
                            "medpulse_waitlist_schedule_tour", login=user.login)
            entry = self.Waitlist.search([("patient_id", "=", self.no_sms.id),
                                          ("create_uid", "=", user.id)])
            self.assertEqual((entry.doctor_id, entry.service_id, entry.priority),
                             (self.doctor, self.service, "2"))

    def test_waiting_list_as_each_clinic_role(self):
        self.two_waiting()
        for user in (self.operator1, self.clinic_manager):
            self.start_tour("/odoo/action-medpulse_telephony.medpulse_waitlist_action",
                            "medpulse_waitlist_list_tour", login=user.login)

    def test_offer_worklist_as_receptionist(self):
        first, second = self.two_waiting()
        slot = self.free()
        self.start_tour("/odoo/action-medpulse_telephony.medpulse_waitlist_offer_action",
                        "medpulse_waitlist_offer_tour", login=self.operator1.login)
        self.assertEqual((slot.state, slot.booked_by_id, first.state, second.state),
                         ("refilled", self.operator1, "booked", "waiting"))

    def test_offer_worklist_as_clinic_manager(self):
        first, _second = self.two_waiting()
        slot = self.free()
        self.start_tour("/odoo/action-medpulse_telephony.medpulse_waitlist_offer_action",
                        "medpulse_waitlist_offer_tour", login=self.clinic_manager.login)
        self.assertEqual((slot.booked_by_id, first.state), (self.clinic_manager, "booked"))

    def test_refill_report_as_each_clinic_role(self):
        self.two_waiting()
        self.free()
        for user in (self.operator1, self.clinic_manager):
            self.start_tour("/odoo/action-medpulse_telephony.medpulse_waitlist_slot_action_report",
                            "medpulse_waitlist_report_tour", login=user.login)

    def test_doctor_and_operator_without_clinic_role_reach_nothing(self):
        self.two_waiting()
        self.free()
        menus = [self.env.ref(xmlid).id for xmlid in MENUS]
        for user in (self.operator1, self.clinic_manager):
            visible = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
            self.assertTrue(set(menus) <= visible, user.login)
        for user in (self.doctor_user, self.no_clinic):
            visible = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
            self.assertFalse(set(menus) & visible, user.login)
            self.authenticate(user.login, user.login)
            for xmlid in SCREENS:
                model = self.env.ref(xmlid).res_model
                with mute_logger("odoo.http"):  # the refusal is logged as a warning
                    answer = self.url_open("/web/dataset/call_kw", data=json.dumps({
                        "jsonrpc": "2.0", "method": "call", "id": 1,
                        "params": {"model": model, "method": "web_search_read", "args": [[]],
                                   "kwargs": {"specification": {"display_name": {}}}},
                    }), headers={"Content-Type": "application/json"}).json()
                self.assertEqual(answer["error"]["data"]["name"],
                                 "odoo.exceptions.AccessError", f"{user.login} {model}")
