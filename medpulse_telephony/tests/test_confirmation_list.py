"""The confirmation call list (issue 21, part 2): "Next patient" and its claims, two
operators on one list (in turn, and at the same moment on real transactions), one-click
outcomes written back to the appointment, no answer retried then unreachable, the call
through the existing click-to-call, the manager's progress, and who may work it."""

import threading
import uuid
from datetime import date, timedelta

from odoo import Command, api, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from ..models.medpulse_confirmation_item import CLAIM_MINUTES
from ..models.medpulse_reminder import day_bounds, local_day
from .common import PATIENT_NUMBER
from .reminder_common import ReminderCase, utc

#: The list's appointments: the 9th from 10:00 in Ufa.
FIRST = utc(2030, 1, 9, 5, 0)


class ListCase(ReminderCase):
    def list_appointments(self, *patients, start=FIRST):
        """Appointments of the patients on the 9th, one hour apart, on the call list."""
        items = self.Item
        for index, patient in enumerate(patients):
            appointment = self.book(patient, start + timedelta(hours=index))
            items |= self.Item._list_appointment(
                appointment, self.rule, patient.phone_ids[:1].number_e164)
        return items

    def next_for(self, user):
        action = self.Item.with_user(user).action_next_patient()
        if action.get("res_model") != self.Item._name:
            return self.Item
        return self.Item.browse(action["res_id"])


