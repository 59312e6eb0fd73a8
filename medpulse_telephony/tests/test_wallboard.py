"""The supervisors' wallboard: its state from sequences of PBX events, today's figures in the
clinic's time zone, what it shows to whom, and its live channel."""

import json
import threading
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import Command, fields, sql_db
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from odoo.addons.bus.models.bus import channel_with_db, json_dump
from odoo.addons.bus.tests.common import WebsocketCase

import mango_vpbx

from ..controllers import webhook as webhook_module
from ..models import medpulse_wallboard as wallboard_module
from ..models.medpulse_wallboard import (
    _CHANGED_KEY,
    AFTER_CALL_SECONDS,
    PUBLISH_CRON,
    WALLBOARD_NOTIFICATION,
    WALLBOARD_SUBCHANNEL,
    WALLBOARD_VARIANTS,
)
from .common import (
    API_KEY,
    API_SALT,
    OPERATOR_MOBILE,
    TelephonyFixtures,
    dumps,
    incoming_answered,
    incoming_missed,
    matrix_mismatches,
    outgoing,
)
from .test_access_matrix import ROLES

#: Monday 2 March 2026, 12:00 in Ufa (UTC+5): working time.
NOW = datetime(2026, 3, 2, 7, 0, 0)


def _ts(moment):
    """A naive UTC datetime as the PBX's Unix timestamp."""
    return int((moment - datetime(1970, 1, 1)).total_seconds())


