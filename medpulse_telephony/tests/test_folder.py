"""The folder: whoever holds it folds the events waiting, those of a call together.

The webhook commits its event and answers; then its worker folds the waiting events if
it can take the folder, and leaves its event to the holder otherwise
(``controllers/webhook.py``, :func:`fold_waiting`). These tests check that the folder's
journal, recordings and event states are the ones the event-by-event fold gives, for
every emulator scenario shuffled and duplicated, a call recomputed once for all its
waiting events; that a request leaves its event while another session (a real second
connection) holds the folder, and that the next holder folds it; and that a request
that found the folder free lets go of it.
"""

import json
import time
from unittest.mock import patch

from odoo import sql_db
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL

import mango_vpbx
from mango_vpbx_emulator.testing import sequence

from ..controllers.webhook import fold_waiting
from ..models.medpulse_call import CARD_NOTIFICATION, MedpulseCall
from ..models.medpulse_call_event import _CALL_LOCK_NAMESPACE, _FOLDER_LOCK_KEY
from .common import API_KEY, API_SALT, TelephonyFixtures, incoming_answered, shuffled_scenarios

FOLDER_LOCK = SQL("%s, %s", _CALL_LOCK_NAMESPACE, _FOLDER_LOCK_KEY)


@tagged("post_install", "-at_install")
class TestFolder(TelephonyFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.Event = cls.env["medpulse.call.event"].sudo()
        cls.Call = cls.env["medpulse.call"].sudo()

    def store(self, events):
        """What a request that left its events to the folder committed: the raw events."""
        with self.registry.cursor() as cr:
            Event = self.Event.with_env(self.env(cr=cr))
            for path, text in events:
                Event._store(self.company, path, text)

    def run_folder(self):
        return fold_waiting(self.env.cr.dbname)

    def outcome(self, entry_id):
        """What the fold of a call left: the journal, the recordings, the events. (Not the
        cards: a call over before the folder got to it rang no operator's screen.)"""
        self.env.invalidate_all()
        call = self.Call.search([("entry_id", "=", entry_id)])
        self.assertEqual(len(call), 1, entry_id)
        return {
            "journal": self.snapshot(call),
            "recordings": sorted(call.recording_ids.mapped(lambda r: (r.recording_id, r.state))),
            "events": sorted(set(call.event_ids.mapped("state"))),
            "waiting": self.Event.search_count([
                ("entry_id", "=", entry_id), ("state", "=", "received"),
            ]),
        }

    def test_every_scenario_folded_by_the_folder_as_by_the_webhook(self):
        """Each scenario, shuffled and partly delivered twice, once event by event (the
        webhook's fold of each request, ``_receive``) and once all left to the folder, in
        one run: the same journal, recordings and event states; the folder
        recomputes the call once."""
        recomputes = []
        original = MedpulseCall._recompute

        def counting(records, company, entry_id, new_events=None):
            recomputes.append(entry_id)
            return original(records, company, entry_id, new_events)

        for label, entry_id, mixed in shuffled_scenarios():
            with self.env.cr.savepoint() as savepoint:
                for path, text in mixed:
                    self.Event._receive(self.company, path, text)
                one_by_one = self.outcome(entry_id)
                savepoint.rollback()
            self.env.invalidate_all()
            self.assertFalse(self.Call.search([("entry_id", "=", entry_id)]), label)
            self.store(mixed)
            self.assertFalse(self.Call.search([("entry_id", "=", entry_id)]), label)
            recomputes.clear()
            with patch.object(MedpulseCall, "_recompute", counting):
                folded = self.run_folder()
            self.assertEqual(folded, len(set(mixed)), label)
            self.assertEqual(recomputes, [entry_id], label)
            self.assertEqual(self.outcome(entry_id), one_by_one, label)
            self.assertEqual(self.outcome(entry_id)["waiting"], 0, label)
            self.assertFalse(self.run_folder(), f"{label}: nothing left")

    def test_results_fold_on_their_own_and_unreadable_events_are_flagged(self):
        """Events of no call (a command's result) are folded each on its own, and an event
        that no longer parses is flagged, not folded."""
        [(path, text)] = [(p, t) for p, t in sequence("callback") if p.startswith("result/")]
        call_events = incoming_answered("E-FOLDER-RES")
        self.store([(path, text), *[(p, mango_vpbx.signing.dumps(e)) for p, e in call_events]])
        broken = self.Event.search([("entry_id", "=", "E-FOLDER-RES")], order="id", limit=1)
        broken.write({"json": "{}"})
        self.env.flush_all()
        folded = self.run_folder()
        self.assertEqual(folded, len(call_events))  # the result, the call's events but one
        broken.invalidate_recordset()
        self.assertEqual(broken.state, "not_understood")
        result = self.Event.search([("path", "=", path)], order="id desc", limit=1)
        self.assertEqual(result.state, "processed")
        self.assertTrue(self.Call.search([("entry_id", "=", "E-FOLDER-RES")]).is_final)

    def test_an_answered_call_folded_at_once_gives_its_operator_the_ended_card(self):
        """Its events folded together (the whole call waited, under a load): no card rang,
        but the operator who talked gets the ended card, to set the follow-up; not for a
        call that ended minutes ago."""
        bus_before = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id
        # An old call folded whole (a history, a late backlog) pops no card.
        old = incoming_answered("E-FOLDER-OLD")
        self.store([(path, mango_vpbx.signing.dumps(payload)) for path, payload in old])
        self.assertEqual(self.run_folder(), len(old))
        self.assertFalse(self.Call.search([("entry_id", "=", "E-FOLDER-OLD")]).card_audience)
        # It ended seconds ago.
        events = incoming_answered("E-FOLDER-ENDED", t0=int(time.time()) - 90)
        self.store([(path, mango_vpbx.signing.dumps(payload)) for path, payload in events])
        self.assertEqual(self.run_folder(), len(events))
        call = self.Call.search([("entry_id", "=", "E-FOLDER-ENDED")])
        self.assertEqual(call.card_audience, {str(self.operator1.id): "ended"})
        cards = self.env["bus.bus"].sudo().search([("id", ">", bus_before)]).filtered(
            lambda row: json.loads(row.message)["type"] == CARD_NOTIFICATION
        )
        self.assertEqual(len(cards), 1)
        payload = json.loads(cards.message)["payload"]
        self.assertEqual(payload["status"], "ended")
        self.assertFalse(payload.get("partial"), "the whole card: it never was on screen")
        self.assertEqual(
            json.loads(cards.channel)[1:], ["res.partner", self.operator1.partner_id.id]
        )

    def test_a_card_that_rang_ends_for_its_operator_when_answer_and_end_fold_together(self):
        """The card rang; the answer and the end of the call were folded together, with
        the summary or before it: the operator who answered keeps the card, ended, to
        set the follow-up; the other operator's card closes."""
        for entry_id, last in (("E-FOLDER-RANG", None), ("E-FOLDER-NOSUM", -1)):
            events = incoming_answered(entry_id)
            for path, payload in events[:4]:
                self.post(path, payload)
            call = self.Call.search([("entry_id", "=", entry_id)])
            self.assertEqual(call.card_audience, {str(self.operator1.id): "ringing",
                                                  str(self.operator2.id): "ringing"})
            folded = events[4:last]
            self.store([(path, mango_vpbx.signing.dumps(payload)) for path, payload in folded])
            self.assertEqual(self.run_folder(), len(folded))
            call.invalidate_recordset()
            self.assertEqual(call.card_audience, {str(self.operator1.id): "ended",
                                                  str(self.operator2.id): "closed"}, entry_id)

    def post(self, path, payload):
        response = self.url_open(
            f"/mango/{path}", data=mango_vpbx.encode(payload, API_KEY, API_SALT)
        )
        self.assertEqual(response.status_code, 200)

    def other_session(self):
        """A real second connection to the database, as another worker's."""
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        self.addCleanup(other.close)
        return other

    def test_a_request_leaves_its_event_to_the_folder_s_holder(self):
        """Another session holds the folder: each request stores its event and answers;
        the events wait, no call yet. The next request that takes the folder folds them
        with its own, and each ringing operator gets one card."""
        events = incoming_answered("E-FOLDER-BUSY")
        other = self.other_session()
        other.execute(SQL("SELECT pg_advisory_lock(%s)", FOLDER_LOCK))
        for path, payload in events[:4]:
            self.post(path, payload)
        self.assertEqual(
            set(self.Event.search([("entry_id", "=", "E-FOLDER-BUSY")]).mapped("state")),
            {"received"},
        )
        self.assertFalse(self.Call.search([("entry_id", "=", "E-FOLDER-BUSY")]))

        other.execute(SQL("SELECT pg_advisory_unlock(%s)", FOLDER_LOCK))
        bus_before = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id
        self.post(*events[4])
        stored = self.Event.search([("entry_id", "=", "E-FOLDER-BUSY")])
        self.assertEqual((len(stored), set(stored.mapped("state"))), (5, {"processed"}))
        call = self.Call.search([("entry_id", "=", "E-FOLDER-BUSY")])
        self.assertEqual(call.card_audience[str(self.operator1.id)], "talking")
        cards = self.env["bus.bus"].sudo().search([("id", ">", bus_before)]).filtered(
            lambda row: json.loads(row.message)["type"] == CARD_NOTIFICATION
        )
        self.assertEqual(
            sorted(json.loads(row.message)["payload"]["status"] for row in cards),
            sorted(call.card_audience.values()),
            "one card per operator, for the five events at once",
        )

    def test_a_request_that_finds_the_folder_free_folds_and_lets_go(self):
        for path, payload in incoming_answered("E-FOLDER-IDLE"):
            self.post(path, payload)
        self.assertEqual(
            set(self.Event.search([("entry_id", "=", "E-FOLDER-IDLE")]).mapped("state")),
            {"processed"},
        )
        self.assertTrue(self.Call.search([("entry_id", "=", "E-FOLDER-IDLE")]).is_final)
        other = self.other_session()
        other.execute(SQL("SELECT pg_try_advisory_lock(%s)", FOLDER_LOCK))
        self.assertTrue(other.fetchone()[0], "the request let go of the folder")
        other.execute(SQL("SELECT pg_advisory_unlock(%s)", FOLDER_LOCK))
