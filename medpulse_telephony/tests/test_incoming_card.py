import json
from datetime import datetime, timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, TransactionCase, new_test_user

from .common import LINE, PATIENT_NUMBER, T0, TelephonyFixtures, call_event, summary

CARD = "medpulse_telephony.card"
SIP1 = "sip:reception1@clinic.mangosip.ru"
SIP2 = "sip:reception2@clinic.mangosip.ru"


def op_to(extension, number, group="300"):
    return {"extension": extension, "number": number, "line_number": LINE, "acd_group": group}


def ivr(entry_id, caller=PATIENT_NUMBER, t0=T0, end=True):
    to = {"number": LINE, "line_number": LINE}
    events = [
        call_event(entry_id, f"{entry_id}:ivr", 1, "Appeared", t0, "ivr", {"number": caller}, to)
    ]
    if end:
        events.append(call_event(entry_id, f"{entry_id}:ivr", 2, "Disconnected", t0 + 5, "ivr",
                                 {"number": caller}, to, disconnect_reason=1100))
    return events


def leg(entry_id, name, seq, state, ts, to, caller=PATIENT_NUMBER, **extra):
    return call_event(entry_id, f"{entry_id}:{name}", seq, state, T0 + ts, "abonent",
                      {"number": caller, "taken_from_call_id": f"{entry_id}:ivr"}, to, **extra)