@tagged("post_install", "-at_install")
class TestWallboard(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        calendar = cls.env["resource.calendar"].create(
            {"name": "Clinic hours (Ufa)", "tz": "Asia/Yekaterinburg"}
        )
        cls.company.resource_calendar_id = calendar
        cls.telephony_manager = new_test_user(
            cls.env, login="wb_tel_mgr", name="Tanya Telephony",
            groups="medpulse_telephony.group_telephony_manager", tz="Europe/Moscow",
        )
        cls.clinic_manager = new_test_user(
            cls.env, login="wb_clinic_mgr", name="Kira Clinic",
            groups="medpulse_clinic.group_clinic_manager",
        )
        cls.Board = cls.env["medpulse.wallboard"]

    def board(self, user=None, now=NOW, tv_mode=False):
        user = user or self.clinic_manager
        return self.Board.with_user(user)._wallboard_data(self.company, tv_mode=tv_mode, now=now)

    def operator_state(self, board, user):
        row = next(row for row in board["operators"] if row["id"] == user.id)
        return row["state"], row["since"]

    def test_a_call_from_the_voice_menu_to_after_call_work(self):
        t0 = NOW - timedelta(minutes=3)
        events = incoming_answered("E-WB-1", t0=_ts(t0))
        self.receive(events[:1])
        board = self.board()
        self.assertEqual(len(board["waiting"]), 1)
        waiting = board["waiting"][0]
        self.assertEqual(waiting["where"], "ivr")
        self.assertEqual(waiting["since"], fields.Datetime.to_string(t0), "waits since it came")
        self.assertEqual(waiting["patient"], "Ivanova Anna")
        self.assertEqual(board["in_progress"], [])
        self.assertEqual(self.operator_state(board, self.operator1)[0], "free")

        call = self.receive(events[1:4])
        board = self.board()
        waiting = board["waiting"][0]
        self.assertEqual(waiting["where"], "ringing")
        self.assertEqual(waiting["queue"], "300", "the group's number: the client names it")
        self.assertEqual(sorted(waiting["ringing"]), ["Olga Operator", "Pavel Operator"])
        self.assertEqual(
            self.operator_state(board, self.operator1),
            ("ringing", fields.Datetime.to_string(t0 + timedelta(seconds=5))),
        )

        self.receive(events[4:6])
        board = self.board()
        self.assertEqual(board["waiting"], [])
        [talking] = board["in_progress"]
        self.assertEqual((talking["operator_id"], talking["call_id"]), (self.operator1.id, call.id))
        self.assertEqual(talking["since"], fields.Datetime.to_string(t0 + timedelta(seconds=12)))
        self.assertEqual(self.operator_state(board, self.operator1)[0], "talking")
        self.assertEqual(self.operator_state(board, self.operator2)[0], "free")

        # Hung up at t0 + 72 s: after-call work until the card is saved or 2 minutes pass.
        self.receive(events[6:])
        ended = t0 + timedelta(seconds=72)
        board = self.board(now=ended + timedelta(seconds=30))
        self.assertEqual((board["waiting"], board["in_progress"]), ([], []))
        row = next(row for row in board["operators"] if row["id"] == self.operator1.id)
        self.assertEqual(
            (row["state"], row["since"], row["after_call_until"]),
            ("after_call", fields.Datetime.to_string(ended),
             fields.Datetime.to_string(ended + timedelta(seconds=AFTER_CALL_SECONDS))),
        )
        later = self.board(now=ended + timedelta(seconds=AFTER_CALL_SECONDS + 1))
        self.assertEqual(self.operator_state(later, self.operator1)[0], "free")
        call.with_user(self.operator1).action_card_followup("resolved")
        board = self.board(now=ended + timedelta(seconds=30))
        self.assertEqual(
            self.operator_state(board, self.operator1),
            ("free", fields.Datetime.to_string(ended)),
            "saved: free since the hang-up",
        )
        figures = next(r for r in board["operators"] if r["id"] == self.operator1.id)["figures"]
        self.assertEqual((figures["answered"], figures["talk_seconds"]), (1, 60))

    def test_an_outgoing_call_in_progress(self):
        t0 = NOW - timedelta(minutes=1)
        self.receive(outgoing("E-WB-OUT", t0=_ts(t0))[:2])
        board = self.board()
        [row] = board["in_progress"]
        self.assertEqual((row["direction"], row["operator_id"]), ("outgoing", self.operator1.id))
        self.assertEqual(self.operator_state(board, self.operator1)[0], "talking")

    def test_after_call_work_of_an_outgoing_call_and_not_of_another_company(self):
        """After-call work is counted for whoever placed an outgoing call, from its hang-up,
        and never from another company's call of a user with the same id's key."""
        call = self.receive(outgoing("E-WB-OUT-END", t0=_ts(NOW - timedelta(minutes=3))))
        self.assertTrue(call.answered_at and call.ended_at)
        board = self.board(now=call.ended_at + timedelta(seconds=30))
        self.assertEqual(
            self.operator_state(board, self.operator1),
            ("after_call", fields.Datetime.to_string(call.ended_at)),
        )
        self.assertEqual(self.operator_state(board, self.operator2)[0], "free")
        other = self.env["res.company"].create({
            "name": "Other clinic (after-call)", "medpulse_pbx_api_key": "wb-ac-key",
            "medpulse_pbx_api_salt": API_SALT, "medpulse_pbx_time_base": "utc",
        })
        self.operator2.company_ids = [Command.link(other.id)]
        for path, payload in outgoing("E-WB-OUT-OTHER", t0=_ts(NOW - timedelta(minutes=3)),
                                      extension="102"):
            self.env["medpulse.call.event"].sudo()._receive(other, path, dumps(payload))
        board = self.board(now=call.ended_at + timedelta(seconds=30))
        self.assertEqual(self.operator_state(board, self.operator2)[0], "free")
        later = self.board(now=call.ended_at + timedelta(seconds=AFTER_CALL_SECONDS + 1))
        self.assertEqual(self.operator_state(later, self.operator1)[0], "free")

    def test_away_from_the_systray_switch(self):
        self.operator2.with_user(self.operator2).write({"medpulse_pbx_away": True})
        since = self.operator2.medpulse_pbx_away_since
        self.assertTrue(since)
        board = self.board()
        self.assertEqual(
            self.operator_state(board, self.operator2), ("away", fields.Datetime.to_string(since))
        )
        self.operator2.with_user(self.operator2).write({"medpulse_pbx_away": False})
        self.assertFalse(self.operator2.medpulse_pbx_away_since)
        self.assertEqual(self.operator_state(self.board(), self.operator2)[0], "free")

    def test_today_in_ufa_from_a_server_in_utc(self):
        """9:00 in Ufa on 2 March is 4:00 UTC: the day began at 19:00 UTC on 1 March."""
        now = datetime(2026, 3, 2, 4, 0, 0)
        yesterday = datetime(2026, 3, 1, 18, 30)  # 23:30 in Ufa, 1 March
        today = datetime(2026, 3, 1, 19, 30)  # 0:30 in Ufa, 2 March
        self.receive(incoming_answered("E-WB-YESTERDAY", t0=_ts(yesterday)))
        answered = self.receive(incoming_answered("E-WB-TODAY", t0=_ts(today)))
        self.receive(incoming_missed("E-WB-MISSED", t0=_ts(today + timedelta(minutes=10)),
                                     caller="79035550001"))
        # The missed caller is called back 5 minutes later: in time.
        self.receive(outgoing("E-WB-CALLBACK", t0=_ts(today + timedelta(minutes=15)),
                              callee="79035550001"))
        service = self.env["medpulse.service"].sudo().create(
            {"name": "Wallboard Consultation", "duration": 30}
        )
        doctor = self.env["medpulse.doctor"].sudo().create({
            "name": "Wallboard Doctor", "resource_calendar_id": False,
            "service_ids": [Command.set(service.ids)],
        })
        self.env["medpulse.appointment"].sudo().create({
            "patient_id": self.patient.id, "call_id": answered.id, "doctor_id": doctor.id,
            "service_id": service.id, "start": fields.Datetime.to_string(now + timedelta(days=1)),
        })
        for user in (self.telephony_manager, self.clinic_manager):
            board = self.board(user=user, now=now)
            totals = board["totals"]
            self.assertEqual(board["tz"], "Asia/Yekaterinburg")
            self.assertEqual(
                {key: totals[key] for key in (
                    "incoming", "answered", "missed", "answered_rate", "longest_wait",
                    "average_wait", "bookings", "callbacks_in_time", "callbacks_late",
                )},
                {"incoming": 2, "answered": 1, "missed": 1, "answered_rate": 50,
                 "longest_wait": 24, "average_wait": 18, "bookings": 1,
                 "callbacks_in_time": 1, "callbacks_late": 0},
                user.login,
            )
            self.assertEqual(board["day_end"], "2026-03-02 19:00:00")
            figures = next(r for r in board["operators"] if r["id"] == self.operator1.id)
            self.assertEqual(
                {key: figures["figures"][key] for key in ("answered", "outgoing", "bookings")},
                {"answered": 1, "outgoing": 1, "bookings": 1},
            )

    def _ringing(self, entry_id="E-WB-LIVE"):
        t0 = NOW - timedelta(seconds=20)
        return self.receive(incoming_answered(entry_id, t0=_ts(t0))[:4])

    def _partner_reads(self):
        """(statements reading partners while the board is computed, the board)."""
        self.env.invalidate_all()
        reads = []
        execute = sql_db.Cursor.execute

        def counted(cr, query, params=None, log_exceptions=True):
            reads.append('FROM "res_partner"' in str(query))
            return execute(cr, query, params, log_exceptions)

        with patch.object(sql_db.Cursor, "execute", counted):
            board = self.board()
        return sum(reads), board

    def test_the_operators_names_are_read_at_once(self):
        """The operators ringing or talking are read together (one by one, a query per
        operator and push: most of a push's statements with 30 live calls)."""
        t0 = NOW - timedelta(seconds=10)
        self._ringing()  # rings 101 and 102
        self.receive(incoming_answered(
            "E-WB-LIVE-MOBILE", t0=_ts(t0), to_operator={"number": OPERATOR_MOBILE},
        )[:4])
        self.receive(outgoing("E-WB-LIVE-OUT", t0=_ts(t0), extension="102")[:2])
        reads, board = self._partner_reads()
        self.assertEqual((len(board["waiting"]), len(board["in_progress"])), (2, 1))
        ringing = {name for row in board["waiting"] for name in row.get("ringing", [])}
        self.assertTrue({self.operator1.name, self.operator3.name} <= ringing, ringing)
        self.assertLessEqual(reads, 2, "the live calls' operators, then the others")

    def test_names_for_clinic_roles_only_and_masked_numbers_in_tv_mode(self):
        self._ringing()
        shown = self.board(user=self.clinic_manager)["waiting"][0]
        self.assertEqual((shown["number"], shown["patient"]), ("+7 916 123-45-67", "Ivanova Anna"))
        board = self.board(user=self.telephony_manager)
        self.assertFalse(board["show_names"])
        self.assertEqual(
            (board["waiting"][0]["number"], board["waiting"][0]["patient"]),
            ("+7 916 123-45-67", ""), "a telephony manager without a clinic role: no name",
        )
        for user in (self.clinic_manager, self.telephony_manager, self.manager):
            board = self.board(user=user, tv_mode=True)
            self.assertFalse(board["show_names"])
            row = board["waiting"][0]
            self.assertEqual((row["number"], row["patient"]), ("•••4567", ""), user.login)
            self.assertNotIn("Ivanova", json.dumps(board, ensure_ascii=False))

    def test_another_company_never_appears(self):
        other = self.env["res.company"].create({
            "name": "Other clinic (wallboard)", "medpulse_pbx_api_key": "wb-other-key",
            "medpulse_pbx_api_salt": API_SALT, "medpulse_pbx_time_base": "utc",
        })
        stranger = new_test_user(
            self.env, login="wb_stranger", name="Stranger Operator",
            groups="medpulse_clinic.group_clinic_receptionist",
            company_id=other.id, company_ids=[Command.set(other.ids)],
        )
        stranger.medpulse_pbx_extension = "101"
        Event = self.env["medpulse.call.event"].sudo()
        ringing = incoming_answered("E-WB-OTHER", t0=_ts(NOW - timedelta(seconds=20)))[:4]
        for path, payload in ringing:
            Event._receive(other, path, dumps(payload))
        self.receive(incoming_missed("E-WB-MINE", t0=_ts(NOW - timedelta(hours=1))))
        board = self.board()
        self.assertEqual((board["waiting"], board["in_progress"]), ([], []))
        self.assertNotIn(stranger.id, [row["id"] for row in board["operators"]])
        self.assertEqual(board["totals"]["incoming"], 1)
        # Its board is another company's: refused unless the user works there.
        with self.assertRaises(AccessError):
            self.Board.with_user(self.clinic_manager).with_context(
                allowed_company_ids=other.ids
            ).get_board()

    def test_operators_may_not_open_it(self):
        with self.assertRaises(AccessError):
            self.Board.with_user(self.operator1).get_board()
        for user in (self.telephony_manager, self.clinic_manager):
            board = self.Board.with_user(user).get_board(tv_mode=True)
            self.assertEqual(board["company_id"], self.company.id)
        menu = self.env.ref("medpulse_telephony.medpulse_wallboard_menu")
        visible = self.env["ir.ui.menu"].with_user(self.operator1)._visible_menu_ids()
        self.assertNotIn(menu.id, visible)
        for user in (self.telephony_manager, self.clinic_manager):
            self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(user)._visible_menu_ids())

    def _pushed(self):
        """{variant: [payload]} of the board messages written in this transaction."""
        self.env.cr.precommit.run()
        pushed = {}
        for variant in WALLBOARD_VARIANTS:
            target = (self.company, f"{WALLBOARD_SUBCHANNEL}/{variant}")
            channel = json_dump(channel_with_db(self.env.cr.dbname, target))
            messages = self.env["bus.bus"].sudo().search([("channel", "=", channel)], order="id")
            pushed[variant] = [json.loads(m.message) for m in messages]
        return pushed

    def _as_if_committed(self):
        """What a new transaction starts without: the companies already said changed."""
        self.env.cr.postcommit.data.pop(_CHANGED_KEY, None)

    def _changes(self):
        self.env.cr.execute(
            "SELECT company_id FROM medpulse_wallboard_change ORDER BY id"
        )
        return [company_id for (company_id,) in self.env.cr.fetchall()]

    def _triggers(self):
        cron = self.env.ref(PUBLISH_CRON)
        return self.env["ir.cron.trigger"].sudo().search_count([("cron_id", "=", cron.id)])

    def test_no_board_open_nothing_written(self):
        self.env["medpulse.wallboard.watch"].sudo().search([]).unlink()
        self._ringing()
        self.operator2.with_user(self.operator2).write({"medpulse_pbx_away": True})
        self.assertEqual((self._changes(), self._triggers()), ([], 0))

    def test_an_open_board_is_pushed_its_changes_once_per_pass(self):
        # A long interval: the second push is throttled however slow the machine.
        self.patch(wallboard_module, "PUBLISH_INTERVAL", 60)
        self.env["bus.bus"].sudo().search([]).unlink()
        # A board of each variant open: with names, without, on a TV.
        self.Board.with_user(self.clinic_manager).get_board()
        self.Board.with_user(self.telephony_manager).get_board()
        self.Board.with_user(self.telephony_manager).get_board(tv_mode=True)
        self.assertEqual(self._changes(), [], "opening a board changes nothing")
        call = self._ringing()
        self.operator3.with_user(self.operator3).write({"medpulse_pbx_away": True})
        self.assertEqual(
            self._changes(), [self.company.id],
            "four events and a switch in one transaction: one change, no board computed",
        )
        self.assertEqual(self._triggers(), 1, "the publisher woken once")
        self.assertEqual(self._pushed(), {variant: [] for variant in WALLBOARD_VARIANTS})

        self.assertTrue(self.Board._publish_due(now=NOW))
        pushed = self._pushed()
        self.assertEqual(
            {variant: len(messages) for variant, messages in pushed.items()},
            dict.fromkeys(WALLBOARD_VARIANTS, 1), "each variant once",
        )
        payloads = {variant: messages[0]["payload"] for variant, messages in pushed.items()}
        for variant, payload in payloads.items():
            self.assertEqual(pushed[variant][0]["type"], WALLBOARD_NOTIFICATION)
            self.assertEqual((payload["company_id"], payload["variant"]),
                             (self.company.id, variant))
            [row] = payload["board"]["waiting"]
            self.assertEqual(row["call_id"], call.id)
            ringing = next(r for r in payload["board"]["operators"] if r["id"] == self.operator2.id)
            self.assertEqual(ringing["state"], "ringing")
        named, unnamed, tv = (payloads[v]["board"] for v in ("named", "unnamed", "tv"))
        self.assertEqual(
            [(b["waiting"][0]["number"], b["waiting"][0]["patient"], b["show_names"], b["tv_mode"])
             for b in (named, unnamed, tv)],
            [("+7 916 123-45-67", "Ivanova Anna", True, False),
             ("+7 916 123-45-67", "", False, False),
             ("•••4567", "", False, True)],
        )
        for board in (unnamed, tv):
            self.assertNotIn("Ivanova", json.dumps(board, ensure_ascii=False))
        self.assertNotIn("916", json.dumps(tv["waiting"]))
        self.assertEqual(self._changes(), [], "consumed")
        self.assertFalse(self.Board._publish_due(now=NOW), "nothing new: nothing pushed")

        self._as_if_committed()
        self.operator2.with_user(self.operator2).write({"medpulse_pbx_away": True})
        self.assertEqual(self._changes(), [self.company.id], "the away switch")
        self.assertTrue(self.Board._publish_due(now=NOW), "pending...")
        self.assertEqual(
            {variant: len(messages) for variant, messages in self._pushed().items()},
            dict.fromkeys(WALLBOARD_VARIANTS, 1), "...but pushed less than the interval ago",
        )
        self.assertEqual(self._changes(), [self.company.id], "still pending")
        due = self.Board._due_in([self.company.id])
        self.assertTrue(59 < due <= 60, f"due in the interval, to the millisecond: {due}")
        self.env.cr.execute(
            "UPDATE medpulse_wallboard_watch SET published_at = published_at - interval '1 hour'"
        )
        self.assertEqual(self.Board._due_in([self.company.id]), 0.0, "due now")
        self.assertTrue(self.Board._publish_due(now=NOW))
        self.assertEqual(len(self._pushed()["named"]), 2, "pushed once the interval passed")
        self.assertEqual(self._changes(), [])

    def test_only_the_variants_open_are_pushed(self):
        self.patch(wallboard_module, "PUBLISH_INTERVAL", 60)
        self.env["medpulse.wallboard.watch"].sudo().search([]).unlink()
        self.env["bus.bus"].sudo().search([]).unlink()
        Watch = self.env["medpulse.wallboard.watch"].sudo()

        def pushed():
            return {variant: len(messages) for variant, messages in self._pushed().items()}

        def push_again():
            self.env.cr.execute(
                "UPDATE medpulse_wallboard_watch"
                " SET published_at = published_at - interval '1 hour'"
            )
            self._as_if_committed()
            self.operator2.with_user(self.operator2).write(
                {"medpulse_pbx_away": not self.operator2.medpulse_pbx_away}
            )
            self.assertTrue(self.Board._publish_due(now=NOW))

        self.Board.with_user(self.telephony_manager).get_board()
        self._ringing()
        self.assertTrue(self.Board._publish_due(now=NOW))
        self.assertEqual(pushed(), {"named": 0, "unnamed": 1, "tv": 0},
                         "a board without names open: that variant alone")

        self.Board.with_user(self.clinic_manager).get_board(tv_mode=True)
        push_again()
        self.assertEqual(pushed(), {"named": 0, "unnamed": 2, "tv": 1}, "and a TV since")

        Watch.search([]).write({"unnamed_until": fields.Datetime.now() - timedelta(minutes=1)})
        push_again()
        self.assertEqual(pushed(), {"named": 0, "unnamed": 2, "tv": 2},
                         "the board without names closed: no longer pushed")

        self.Board.with_user(self.clinic_manager).get_board()
        push_again()
        self.assertEqual(pushed(), {"named": 1, "unnamed": 2, "tv": 3})

        # A watch written before the variants were kept names none: all three are pushed.
        Watch.search([]).write({"named_until": False, "unnamed_until": False, "tv_until": False})
        push_again()
        self.assertEqual(pushed(), {"named": 2, "unnamed": 3, "tv": 4})

    def test_a_board_reopened_keeps_its_variant_watched_once_a_minute(self):
        self.env["medpulse.wallboard.watch"].sudo().search([]).unlink()
        self.Board.with_user(self.telephony_manager).get_board()
        [watch] = self.env["medpulse.wallboard.watch"].sudo().search_read(
            [], ["until", "named_until", "unnamed_until", "tv_until"]
        )
        self.assertEqual((watch["named_until"], watch["tv_until"]), (False, False))
        self.assertEqual(watch["unnamed_until"], watch["until"])
        self.Board.with_user(self.telephony_manager).get_board(tv_mode=True)
        self.env["medpulse.wallboard.watch"].invalidate_model()
        [again] = self.env["medpulse.wallboard.watch"].sudo().search_read(
            [], ["until", "named_until", "unnamed_until", "tv_until"]
        )
        self.assertTrue(again["tv_until"], "a new variant is written at once")
        self.assertEqual(again["unnamed_until"], watch["unnamed_until"], "the other kept")
        self.assertGreaterEqual(again["until"], watch["until"])

    def test_the_card_saved_ends_after_call_work_on_the_boards(self):
        call = self.receive(incoming_answered("E-WB-SAVED", t0=_ts(NOW - timedelta(minutes=3))))
        self.Board.with_user(self.clinic_manager).get_board()
        self._as_if_committed()
        call.with_user(self.operator1).action_card_followup("resolved")
        self.assertEqual(self._changes(), [self.company.id])

    def test_silent_pbx_in_working_hours(self):
        # Monday 12:00 in Ufa, standard 8-17 calendar: an hour of working time passed.
        self.assertTrue(self.board()["silence"]["silent"], "no event at all")
        event = self.receive(incoming_missed("E-WB-SILENT"))
        event = self.env["medpulse.call.event"].sudo().search([("call_id", "=", event.id)])
        event.write({"received_at": NOW - timedelta(minutes=90)})
        silence = self.board()["silence"]
        self.assertTrue(silence["silent"])
        self.assertEqual(silence["minutes"], 60)
        event.write({"received_at": NOW - timedelta(minutes=10)})
        silence = self.board()["silence"]
        self.assertFalse(silence["silent"])
        check_at = fields.Datetime.to_string(NOW + timedelta(minutes=50))
        self.assertEqual(silence["check_at"], check_at, "the last event plus the threshold")
        # Sunday: no working time, no banner.
        sunday = NOW + timedelta(days=6)
        self.assertFalse(self.board(now=sunday)["silence"]["silent"])

    def test_a_recent_event_needs_no_calendar_and_says_the_same(self):
        call = self.receive(incoming_missed("E-WB-RECENT"))
        events = self.env["medpulse.call.event"].sudo().search([("call_id", "=", call.id)])
        Health = type(self.env["medpulse.telephony.health"])
        threshold_of = Health._silence_threshold
        asked = []

        def counted(health, now):
            asked.append(now)
            return threshold_of(health, now)

        self.patch(Health, "_silence_threshold", counted)
        health = self.env["medpulse.telephony.health"].sudo().new({"company_id": self.company.id})
        # Monday 12:00 and 08:30 in Ufa (the working day began 30 minutes ago).
        for now in (NOW, NOW - timedelta(hours=3, minutes=30)):
            threshold = threshold_of(health, now)
            for minutes_ago in (0, 10, 59, 60, 61, 90, 200, 24 * 60):
                received = now - timedelta(minutes=minutes_ago)
                events.write({"received_at": received})
                asked.clear()
                silent = self.board(now=now)["silence"]["silent"]
                self.assertEqual(
                    silent, bool(threshold and received < threshold),
                    f"{minutes_ago} min before {now}: as the calendar says",
                )
                self.assertEqual(
                    bool(asked), minutes_ago > 60,
                    "the calendar read only for an event older than the threshold's minutes",
                )


