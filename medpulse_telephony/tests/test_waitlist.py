"""The waiting list (issue 22, part 3): a cancelled or moved appointment offers its time to
the matching waiting patients (doctor or specialty, service, days and hours in the clinic's
time zone: Ufa, the server in UTC), the worklist's order, the first who accepts is booked
and leaves the list while the others are "slot taken", SMS only for slots far enough ahead,
two operators accepting the same slot at the same moment on real transactions, the refill
report's figures on a constructed week, the card's line, and who may see what."""

import threading
import uuid
from datetime import timedelta

from odoo import Command, api, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged

from .reminder_common import ReminderCase, utc
from .test_card_browser import _talking

#: Wednesday 9 January 2030, 10:00 in Ufa (UTC+5).
WED_10 = utc(2030, 1, 9, 5, 0)


class WaitlistCase(ReminderCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env(su=True)
        cls.other_doctor = env["medpulse.doctor"].create({
            "name": "Doctor Colleague", "specialty_id": cls.specialty.id,
            "service_ids": [Command.set(cls.service.ids)],
        })
        cardiology = env["medpulse.specialty"].create({"name": "Cardiology (waitlist)"})
        cls.cardiologist = env["medpulse.doctor"].create({
            "name": "Doctor Heart", "specialty_id": cardiology.id,
        })
        cls.other_service = env["medpulse.service"].create({
            "name": "Long exam (waitlist)", "duration": 30, "specialty_id": cls.specialty.id,
        })
        cls.canceller = env["medpulse.patient"].create({
            "last_name": "Petrov", "first_name": "Ivan", "consent_sms": True,
            "phone_ids": [Command.create({"number": "+7 916 765-43-30"})],
        })
        cls.clinic_manager = new_test_user(
            cls.env, login="wl_clinic_mgr", name="Clara Clinicmanager",
            groups="medpulse_clinic.group_clinic_manager",
        )
        cls.doctor_user = new_test_user(
            cls.env, login="wl_doctor", name="Dora Doctor",
            groups="medpulse_clinic.group_clinic_doctor",
        )
        cls.no_clinic = new_test_user(
            cls.env, login="wl_no_clinic", name="Nina Nopatients",
            groups="medpulse_telephony.group_telephony_operator",
        )
        cls.Waitlist = env["medpulse.waitlist"]
        cls.Slot = env["medpulse.waitlist.slot"]

    def wait(self, patient, since_days=10, **values):
        """``patient`` on the list, entered by the reception (so its checks apply)."""
        return self.Waitlist.with_user(self.operator1).create(dict({
            "patient_id": patient.id, "doctor_id": self.doctor.id,
            "waiting_since": fields.Datetime.now() - timedelta(days=since_days),
        }, **values)).sudo()

    def free(self, start=WED_10, doctor=None, service=None):
        """An appointment at ``start``, cancelled by the reception: its freed slot."""
        appointment = self.book(self.canceller, start, doctor_id=(doctor or self.doctor).id,
                                service_id=(service or self.service).id)
        appointment.with_user(self.operator1).action_cancel()
        return self.Slot.search([("source_appointment_id", "=", appointment.id)])


@tagged("post_install", "-at_install")
class TestWaitlistMatching(WaitlistCase):
    def test_matching_by_doctor_specialty_service_days_and_clinic_hours(self):
        doctor_morning = self.wait(self.patient, hour_from=9, hour_to=12)
        specialty_any = self.wait(self.no_sms, doctor_id=False, specialty_id=self.specialty.id,
                                  hour_from=10, hour_to=10.5, since_days=30)
        # 10:00 in Ufa is 05:00 UTC: hours read in UTC would take this one and not the others.
        utc_hours = self.wait(self.no_call, hour_from=4, hour_to=6)
        colleague_only = self.wait(self.no_call, doctor_id=self.other_doctor.id)
        other_specialty = self.wait(self.no_call, doctor_id=self.cardiologist.id)
        not_wednesday = self.wait(self.no_call, day_wed=False)
        other_service = self.wait(self.no_call, service_id=self.other_service.id)
        too_short = self.wait(self.no_call, hour_from=8, hour_to=10.25)  # the visit ends 10:30
        cancelled = self.wait(self.no_call)
        cancelled.with_user(self.operator1).action_cancel()

        slot = self.free()
        self.assertEqual((slot.reason, slot.start, slot.stop, slot.state),
                         ("cancelled", WED_10, WED_10 + timedelta(minutes=30), "open"))
        offered = slot.offer_ids.entry_id
        self.assertEqual(offered, doctor_morning | specialty_any)
        for entry in (utc_hours, colleague_only, other_specialty, not_wednesday, other_service,
                      too_short, cancelled):
            self.assertNotIn(entry, offered)
        # The worklist: the same priority, so the longest waiting first; then urgency first.
        worklist = self.env["medpulse.waitlist.offer"].search([("slot_id", "=", slot.id)])
        self.assertEqual(worklist.entry_id.ids, [specialty_any.id, doctor_morning.id])
        doctor_morning.priority = "2"
        worklist = self.env["medpulse.waitlist.offer"].search([("slot_id", "=", slot.id)])
        self.assertEqual(worklist.entry_id.ids, [doctor_morning.id, specialty_any.id])

    def test_a_move_offers_the_old_time_a_past_or_ended_one_nothing(self):
        entry = self.wait(self.patient)
        appointment = self.book(self.canceller, WED_10)
        appointment.with_user(self.operator1).write({"start": WED_10 + timedelta(days=7)})
        slot = self.Slot.search([("source_appointment_id", "=", appointment.id)])
        self.assertEqual((slot.reason, slot.start, slot.offer_ids.entry_id),
                         ("moved", WED_10, entry))
        past = self.book(self.canceller, fields.Datetime.now() - timedelta(days=1))
        past.action_cancel()
        self.assertFalse(self.Slot.search([("source_appointment_id", "=", past.id)]))
        # A cancelled appointment holds no time: moving it frees nothing.
        appointment.action_cancel()
        appointment.write({"start": WED_10 + timedelta(days=14)})
        self.assertEqual(len(self.Slot.search([("source_appointment_id", "=", appointment.id)])), 2)

    def test_the_confirmation_call_cancelling_offers_the_time(self):
        entry = self.wait(self.patient)
        appointment = self.book(self.canceller, WED_10)
        item = self.Item._list_appointment(appointment, self.rule, "+79167654330")
        item.with_user(self.operator1).cancel_reason = "Feels better"
        item.with_user(self.operator1).action_cancelled()
        slot = self.Slot.search([("source_appointment_id", "=", appointment.id)])
        self.assertEqual(slot.offer_ids.entry_id, entry)


@tagged("post_install", "-at_install")
class TestWaitlistOffers(WaitlistCase):
    def test_accepted_offer_books_the_patient_who_leaves_the_list(self):
        first = self.wait(self.patient)
        second = self.wait(self.no_call, since_days=5)
        slot = self.free()
        offer, other = slot.offer_ids.sorted("waiting_since")
        self.assertEqual(offer.entry_id, first)
        offer.with_user(self.operator1).action_call()
        other.with_user(self.operator1).action_call()
        offer.with_user(self.operator1).action_accept()

        appointment = slot.booked_appointment_id
        self.assertEqual(
            (appointment.patient_id, appointment.doctor_id, appointment.start, appointment.state),
            (self.patient, self.doctor, WED_10, "scheduled"))
        self.assertEqual((slot.state, slot.booked_entry_id, slot.booked_by_id),
                         ("refilled", first, self.operator1))
        self.assertEqual((first.state, first.appointment_id), ("booked", appointment))
        self.assertEqual(offer.state, "accepted")
        self.assertEqual((other.state, second.state), ("slot_taken", "waiting"),
                         "the others stay on the list")
        self.assertNotIn(first, self.Waitlist.with_user(self.operator1).search(
            [("state", "=", "waiting")]))
        with self.assertRaisesRegex(UserError, "This offer is closed"):
            other.with_user(self.operator2).action_accept()
        # The others who were called hear it is taken (an SMS each, with consent).
        slot.with_user(self.operator1).action_sms_taken()
        [sms] = self.sms_requests()
        self.assertEqual(sms["to_number"], "79167654322", "the other patient who was called")
        self.assertIn("is taken", sms["text"])
        self.assertTrue(slot.taken_sms_sent)

    def test_double_booking_refused_when_the_time_was_taken_meanwhile(self):
        self.wait(self.patient)
        slot = self.free()
        self.book(self.no_sms, WED_10)  # booked on the schedule directly
        with self.assertRaisesRegex(ValidationError, "already booked"):
            slot.offer_ids.with_user(self.operator1).action_accept()

    def test_sms_asks_to_call_back_but_not_for_a_slot_too_soon(self):
        entry = self.wait(self.patient)
        slot = self.free()
        self.assertFalse(slot.call_only)
        slot.offer_ids.with_user(self.operator1).action_sms()
        [sms] = self.sms_requests()
        self.assertIn("Call us back", sms["text"])
        self.assertEqual(sms["to_number"], "79161234567")
        self.assertEqual(slot.offer_ids.state, "sms_sent")

        soon = _ceil_hour(fields.Datetime.now() + timedelta(hours=3))
        entry.write({"day_sat": True, "day_sun": True, "hour_from": 0, "hour_to": 24})
        near = self.free(start=soon)
        self.assertTrue(near.call_only, "within the company's 24 hours")
        with self.assertRaisesRegex(UserError, "too soon for an SMS"):
            near.offer_ids.with_user(self.operator1).action_sms()
        action = near.offer_ids.with_user(self.operator1).action_call()
        self.assertEqual((action["tag"], action["params"]["number"]),
                         ("medpulse_telephony.click_to_call", "+79161234567"))
        self.company.medpulse_waitlist_call_only_hours = 1
        near.invalidate_recordset(["call_only"])
        self.assertFalse(near.call_only)

    def test_card_says_on_the_waiting_list_since(self):
        self.wait(self.patient, since_days=3, priority="1")
        call = self.receive(_talking("E-WAIT-CARD", "101"))
        payload = call._card_payload(self.operator1, "talking")
        [patient] = payload["patients"]
        [line] = patient["waitlist"]
        self.assertEqual(line["wanted"], "Doctor Reminder")
        self.assertTrue(payload["can_waitlist"])
        restricted = call._card_payload(self.no_clinic, "talking")
        self.assertTrue(restricted["restricted"])
        self.assertFalse(restricted["can_waitlist"])
        self.assertNotIn("Ivanova", str(restricted))


def _ceil_hour(moment):
    return moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


@tagged("post_install", "-at_install")
class TestWaitlistReport(WaitlistCase):
    def test_refill_figures_of_a_constructed_week(self):
        """The week of Monday 7 January 2030: four times freed, two refilled after 2 h and
        5 h, one lost (it started untaken), one still open; a time freed the week before
        is not this week's."""
        anytime = {"since_days": 3650, "hour_from": 0, "hour_to": 24, "day_sat": True,
                   "day_sun": True}
        entries = [self.wait(patient, **anytime)
                   for patient in (self.patient, self.no_call, self.no_sms)]
        monday = utc(2030, 1, 7, 4, 0)
        slots = self.Slot._offer_freed([
            {
                "company_id": self.company.id, "doctor_id": self.doctor.id,
                "service_id": self.service.id, "start": utc(2030, 1, 14 + index, 5, 0),
                "stop": utc(2030, 1, 14 + index, 5, 30), "reason": "cancelled",
                "freed_at": freed_at,
            }
            for index, freed_at in enumerate((
                monday, monday + timedelta(days=1), monday + timedelta(days=2),
                monday + timedelta(days=3), monday - timedelta(days=3)))
        ])
        first, second, third, _fourth, before = slots

        def offer(slot, entry):
            return slot.offer_ids.filtered(lambda o: o.entry_id == entry)

        self.assertEqual(first.offer_ids.entry_id.ids, [entry.id for entry in entries])
        first.with_user(self.operator1)._book(offer(first, entries[0]),
                                               now=first.freed_at + timedelta(hours=2))
        second.with_user(self.operator2)._book(offer(second, entries[1]),
                                                now=second.freed_at + timedelta(hours=5))
        with self.assertRaisesRegex(UserError, "no longer on the waiting list"):
            third.with_user(self.operator1)._book(offer(third, entries[0]))
        self.Slot._cron_close_past(now=third.start)
        self.assertEqual(third.state, "lost")
        before.with_user(self.operator1)._book(offer(before, entries[2]),
                                                now=before.freed_at + timedelta(hours=1))

        week = [("freed_at", ">=", monday), ("freed_at", "<", monday + timedelta(days=7)),
                ("id", "in", slots.ids)]
        [row] = self.Slot.with_user(self.clinic_manager).read_group(
            week, ["freed_count:sum", "refilled_count:sum", "lost_count:sum",
                   "refill_hours:avg"], ["freed_at:week"])
        self.assertEqual((row["freed_count"], row["refilled_count"], row["lost_count"]),
                         (4, 2, 1))
        self.assertAlmostEqual(row["refill_hours"], 3.5)
        states = self.Slot.with_user(self.operator1).read_group(
            week, ["freed_count:sum"], ["state"])
        self.assertEqual({group["state"]: group["freed_count"] for group in states},
                         {"open": 1, "refilled": 2, "lost": 1})


@tagged("post_install", "-at_install")
class TestWaitlistAccess(WaitlistCase):
    def test_clinic_roles_only(self):
        entry = self.wait(self.patient)
        slot = self.free()
        for user in (self.doctor_user, self.no_clinic):
            for records in (entry, slot, slot.offer_ids):
                with self.assertRaises(AccessError, msg=f"{user.login} {records._name}"):
                    records.with_user(user).read(["display_name"])
            with self.assertRaises(AccessError):
                self.Waitlist.with_user(user).create({
                    "patient_id": self.patient.id, "doctor_id": self.doctor.id})
            with self.assertRaises(AccessError):
                slot.offer_ids.with_user(user).action_accept()
        for user in (self.operator1, self.clinic_manager):
            self.assertEqual(entry.with_user(user).patient_id.name, "Ivanova Anna")
            self.assertEqual(slot.offer_ids.with_user(user).patient_id, self.patient)
        with self.assertRaisesRegex(AccessError, "through their buttons"):
            slot.offer_ids.with_user(self.operator1).write({"state": "accepted"})
        with self.assertRaises(AccessError):
            entry.with_user(self.operator1).unlink()
        entry.with_user(self.clinic_manager).unlink()

    def test_other_company_ids_refused(self):
        other = self.env["res.company"].create({"name": "Other clinic (waitlist)"})
        stranger = self.env["medpulse.patient"].create({
            "last_name": "Stranger", "first_name": "Sam", "company_id": other.id,
            "phone_ids": [Command.create({"number": "+7 916 765-43-99"})],
        })
        their_doctor = self.env["medpulse.doctor"].create({
            "name": "Their doctor", "specialty_id": self.specialty.id, "company_id": other.id})
        their_entry = self.Waitlist.create({
            "patient_id": stranger.id, "doctor_id": self.doctor.id, "company_id": other.id})
        Waitlist = self.Waitlist.with_user(self.operator1)
        self.assertNotIn(their_entry, Waitlist.search([]))
        with self.assertRaises(AccessError):
            their_entry.with_user(self.operator1).read(["patient_id"])
        # Their patient under our company, or our patient under theirs: refused.
        with self.assertRaises(AccessError):
            Waitlist.create({"patient_id": stranger.id, "doctor_id": self.doctor.id})
        with self.assertRaisesRegex(AccessError, "not one of the companies"):
            Waitlist.create({"patient_id": self.patient.id, "doctor_id": self.doctor.id,
                             "company_id": other.id})
        with self.assertRaises(AccessError):
            Waitlist.create({"patient_id": stranger.id, "doctor_id": self.doctor.id,
                             "company_id": other.id})
        entry = self.wait(self.patient)
        with self.assertRaises(AccessError):
            entry.with_user(self.operator1).write({"patient_id": stranger.id})
        with self.assertRaises(AccessError):
            entry.with_user(self.operator1).write({"doctor_id": their_doctor.id})
        # Their slots are not offered to our list, nor ours to theirs.
        their_entry.doctor_id = self.doctor
        slot = self.free()
        self.assertEqual(slot.offer_ids.entry_id, entry)
        theirs = self.Slot.create({
            "company_id": other.id, "doctor_id": their_doctor.id, "service_id": self.service.id,
            "start": WED_10, "stop": WED_10 + timedelta(minutes=30), "reason": "cancelled",
            "freed_at": fields.Datetime.now()})
        self.assertFalse(self.Waitlist._matching(theirs) & entry)
        with self.assertRaises(AccessError):
            theirs.with_user(self.operator1).read(["doctor_id"])
        # Even as superuser, an entry's patient is of the entry's company.
        with self.assertRaisesRegex(ValidationError, "another company"):
            self.Waitlist.create({"patient_id": self.patient.id, "doctor_id": self.doctor.id,
                                  "company_id": other.id})


@tagged("post_install", "-at_install")
class TestTwoOperatorsOneSlot(TransactionCase):
    """Two operators accept the same freed slot for two patients at the same moment, on real
    concurrent transactions: exactly one is booked, the other is told; never both.

    The data is committed (``registry.cursor()``), so the test removes it afterwards.
    """

    ROUNDS = 3

    def setUp(self):
        super().setUp()
        tag = uuid.uuid4().hex[:8]
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {"tracking_disable": True})
            specialty = env["medpulse.specialty"].create({"name": f"Race {tag}"})
            service = env["medpulse.service"].create({
                "name": f"Race {tag}", "duration": 15, "specialty_id": specialty.id})
            doctor = env["medpulse.doctor"].create({
                "name": f"Race {tag}", "specialty_id": specialty.id,
                "resource_calendar_id": False, "service_ids": [Command.set(service.ids)]})
            users = [new_test_user(env, login=f"race{index}_{tag}", name=f"Race {index}",
                                   groups="medpulse_clinic.group_clinic_receptionist")
                     for index in range(2)]
            # Two waiting patients per round (the round's winner leaves the list), and the
            # patient whose appointments free the slots.
            patients = env["medpulse.patient"].create([
                {"last_name": f"Race{index}", "first_name": tag,
                 "phone_ids": [Command.create({"number": f"+7 916 401-{index:02d}-{index:02d}"})]}
                for index in range(2 * self.ROUNDS + 1)])
            entries = env["medpulse.waitlist"].create([
                {"patient_id": patient.id, "doctor_id": doctor.id, "hour_from": 0,
                 "hour_to": 24, "day_sat": True, "day_sun": True,
                 "waiting_since": utc(2020, 1, 1)}
                for patient in patients[:-1]])
            slots = env["medpulse.waitlist.slot"]
            for index in range(self.ROUNDS):
                appointment = env["medpulse.appointment"].create({
                    "patient_id": patients[-1].id, "doctor_id": doctor.id,
                    "service_id": service.id,
                    "start": utc(2030, 2, 1, 5, 0) + timedelta(hours=index)})
                appointment.action_cancel()
                slots |= slots.search([("source_appointment_id", "=", appointment.id)])
            self.ids = {"doctor": doctor.id, "service": service.id, "specialty": specialty.id,
                        "users": [user.id for user in users], "patients": patients.ids,
                        "entries": entries.ids, "slots": slots.ids}
            # Round i: slot i, accepted for entries 2i and 2i+1 at the same moment.
            self.offers = [
                [slot.offer_ids.filtered(lambda o, e=entry: o.entry_id == e).id
                 for entry in entries[2 * index:2 * index + 2]]
                for index, slot in enumerate(slots)]
        self.addCleanup(self.remove)

    def remove(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            appointments = env["medpulse.appointment"].search(
                [("doctor_id", "=", self.ids["doctor"])])
            env["medpulse.waitlist.slot"].browse(self.ids["slots"]).unlink()
            env["medpulse.waitlist"].browse(self.ids["entries"]).unlink()
            appointments.unlink()
            env["medpulse.patient"].browse(self.ids["patients"]).unlink()
            env["medpulse.doctor"].browse(self.ids["doctor"]).unlink()
            env["medpulse.service"].browse(self.ids["service"]).unlink()
            env["medpulse.specialty"].browse(self.ids["specialty"]).unlink()
            users = env["res.users"].browse(self.ids["users"])
            partners = users.partner_id
            users.unlink()
            partners.unlink()

    def environment(self, cr, uid):
        """As in test_confirmation_list: the registry is given, the runner holds its lock."""
        cr.transaction = api.Transaction(self.registry)
        return api.Environment(cr, uid, {})

    def test_one_booking_per_slot(self):
        outcomes = []
        for offers in self.offers:
            barrier = threading.Barrier(2)
            results = {}

            def accept(index, offer_id, barrier=barrier, results=None):
                try:
                    with self.registry.cursor() as cr:
                        env = self.environment(cr, self.ids["users"][index])
                        offer = env["medpulse.waitlist.offer"].browse(offer_id)
                        # Read before the race starts: both transactions' snapshots begin.
                        self.assertEqual(offer.slot_id.state, "open")
                        barrier.wait()
                        offer.action_accept()
                    results[index] = "booked"
                except UserError as error:
                    results[index] = str(error)
                except Exception as error:  # noqa: BLE001 - reported by the test
                    results[index] = repr(error)

            threads = [threading.Thread(target=accept, args=(index, offer_id, barrier, results))
                       for index, offer_id in enumerate(offers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            outcomes.append(results)
        for results in outcomes:
            self.assertEqual(sorted(results), [0, 1])
            self.assertEqual(list(results.values()).count("booked"), 1, results)
            refused = next(value for value in results.values() if value != "booked")
            self.assertRegex(refused, "colleague is booking this time|no longer free|"
                                      "offer is closed")
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            booked = env["medpulse.appointment"].search([
                ("doctor_id", "=", self.ids["doctor"]), ("state", "=", "scheduled")])
            slots = env["medpulse.waitlist.slot"].browse(self.ids["slots"])
            self.assertEqual(len(booked), self.ROUNDS, "one patient per slot")
            self.assertEqual(set(slots.mapped("state")), {"refilled"})
            entries = env["medpulse.waitlist"].browse(self.ids["entries"])
            self.assertEqual(sorted(entries.mapped("state")),
                             ["booked"] * self.ROUNDS + ["waiting"] * self.ROUNDS)