class TestIncomingCard(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.setup_telephony()
        # An operator without access to patients: telephony only.
        cls.operator_no_clinic = new_test_user(
            cls.env, login="tel_op4", name="Nina Nopatients",
            groups="medpulse_telephony.group_telephony_operator",
        )
        cls.operator_no_clinic.sudo().medpulse_pbx_extension = "104"

    def setUp(self):
        super().setUp()
        self.env.cr.precommit.run()
        self.last_bus_id = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id

    def cards(self):
        """{user: [payload, ...]} of card messages sent since the last call."""
        self.env.cr.precommit.run()
        rows = self.env["bus.bus"].sudo().search([("id", ">", self.last_bus_id)], order="id")
        if rows:
            self.last_bus_id = rows[-1].id
        result = {}
        for row in rows:
            message = json.loads(row.message)
            if message["type"] != CARD:
                continue
            channel = json.loads(row.channel)
            self.assertEqual(channel[1], "res.partner", "cards only go to a user's partner channel")
            user = self.env["res.users"].sudo().search([("partner_id", "=", channel[2])])
            result.setdefault(user, []).append(message["payload"])
        return result

    def statuses(self):
        return {user: [p["status"] for p in payloads] for user, payloads in self.cards().items()}

    # ------------------------------------------------------------ who sees it

    def test_queue_call_rings_exactly_the_ringing_operators(self):
        entry = "E-CARD-Q"
        self.receive(ivr(entry))
        self.assertEqual(self.cards(), {}, "nobody's phone rings in the voice menu")
        self.receive([
            leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
            leg(entry, "op2", 1, "Appeared", 5, op_to("102", SIP2)),
        ])
        cards = self.cards()
        self.assertEqual(set(cards), {self.operator1, self.operator2})
        self.assertEqual([p["status"] for p in cards[self.operator1]], ["ringing"])
        self.assertEqual([p["status"] for p in cards[self.operator2]], ["ringing"])
        payload = cards[self.operator1][0]
        self.assertEqual(payload["number"], "+7 916 123-45-67")
        self.assertEqual(payload["patients"][0]["name"], self.patient.name)
        self.assertEqual(payload["patient_id"], self.patient.id)
        self.assertFalse(payload["restricted"])
        self.assertIn(LINE[-4:], payload["line"].replace("-", "").replace(" ", ""))

        # A repeated event changes nothing: no duplicate card.
        self.receive([leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1))])
        self.assertEqual(self.cards(), {})

        # Olga answers: her card turns "in call", Pavel's closes "answered by Olga".
        self.receive([
            leg(entry, "op1", 2, "Connected", 12, op_to("101", SIP1)),
            leg(entry, "op2", 2, "Disconnected", 12, op_to("102", SIP2), disconnect_reason=1182),
        ])
        cards = self.cards()
        self.assertEqual([p["status"] for p in cards[self.operator1]], ["talking"])
        talking = cards[self.operator1][0]
        self.assertTrue(talking["answered_at"])
        self.assertEqual(talking["answered_by"], "Olga Operator")
        # Her card is on screen since it rang: the status changes, nothing is read again.
        self.assertTrue(talking["partial"])
        self.assertNotIn("patients", talking)
        self.assertNotIn("number", talking)
        self.assertEqual([p["status"] for p in cards[self.operator2]], ["answered_elsewhere"])
        self.assertEqual(cards[self.operator2][0]["answered_by"], "Olga Operator")
        self.assertNotIn(
            "patients", cards[self.operator2][0], "a closed card carries no patient data"
        )

        # Hang-up: only who talked gets the follow-up form; the other card stays closed.
        call = self.receive(
            [leg(entry, "op1", 3, "Disconnected", 72, op_to("101", SIP1), disconnect_reason=1110)]
        )
        cards = self.cards()
        self.assertEqual(set(cards), {self.operator1})
        ended = cards[self.operator1][0]
        self.assertEqual(ended["status"], "ended")
        self.assertTrue(ended["partial"])
        self.assertEqual(ended["followup_state"], "new")
        self.assertIn("outcomes", ended, "the ended card offers the outcomes")
        self.assertNotIn("patients", ended)
        # The whole card (a reload, a card refreshed after booking) still has everything.
        whole = call._card_payload(self.operator1, "ended")
        self.assertIn("needs_callback", dict(whole["followup_states"]))
        self.assertEqual(whole["patients"][0]["name"], self.patient.name)

    def test_a_card_first_seen_in_call_is_whole(self):
        """An operator whose phone's ringing was never reported (the PBX sent the leg's
        connection only) gets the whole card, not an update of one they never saw."""
        entry = "E-CARD-DIRECT"
        self.receive(ivr(entry))
        self.receive([leg(entry, "op1", 2, "Connected", 12, op_to("101", SIP1))])
        payload = self.cards()[self.operator1][0]
        self.assertEqual(payload["status"], "talking")
        self.assertNotIn("partial", payload)
        self.assertEqual(payload["patients"][0]["name"], self.patient.name)

    def test_unknown_caller(self):
        entry = "E-CARD-UNKNOWN"
        self.receive(ivr(entry, caller="79990001122"))
        self.receive(
            [leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1), caller="79990001122")]
        )
        payload = self.cards()[self.operator1][0]
        self.assertEqual(payload["patients"], [])
        self.assertFalse(payload["patient_id"])
        self.assertFalse(payload["restricted"])
        self.assertEqual(payload["number_e164"], "+79990001122")

    def test_the_card_counts_the_number_s_other_calls_of_the_last_week(self):
        """"Calls from this number in the last 7 days": the company's other calls of the
        caller's number that started within the week, none of another number, another
        company or earlier."""
        Call = self.env["medpulse.call"].sudo()
        now = fields.Datetime.now()
        elsewhere = self.env["res.company"].sudo().create({"name": "Another clinic"})

        def journal(entry, days_ago, number=f"+{PATIENT_NUMBER}", company=self.env.company):
            Call.create({
                "company_id": company.id, "entry_id": entry, "external_e164": number,
                "created_at": now - timedelta(days=days_ago),
            })

        journal("E-RECENT-1", 1)
        journal("E-RECENT-2", 6)
        journal("E-RECENT-OLD", 8)
        journal("E-RECENT-OTHER-NUMBER", 1, number="+79990001122")
        journal("E-RECENT-OTHER-COMPANY", 1, company=elsewhere)
        entry = "E-CARD-RECENT"
        self.receive(ivr(entry))
        self.receive([leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1))])
        self.assertEqual(self.cards()[self.operator1][0]["recent_calls"], 2)
        journal("E-RECENT-3", 0)
        call = Call.search([("entry_id", "=", entry)])
        self.assertEqual(call._card_payload(self.operator1, "ringing")["recent_calls"], 3)

    def test_shared_number_chooser_and_choice_saved(self):
        sister = self.env["medpulse.patient"].sudo().create({
            "last_name": "Ivanova", "first_name": "Maria",
            "phone_ids": [(0, 0, {"number": PATIENT_NUMBER})],
        })
        entry = "E-CARD-SHARED"
        self.receive(ivr(entry))
        call = self.receive([leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1))])
        payload = self.cards()[self.operator1][0]
        self.assertEqual({p["id"] for p in payload["patients"]}, {self.patient.id, sister.id})
        chosen = next(p for p in payload["patients"] if p["id"] != payload["patient_id"])
        call.with_user(self.operator1).action_set_patient(chosen["id"])
        self.assertEqual(call.sudo().patient_id.id, chosen["id"])
        update = self.cards()[self.operator1][0]
        self.assertEqual(update["status"], "ringing")
        self.assertEqual(update["patient_id"], chosen["id"])
        stranger = (
            self.env["medpulse.patient"].sudo().create({"last_name": "Other", "first_name": "One"})
        )
        with self.assertRaises(UserError):
            call.with_user(self.operator1).action_set_patient(stranger.id)

    def test_payload_read_with_recipient_rights(self):
        entry = "E-CARD-RESTRICTED"
        self.receive(ivr(entry))
        self.receive(
            [leg(entry, "op4", 1, "Appeared", 5, op_to("104", "sip:nina@clinic.mangosip.ru"))]
        )
        payload = self.cards()[self.operator_no_clinic][0]
        self.assertTrue(payload["restricted"])
        self.assertEqual(payload["patients"], [])
        self.assertNotIn(self.patient.name, json.dumps(payload, ensure_ascii=False))

    def test_no_answer_moves_the_card_to_the_next_operator(self):
        entry = "E-CARD-FWD"
        self.receive(ivr(entry))
        self.receive([leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1))])
        self.assertEqual(self.statuses(), {self.operator1: ["ringing"]})
        self.receive([
            leg(entry, "op1", 2, "Disconnected", 25, op_to("101", SIP1), disconnect_reason=1111),
            leg(entry, "op2", 1, "Appeared", 25, op_to("102", SIP2)),
        ])
        self.assertEqual(self.statuses(), {self.operator1: ["closed"], self.operator2: ["ringing"]})

    def test_a_closing_card_says_only_which_call(self):
        """The browser only removes a closed card: its message carries nothing else (no
        number, no patient), which also spares the webhook reading them."""
        entry = "E-CARD-CLOSED"
        self.receive(ivr(entry))
        self.receive([leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1))])
        self.cards()
        call = self.receive([
            leg(entry, "op1", 2, "Disconnected", 25, op_to("101", SIP1), disconnect_reason=1111),
        ])
        self.assertEqual(
            self.cards()[self.operator1],
            [{"call_id": call.id, "entry_id": entry, "status": "closed"}],
        )

    def test_summary_closes_a_card_whose_hang_up_was_lost(self):
        """The ringing leg's Disconnected never arrives; the summary still closes the card."""
        entry = "E-CARD-LOST"
        self.receive(ivr(entry))
        self.receive([
            leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
            leg(entry, "op2", 1, "Appeared", 5, op_to("102", SIP2)),
        ])
        self.assertEqual(
            self.statuses(), {self.operator1: ["ringing"], self.operator2: ["ringing"]}
        )
        # Olga answered and talked; Pavel's leg ended too, but both Disconnected are lost.
        self.receive([leg(entry, "op1", 2, "Connected", 12, op_to("101", SIP1))])
        self.cards()
        call = self.receive([summary(
            entry, 1, {"number": PATIENT_NUMBER}, {"extension": "101", "number": SIP1},
            T0, T0 + 5, T0 + 12, T0 + 72, 1, 1110,
        )])
        self.assertTrue(call.is_final)
        self.assertEqual(
            self.statuses(), {self.operator1: ["ended"], self.operator2: ["closed"]},
            "who talked gets the follow-up form, the other card closes",
        )

    def test_transfer_pops_the_card_for_the_new_operator(self):
        entry = "E-CARD-XFER"
        self.receive(ivr(entry))
        self.receive([
            leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
            leg(entry, "op1", 2, "Connected", 8, op_to("101", SIP1)),
        ])
        self.assertEqual(self.statuses(), {self.operator1: ["ringing", "talking"]})
        # Blind transfer by 101 to 102: a new leg rings 102 with the caller.
        self.receive(
            [
                call_event(
                    entry,
                    f"{entry}:x1",
                    1,
                    "Appeared",
                    T0 + 30,
                    "abonent",
                    {
                        "number": PATIENT_NUMBER,
                        "taken_from_call_id": f"{entry}:op1",
                        "was_transferred": True,
                    },
                    {"extension": "102", "number": SIP2},
                    transfer="blind",
                ),
                leg(
                    entry, "op1", 3, "Disconnected", 30, op_to("101", SIP1), disconnect_reason=1180
                ),
            ]
        )
        cards = self.cards()
        self.assertEqual([p["status"] for p in cards[self.operator2]], ["ringing"])
        self.assertEqual(cards[self.operator2][0]["patients"][0]["id"], self.patient.id)
        self.assertEqual([p["status"] for p in cards[self.operator1]], ["closed"])

    def test_desk_phone_in_payload(self):
        desk = self.env["medpulse.telephony.user.number"].sudo().create({
            "user_id": self.operator1.id, "number": SIP1, "kind": "desk",
        })
        entry = "E-CARD-DESK"
        self.receive(ivr(entry))
        self.receive([leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1))])
        self.assertEqual(self.cards()[self.operator1][0]["device_id"], desk.id)

    def test_mobile_number_rings_its_owner(self):
        entry = "E-CARD-MOBILE"
        self.receive(ivr(entry))
        self.receive([leg(entry, "mob", 1, "Appeared", 5, {"number": "79031112233"})])
        self.assertEqual(set(self.cards()), {self.operator3})

    def test_outgoing_call_shows_no_card(self):
        from .common import outgoing

        self.receive(outgoing("E-CARD-OUT")[:2])
        self.assertEqual(self.cards(), {})

    # ------------------------------------------------------------- reload API

    def test_active_cards_after_reload(self):
        entry = "E-CARD-RELOAD"
        self.receive(ivr(entry))
        call = self.receive([
            leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
            leg(entry, "op2", 1, "Appeared", 5, op_to("102", SIP2)),
        ])
        # created_at is the PBX's time of the call; the reload window is about "now".
        call.sudo().created_at = datetime.now()
        Call = self.env["medpulse.call"]
        mine = Call.with_user(self.operator2).get_active_cards()
        self.assertEqual([(c["call_id"], c["status"]) for c in mine], [(call.id, "ringing")])
        self.assertEqual(mine[0]["patients"][0]["name"], self.patient.name)
        self.assertEqual(Call.with_user(self.operator3).get_active_cards(), [])
        self.receive([
            leg(entry, "op1", 2, "Connected", 12, op_to("101", SIP1)),
            leg(entry, "op2", 2, "Disconnected", 12, op_to("102", SIP2), disconnect_reason=1182),
        ])
        call.sudo().created_at = datetime.now()
        self.assertEqual(Call.with_user(self.operator2).get_active_cards(), [])
        self.assertEqual(
            [c["status"] for c in Call.with_user(self.operator1).get_active_cards()], ["talking"]
        )
        targets = Call.with_user(self.operator2).get_transfer_targets()["operators"]
        busy = {t["extension"]: t["busy"] for t in targets}
        self.assertTrue(busy["101"])
        self.assertFalse(busy["102"])

    # -------------------------------------------------- booking and follow-up

    def test_booking_from_the_card_updates_it(self):
        entry = "E-CARD-BOOK"
        self.receive(ivr(entry))
        call = self.receive([
            leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
            leg(entry, "op1", 2, "Connected", 8, op_to("101", SIP1)),
        ])
        self.cards()
        specialty = self.env["medpulse.specialty"].sudo().create({"name": "Therapy (card)"})
        service = (
            self.env["medpulse.service"]
            .sudo()
            .create(
                {
                    "name": "Consultation (card)",
                    "code": "C-30",
                    "duration": 30,
                    "specialty_id": specialty.id,
                }
            )
        )
        doctor = (
            self.env["medpulse.doctor"]
            .sudo()
            .create(
                {
                    "name": "Doctor Card",
                    "specialty_id": specialty.id,
                    "service_ids": [(6, 0, service.ids)],
                }
            )
        )
        slot = self.env["medpulse.appointment"]._find_next_free_slot(doctor, service)
        appointment = self.env["medpulse.appointment"].with_user(self.operator1).create({
            "patient_id": self.patient.id, "doctor_id": doctor.id, "service_id": service.id,
            "start": slot, "call_id": call.id,
        })
        self.assertEqual(call.appointment_ids, appointment)
        payload = self.cards()[self.operator1][0]
        self.assertEqual(payload["status"], "talking")
        self.assertEqual([a["id"] for a in payload["appointments"]], appointment.ids)

    def test_booking_form_of_the_card_says_phone_and_shows_the_call(self):
        """The card opens the appointment form with ``default_call_id``: saved as booked by
        phone (the form sends its own default origin), and the form shows the call."""
        entry = "E-CARD-ORIGIN"
        self.receive(ivr(entry))
        call = self.receive([
            leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
            leg(entry, "op1", 2, "Connected", 8, op_to("101", SIP1)),
        ])
        service = self.env["medpulse.service"].sudo().create(
            {"name": "Consultation (origin)", "duration": 30}
        )
        doctor = self.env["medpulse.doctor"].sudo().create({
            "name": "Doctor Origin", "resource_calendar_id": False,
            "service_ids": [(6, 0, service.ids)],
        })
        Appointment = self.env["medpulse.appointment"].with_user(self.operator1).with_context(
            default_patient_id=self.patient.id, default_call_id=call.id,
        )
        form = Form(Appointment)
        self.assertEqual(form.origin, "phone")
        form.doctor_id = doctor
        form.service_id = service
        appointment = form.save()
        self.assertEqual((appointment.origin, appointment.call_id), ("phone", call))
        arch = Appointment.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="call_id"', arch)

    def test_followup_from_ended_card(self):
        entry = "E-CARD-FOLLOW"
        self.receive(ivr(entry))
        call = self.receive([
            leg(entry, "op1", 1, "Appeared", 5, op_to("101", SIP1)),
            leg(entry, "op1", 2, "Connected", 8, op_to("101", SIP1)),
            leg(entry, "op1", 3, "Disconnected", 60, op_to("101", SIP1), disconnect_reason=1110),
        ])
        call.with_user(self.operator1).action_card_followup(
            "needs_callback", "Call back about results"
        )
        self.assertEqual(call.followup_state, "needs_callback")
        self.assertEqual(call.followup_note, "Call back about results")
        self.assertIn("Call back about results", call.message_ids[0].body)

    def _ended_call(self, entry, extension, number):
        self.receive(ivr(entry))
        return self.receive([
            leg(entry, "op", 1, "Appeared", 5, op_to(extension, number)),
            leg(entry, "op", 2, "Connected", 8, op_to(extension, number)),
            leg(entry, "op", 3, "Disconnected", 60, op_to(extension, number),
                disconnect_reason=1110),
        ])

    def test_followup_comment_of_a_user_without_email(self):
        """Like anna in the demo: no e-mail address, and the comment is still saved, as
        her internal note; nothing is sent."""
        anna = new_test_user(
            self.env, login="tel_op5", name="Anna Nomail", email=False,
            groups="medpulse_clinic.group_clinic_receptionist",
        )
        anna.sudo().medpulse_pbx_extension = "105"
        call = self._ended_call("E-CARD-NOMAIL", "105", "sip:anna@clinic.mangosip.ru")
        note = "Call after <b>6 pm</b>\nThanks"
        call.with_user(anna).action_card_followup("needs_callback", note)
        self.assertEqual((call.followup_state, call.followup_note), ("needs_callback", note))
        message = call.message_ids[0]
        self.assertEqual(message.author_id, anna.partner_id)
        self.assertEqual(message.subtype_id, self.env.ref("mail.mt_note"))
        self.assertIn("Call after &lt;b&gt;6 pm&lt;/b&gt;<br>Thanks", message.body)
        mails = self.env["mail.mail"].sudo().search([("mail_message_id", "=", message.id)])
        self.assertFalse(mails)

    def test_followup_is_saved_once_and_closes_the_card_everywhere(self):
        """A new login replays the bus's last minute: it must end with "closed", and a
        second save (from a card that came back anyway) must not overwrite the first."""
        call = self._ended_call("E-CARD-ONCE", "101", SIP1)
        self.assertEqual(self.statuses()[self.operator1][-1], "ended")
        call.with_user(self.operator1).action_card_followup("resolved", "Booked for Monday")
        self.assertEqual(self.statuses(), {self.operator1: ["closed"]})
        with self.assertRaisesRegex(UserError, "already saved"):
            call.with_user(self.operator1).action_card_followup("needs_callback", False)
        self.assertEqual(
            (call.followup_state, call.followup_note), ("resolved", "Booked for Monday")
        )

    # ------------------------------------------------------ automatic routing

    def test_auto_route_known_patient_to_last_operator(self):
        previous = self.receive(
            ivr("E-CARD-PREV")
            + [
                leg("E-CARD-PREV", "op2", 1, "Appeared", 5, op_to("102", SIP2)),
                leg("E-CARD-PREV", "op2", 2, "Connected", 8, op_to("102", SIP2)),
                leg(
                    "E-CARD-PREV",
                    "op2",
                    3,
                    "Disconnected",
                    60,
                    op_to("102", SIP2),
                    disconnect_reason=1110,
                ),
            ]
        )
        self.assertEqual(previous.answered_user_id, self.operator2)
        Command = self.env["medpulse.call.command"].sudo()
        call = self.receive(ivr("E-CARD-AUTO-OFF", end=False))
        self.assertFalse(Command.search([("call_id", "=", call.id)]), "off by default")
        self.env["ir.config_parameter"].sudo().set_param(
            "medpulse_telephony.card_auto_route", "True"
        )
        call = self.receive(ivr("E-CARD-AUTO", end=False))
        self.receive(ivr("E-CARD-AUTO", end=False))
        # Queued in the event's transaction, once; the webhook sends it after its commit
        # (test_pipeline.TestAutoRouteAfterCommit).
        route = Command.search([("call_id", "=", call.id)])
        self.assertEqual(
            [(c.kind, c.state, c.pbx_call_id, c.number, c.target_user_id) for c in route],
            [("route", "queued", "E-CARD-AUTO:ivr", "102", self.operator2)],
        )
        self.assertEqual(call.routed_user_id, self.operator2)