#: The README's wallboard access table: who opens it (menu and server), who sees names on it.
WALLBOARD_MATRIX = {
    "operator": set(),
    "receptionist": set(),
    "doctor": set(),
    "telephony_manager": {"wallboard_menu", "open_wallboard"},
    "clinic_manager": {"wallboard_menu", "open_wallboard", "names_on_wallboard"},
    "administrator": {"wallboard_menu", "open_wallboard", "names_on_wallboard"},
    "portal": set(),
    "public": set(),
}


@tagged("post_install", "-at_install")
class TestWallboardAccessMatrix(TelephonyFixtures, TransactionCase):
    """One check per cell of the README's wallboard access table."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.users = {
            role: cls.env.ref("base.public_user") if groups is None
            else new_test_user(cls.env, login=f"wb_matrix_{role}", groups=groups)
            for role, groups in ROLES.items()
        }
        now = fields.Datetime.now()
        cls.receive(cls, incoming_answered("E-WB-MATRIX", t0=_ts(now - timedelta(seconds=20)))[:4])

    def attempt(self, role, action):
        env = self.env(user=self.users[role])
        if action == "wallboard_menu":
            menu = self.env.ref("medpulse_telephony.medpulse_wallboard_menu")
            return menu.id in env["ir.ui.menu"]._visible_menu_ids()
        board = env["medpulse.wallboard"].get_board()
        if action == "open_wallboard":
            return True
        return board["waiting"][0]["patient"] == "Ivanova Anna"

    def test_matrix(self):
        actions = ("wallboard_menu", "open_wallboard", "names_on_wallboard")
        self.assertEqual(matrix_mismatches(self, WALLBOARD_MATRIX, actions), [])


@tagged("post_install", "-at_install")
class TestWallboardChannel(TelephonyFixtures, WebsocketCase):
    """A board asks for its company's board in one variant: the server grants it to the
    company's supervisors, the names to those who may read patients, and nothing else."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.clinic_manager = new_test_user(
            cls.env, login="wb_ws_clinic", groups="medpulse_clinic.group_clinic_manager"
        )
        cls.telephony_only = new_test_user(
            cls.env, login="wb_ws_tel", groups="medpulse_telephony.group_telephony_manager"
        )
        cls.other = cls.env["res.company"].create({"name": "Other clinic (wallboard bus)"})

    def _pushed(self, user, asked):
        """The boards pushed to ``user``'s websocket that asked for the channels ``asked``."""
        session = self.authenticate(user.login, user.login)
        websocket = self.websocket_connect(cookie=f"session_id={session.sid}")
        self.subscribe(websocket, asked, self.env["bus.bus"]._bus_last_id())
        self.env["medpulse.wallboard"]._publish(self.company)
        self.env["medpulse.wallboard"]._publish(self.other)
        self.trigger_notification_dispatching([
            (company, f"{WALLBOARD_SUBCHANNEL}/{variant}")
            for company in (self.company, self.other) for variant in WALLBOARD_VARIANTS
        ])
        try:
            received = json.loads(websocket.recv())
        except Exception:  # noqa: BLE001 - a timeout: nothing came
            received = []
        return sorted(
            (n["message"]["payload"]["company_id"], n["message"]["payload"]["variant"])
            for n in received if n["message"]["type"] == WALLBOARD_NOTIFICATION
        )

    def ask(self, company, variant):
        return f"{WALLBOARD_SUBCHANNEL}:{company.id}:{variant}"

    def test_supervisors_get_the_variant_they_ask_for(self):
        for user in (self.telephony_only, self.clinic_manager):
            for variant in ("unnamed", "tv"):
                self.assertEqual(
                    self._pushed(user, [self.ask(self.company, variant)]),
                    [(self.company.id, variant)], (user.login, variant),
                )
        self.assertEqual(
            self._pushed(self.clinic_manager, [self.ask(self.company, "named")]),
            [(self.company.id, "named")],
        )

    def test_names_only_for_clinic_roles(self):
        self.assertEqual(self._pushed(self.telephony_only, [self.ask(self.company, "named")]), [])

    def test_not_operators_nor_other_companies_nor_made_up_names(self):
        self.assertEqual(self._pushed(self.operator1, [self.ask(self.company, "tv")]), [])
        self.assertEqual(self._pushed(self.clinic_manager, [
            self.ask(self.other, "tv"), f"{WALLBOARD_SUBCHANNEL}:{self.company.id}:all",
            f"{WALLBOARD_SUBCHANNEL}:x:tv", f"{WALLBOARD_SUBCHANNEL}/named",
        ]), [])