@tagged("post_install", "-at_install")
class TestConfirmationList(ListCase):
    def test_next_patient_gives_each_operator_a_different_patient(self):
        first, second = self.list_appointments(self.patient, self.no_sms)
        self.assertEqual(self.next_for(self.operator1), first, "the earliest appointment first")
        self.assertEqual(self.next_for(self.operator2), second, "not the colleague's")
        self.assertEqual(self.next_for(self.operator1), first, "still mine until worked")
        self.assertFalse(self.next_for(self.manager), "nobody left")
        self.assertEqual(first.being_called_by_id, self.operator1)
        with self.assertRaisesRegex(UserError, "Olga Operator is calling this patient"):
            first.with_user(self.operator2).action_confirmed()

    def test_a_claim_not_worked_expires(self):
        [item] = self.list_appointments(self.patient)
        self.assertEqual(self.next_for(self.operator1), item)
        item.sudo().claim_expires_at = fields.Datetime.now() - timedelta(seconds=1)
        self.assertFalse(item.being_called_by_id)
        self.assertEqual(self.next_for(self.operator2), item, "the claim expired")
        self.assertGreater(item.claim_expires_at,
                           fields.Datetime.now() + timedelta(minutes=CLAIM_MINUTES - 1))

    def test_confirmed(self):
        [item] = self.list_appointments(self.patient)
        self.next_for(self.operator1)
        action = item.with_user(self.operator1).action_confirmed()
        appointment = item.appointment_id
        self.assertEqual((appointment.confirmation_state, appointment.state),
                         ("confirmed", "confirmed"))
        self.assertEqual((item.state, item.outcome, item.worked_by_id),
                         ("done", "confirmed", self.operator1))
        self.assertEqual(action["tag"], "display_notification", "the list is done")

    def test_moved_opens_the_appointment_then_a_move_keeps_it_moved(self):
        [item] = self.list_appointments(self.patient)
        self.assertTrue(item.with_user(self.operator1).next_free_slots)
        action = item.with_user(self.operator1).action_moved()
        appointment = item.appointment_id
        self.assertEqual((action["res_model"], action["res_id"]),
                         ("medpulse.appointment", appointment.id))
        appointment.with_user(self.operator1).start = utc(2030, 1, 10, 5, 0)
        self.assertEqual(appointment.confirmation_state, "moved")
        # A time the patient confirmed is no longer confirmed once moved by other means.
        appointment.sudo().confirmation_state = "confirmed"
        appointment.with_user(self.operator1).start = utc(2030, 1, 11, 5, 0)
        self.assertEqual(appointment.confirmation_state, "none")

    def test_cancelled_needs_a_reason_and_cancels(self):
        [item] = self.list_appointments(self.patient)
        mine = item.with_user(self.operator1)
        with self.assertRaisesRegex(UserError, "Write why the patient cancels"):
            mine.action_cancelled()
        mine.cancel_reason = "Feels better"
        mine.action_cancelled()
        appointment = item.appointment_id
        self.assertEqual((appointment.state, appointment.confirmation_state),
                         ("cancelled", "cancelled"))
        self.assertIn("Feels better", appointment.message_ids[0].body)
        with self.assertRaisesRegex(AccessError, "changes through its buttons"):
            mine.write({"state": "todo"})

    def test_no_answer_comes_back_later_then_unreachable(self):
        [item] = self.list_appointments(self.patient)  # the rule: 2 calls, 60 minutes apart
        self.next_for(self.operator1)
        item.with_user(self.operator1).action_no_answer()
        self.assertEqual((item.state, item.attempt_count), ("todo", 1))
        self.assertFalse(self.next_for(self.operator2), "not before its interval")
        item.sudo().next_call_at = fields.Datetime.now() - timedelta(minutes=1)
        self.assertEqual(self.next_for(self.operator2), item)
        item.with_user(self.operator2).action_no_answer()
        self.assertEqual((item.state, item.outcome), ("done", "unreachable"))
        self.assertEqual(item.appointment_id.confirmation_state, "unreachable")

    def test_wrong_number(self):
        [item] = self.list_appointments(self.patient)
        item.with_user(self.operator1).action_wrong_number()
        self.assertEqual((item.outcome, item.appointment_id.confirmation_state),
                         ("wrong_number", "unreachable"))

    def test_one_click_call_through_click_to_call(self):
        [item] = self.list_appointments(self.patient)
        action = item.with_user(self.operator1).action_call()
        self.assertEqual(action["tag"], "medpulse_telephony.click_to_call")
        params = action["params"]
        answer = self.click(self.operator1, params["number"],
                            self.env[params["res_model"]].browse(params["res_id"]))
        self.assertTrue(answer["ok"], answer)
        [payload] = self.stub.calls("commands/callback")
        self.assertEqual(payload["to_number"], PATIENT_NUMBER)
        command = self.command(answer)
        self.assertEqual((command.priority, command.res_model, command.res_id),
                         ("interactive", "medpulse.appointment", item.appointment_id.id))
        self.assertEqual(item.being_called_by_id, self.operator1, "held while calling")

    def test_a_cancelled_or_moved_appointment_leaves_the_list(self):
        cancelled, moved, kept = self.list_appointments(self.patient, self.no_sms, self.no_call)
        cancelled.appointment_id.sudo().action_cancel()
        moved.appointment_id.sudo().start = utc(2030, 1, 12, 5, 0)
        self.assertEqual((cancelled.state, moved.state, kept.state),
                         ("cancelled", "cancelled", "todo"))
        self.assertEqual(self.next_for(self.operator1), kept)

    def test_the_managers_progress(self):
        items = self.list_appointments(self.patient, self.no_sms, self.no_call)
        items[0].with_user(self.operator1).action_confirmed()
        items[1].with_user(self.operator1).action_wrong_number()
        items[2].with_user(self.operator1).action_no_answer()
        progress = self.env["medpulse.confirmation.progress"].with_user(self.manager).create(
            {"list_date": date(2030, 1, 9)})
        self.assertEqual(
            (progress.total_count, progress.done_count, progress.left_count,
             progress.confirmed_count, progress.confirmed_rate, progress.unreachable_count,
             progress.retry_count),
            (3, 2, 1, 1, 50.0, 1, 1),
        )
        left = progress.action_open_left()
        self.assertEqual(self.env["medpulse.confirmation.item"].with_user(self.manager)
                         .search(left["domain"]), items[2])

    def test_operators_without_a_clinic_role_see_numbers_only(self):
        [item] = self.list_appointments(self.patient)
        operator = new_test_user(self.env, login="list_operator",
                                 groups="medpulse_telephony.group_telephony_operator")
        row = item.with_user(operator).read(["number", "state"])[0]
        self.assertEqual(row["number"], "+" + PATIENT_NUMBER)
        with self.assertRaises(AccessError):
            item.with_user(operator).read(["patient_id"])
        with self.assertRaisesRegex(AccessError, "Only the reception works"):
            self.Item.with_user(operator).action_next_patient()
        with self.assertRaisesRegex(AccessError, "Only the reception works"):
            item.with_user(operator).action_confirmed()

    def test_another_company_neither_sees_nor_gets_the_list(self):
        [item] = self.list_appointments(self.patient)
        company_b = self.env["res.company"].create({"name": "List branch B"})
        stranger = new_test_user(
            self.env, login="list_stranger", company_id=company_b.id,
            company_ids=[Command.set(company_b.ids)],
            groups="medpulse_clinic.group_clinic_manager,"
                   "medpulse_telephony.group_telephony_manager")
        Item = self.Item.with_user(stranger)
        self.assertFalse(Item.search([]))
        self.assertFalse(self.next_for(stranger))
        with self.assertRaises(AccessError):
            item.with_user(stranger).action_confirmed()
        with self.assertRaises(AccessError):
            self.env["medpulse.confirmation.progress"].with_user(stranger).create(
                {"company_id": self.company.id, "list_date": date(2030, 1, 9)})
        reminders = self.Reminder._build_day(self.company, date(2030, 1, 9),
                                             now=utc(2030, 1, 7, 20, 0))
        self.assertTrue(reminders)
        self.assertFalse(self.env["medpulse.reminder"].with_user(stranger).search([]))
        with self.assertRaises(AccessError):
            reminders.with_user(stranger).read(["number"])