@tagged("post_install", "-at_install")
class TestWallboardPushedByTheWebhook(TelephonyFixtures, HttpCase):
    """The PBX's events through the real route while a board is open: its request pushes the
    board (once it has answered; in the test mode, whose threads share one connection, just
    before), at most every PUBLISH_INTERVAL; with no board open, nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.clinic_manager = new_test_user(
            cls.env, login="wb_hook_clinic", groups="medpulse_clinic.group_clinic_manager"
        )

    def setUp(self):
        super().setUp()
        # Whether the request ran its push (the test reads the database once it is over).
        self.pushed_after = threading.Event()
        push = webhook_module.push_after_answer

        def push_and_tell(*args, **kwargs):
            try:
                push(*args, **kwargs)
            finally:
                self.pushed_after.set()

        self.patch(webhook_module, "push_after_answer", push_and_tell)

    def post(self, path, payload, board_open=True):
        self.pushed_after.clear()
        form = mango_vpbx.encode(dumps(payload), API_KEY, API_SALT)
        self.assertEqual(self.url_open(f"/mango/{path}", data=form).status_code, 200)
        if board_open:
            self.assertTrue(self.pushed_after.wait(10), "the push after the answer ran")
        else:
            self.assertFalse(self.pushed_after.wait(0.5), "no board open: no push to run")

    def pushes(self):
        target = (self.company, f"{WALLBOARD_SUBCHANNEL}/named")
        channel = json_dump(channel_with_db(self.env.cr.dbname, target))
        messages = self.env["bus.bus"].sudo().search([("channel", "=", channel)], order="id")
        return [json.loads(m.message)["payload"] for m in messages]

    def pending(self):
        self.env.cr.execute(
            "SELECT count(*) FROM medpulse_wallboard_change WHERE company_id = %s",
            [self.company.id],
        )
        return self.env.cr.fetchone()[0]

    def test_an_open_board_is_pushed_after_the_answer(self):
        # A long interval: the fourth event is throttled however slow the machine.
        self.patch(wallboard_module, "PUBLISH_INTERVAL", 60)
        self.env["bus.bus"].sudo().search([]).unlink()
        events = incoming_answered("E-WB-HOOK", t0=_ts(fields.Datetime.now()))
        self.post(*events[0], board_open=False)  # in the voice menu
        self.post(*events[1], board_open=False)  # out of it
        self.assertEqual((self.pushes(), self.pending()), ([], 0))
        self.env["medpulse.wallboard"].with_user(self.clinic_manager).get_board()
        self.post(*events[2])  # Pavel's phone rings
        [pushed] = self.pushes()
        self.assertEqual(pushed["variant"], "named")
        self.assertEqual([row["patient"] for row in pushed["board"]["waiting"]], ["Ivanova Anna"])
        self.assertEqual(self.pending(), 0)
        # The next event within PUBLISH_INTERVAL: throttled, left to the cron.
        self.post(*events[3])
        self.assertEqual((len(self.pushes()), self.pending()), (1, 1), "pending for the cron")
        self.env.cr.execute(
            "UPDATE medpulse_wallboard_watch SET published_at = published_at - interval '1 hour'"
        )
        self.post(*events[4])
        self.assertEqual((len(self.pushes()), self.pending()), (2, 0),
                         "pushed again once the interval passed, with what was pending")

    def test_a_board_with_a_timer_set_is_left_to_it(self):
        """While a timer of the worker is set for the company's board (the throttle held an
        earlier push back), an event's request asks the database nothing for the board: its
        change stays for the timer, which reads the changes once it fires."""
        self.env["bus.bus"].sudo().search([]).unlink()
        self.env["medpulse.wallboard"].with_user(self.clinic_manager).get_board()
        events = incoming_answered("E-WB-TIMER", t0=_ts(fields.Datetime.now()))
        queries = []
        claim = wallboard_module.MedpulseWallboard._claim

        def counted_claim(board, company):
            queries.append(company.id)
            return claim(board, company)

        self.patch(wallboard_module.MedpulseWallboard, "_claim", counted_claim)
        self.patch(webhook_module, "_push_timers",
                   {(self.env.cr.dbname, self.company.id): "a timer of this worker"})
        self.post(*events[2])
        self.assertEqual((self.pushes(), self.pending(), queries), ([], 1, []),
                         "left to the timer: no claim, the change pending")
        # The timer fired (its key gone): the next push has both changes.
        self.patch(webhook_module, "_push_timers", {})
        self.post(*events[3])
        [pushed] = self.pushes()
        self.assertEqual((self.pending(), queries), (0, [self.company.id]))
        self.assertEqual([row["patient"] for row in pushed["board"]["waiting"]],
                         ["Ivanova Anna"])

    def test_one_timer_per_board_and_worker_and_the_first_push_outlives_an_exit(self):
        """The push right after an answer is a thread the worker's exit waits for; one
        the throttle holds back is not; a second request while one is set adds none."""
        started = []

        class Timer:
            def __init__(self, delay, function):
                self.delay, self.daemon = delay, None

            def start(self):
                started.append((self.delay, self.daemon))

        self.patch(webhook_module.threading, "Timer", Timer)
        self.patch(webhook_module, "_push_timers", {})
        dbname = self.env.cr.dbname
        webhook_module.push_after_answer(dbname, [self.company.id])
        webhook_module.push_after_answer(dbname, [self.company.id])
        webhook_module._push_later(dbname, [self.company.id], 1, 0.5)
        self.assertEqual(started, [(0.0, False)], "one timer for the board, at once")
        self.patch(webhook_module, "_push_timers", {})
        webhook_module._push_later(dbname, [self.company.id], 1, 0.5)
        self.assertEqual(started[1], (0.5 + webhook_module.PUSH_LATER_MARGIN, True))