@tagged("post_install", "-at_install")
class TestTwoOperatorsAtOnce(TransactionCase):
    """Two operators press "Next patient" at the same moment, again and again, on real
    concurrent transactions: no patient is given twice, none is skipped.

    The list is committed (a TransactionCase's ``registry.cursor()`` gives real, separate
    transactions, as in production), so the test removes it afterwards.
    """

    ROUNDS = 4

    def setUp(self):
        super().setUp()
        self.tag = uuid.uuid4().hex[:8]
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {"tracking_disable": True})
            company = env.ref("base.main_company")
            specialty = env["medpulse.specialty"].create({"name": f"Race {self.tag}"})
            service = env["medpulse.service"].create({
                "name": f"Race {self.tag}", "code": f"RACE-{self.tag}", "duration": 15,
                "specialty_id": specialty.id})
            doctor = env["medpulse.doctor"].create({
                "name": f"Race {self.tag}", "specialty_id": specialty.id,
                "service_ids": [Command.set(service.ids)]})
            items = env["medpulse.confirmation.item"]
            for index in range(2 * self.ROUNDS):
                patient = env["medpulse.patient"].create({
                    "last_name": f"Race{index}", "first_name": self.tag,
                    "phone_ids": [
                        Command.create({"number": f"+7 916 400-{index:02d}-{index:02d}"})],
                })
                appointment = env["medpulse.appointment"].create({
                    "patient_id": patient.id, "doctor_id": doctor.id, "service_id": service.id,
                    "start": utc(2030, 2, 1, 5, 0) + timedelta(minutes=15 * index)})
                items |= items.create({
                    "company_id": company.id, "appointment_id": appointment.id,
                    "patient_id": patient.id, "number": patient.phone_ids.number_e164,
                    "appointment_start": appointment.start, "list_date": date(2030, 2, 1)})
            self.ids = {"items": items.ids, "doctor": doctor.id, "service": service.id,
                        "specialty": specialty.id, "patients": items.patient_id.ids,
                        "appointments": items.appointment_id.ids}
            self.company_id = company.id
        self.addCleanup(self.remove)

    def remove(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            env["medpulse.confirmation.item"].browse(self.ids["items"]).unlink()
            env["medpulse.appointment"].browse(self.ids["appointments"]).unlink()
            env["medpulse.patient"].browse(self.ids["patients"]).unlink()
            env["medpulse.doctor"].browse(self.ids["doctor"]).unlink()
            env["medpulse.service"].browse(self.ids["service"]).unlink()
            env["medpulse.specialty"].browse(self.ids["specialty"]).unlink()

    def environment(self, cr, uid):
        """An environment in a worker thread: given the registry, as Odoo's test runner holds
        the registry's lock (which ``Environment`` would take to find it) while tests run."""
        cr.transaction = api.Transaction(self.registry)
        return api.Environment(cr, uid, {})

    def test_no_patient_twice(self):
        # The administrator and OdooBot: users every database has, committed.
        users = [self.env.ref("base.user_admin").id, self.env.ref("base.user_root").id]
        given = {uid: [] for uid in users}
        errors = []
        for _round in range(self.ROUNDS):
            barrier = threading.Barrier(len(users))

            def press(uid, barrier=barrier):
                try:
                    with self.registry.cursor() as cr:
                        env = self.environment(cr, uid)
                        company = env["res.company"].browse(self.company_id)
                        barrier.wait()
                        item_id = env["medpulse.confirmation.item"]._claim_next(
                            company, now=utc(2030, 1, 31, 5, 0))
                    # Worked at once, in the next request (else the claim hands it back).
                    with self.registry.cursor() as cr:
                        env = self.environment(cr, api.SUPERUSER_ID)
                        env["medpulse.confirmation.item"].browse(item_id).write(
                            {"state": "done"})
                    given[uid].append(item_id)
                except Exception as error:  # noqa: BLE001 - reported by the test
                    errors.append(error)

            threads = [threading.Thread(target=press, args=(uid,)) for uid in users]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        self.assertEqual(errors, [])
        handed = given[users[0]] + given[users[1]]
        self.assertEqual(len(handed), 2 * self.ROUNDS)
        self.assertEqual(sorted(handed), sorted(self.ids["items"]), "each patient exactly once")


@tagged("post_install", "-at_install")
class TestConfirmationTours(ListCase):
    """The new screens in a browser, as the roles that work with them."""

    def tomorrow(self, hour):
        """Tomorrow at ``hour`` in the clinic (Ufa), as naive UTC: the screens' default day."""
        day = local_day(self.company, fields.Datetime.now()) + timedelta(days=1)
        return day_bounds(self.company, day)[0] + timedelta(hours=hour)

    def test_tour_working_the_list_as_receptionist(self):
        first, second = self.list_appointments(self.patient, self.no_sms, start=self.tomorrow(10))
        self.start_tour("/odoo/action-medpulse_telephony.medpulse_confirmation_item_action",
                        "medpulse_confirmation_list_tour", login="tel_op1")
        self.assertEqual((first.outcome, first.appointment_id.confirmation_state,
                          first.worked_by_id), ("confirmed", "confirmed", self.operator1))
        self.assertEqual((second.state, second.attempt_count), ("todo", 1))

    def test_tour_progress_as_managers(self):
        items = self.list_appointments(self.patient, self.no_sms, self.no_call,
                                       start=self.tomorrow(10))
        items[0].with_user(self.operator1).action_confirmed()
        items[1].with_user(self.operator1).action_wrong_number()
        items[2].sudo().claimed_by_id = False
        clinic_manager = new_test_user(self.env, login="list_clinic_manager",
                                       groups="medpulse_clinic.group_clinic_manager")
        telephony_manager = new_test_user(self.env, login="list_telephony_manager",
                                          groups="medpulse_telephony.group_telephony_manager")
        for user in (clinic_manager, telephony_manager, self.env.ref("base.user_admin")):
            with self.subTest(login=user.login):
                self.start_tour(
                    "/odoo/action-medpulse_telephony.medpulse_confirmation_progress_action",
                    "medpulse_confirmation_progress_tour", login=user.login)

    def test_tour_reminders_as_an_operator_sees_numbers_only(self):
        self.book(self.patient, self.tomorrow(34))
        self.Reminder._build_day(self.company, local_day(self.company, self.tomorrow(34)))
        new_test_user(self.env, login="list_numbers_operator",
                      groups="medpulse_telephony.group_telephony_operator")
        self.start_tour("/odoo/action-medpulse_telephony.medpulse_reminder_action",
                        "medpulse_reminders_numbers_only_tour", login="list_numbers_operator")
