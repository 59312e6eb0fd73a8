"""The folder: whoever holds it folds the events waiting, those of a call together.

The webhook commits its event and answers; then its worker folds the waiting events if
it can take the folder, and leaves its event to the holder otherwise
(``controllers/webhook.py``, :func:`fold_waiting`). These tests check that the folder's
journal, recordings and event states are the ones the event-by-event fold gives, for
every emulator scenario shuffled and duplicated, a call recomputed once for all its
waiting events; that the calls waiting together are folded in one transaction, under
all their locks, as event by event, each in its company, and one by one when one of
them fails; that a request leaves its event while another session (a real second
connection) holds the folder, and that the next holder folds it; and that a request
that found the folder free lets go of it.
"""

import itertools
import json
import math
import time
from unittest.mock import patch

from odoo import sql_db
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL

import mango_vpbx
from mango_vpbx_emulator.testing import sequence

from ..controllers import webhook
from ..controllers.webhook import fold_waiting
from ..models import medpulse_call_event
from ..models.medpulse_call import CARD_NOTIFICATION, MedpulseCall
from ..models.medpulse_call_event import (
    _CALL_LOCK_NAMESPACE,
    _FOLDER_LOCK_KEYS,
    _WAITING_FROM,
    FOLDER_CALLS_TOGETHER,
    FOLDERS,
    WAITING_FULL_LOOK_SECONDS,
    MedpulseCallEvent,
)
from ..models.medpulse_call_tally import MEASURES, TABLE_KEYS, MedpulseCallTally
from ..models.medpulse_telephony_limit import _lock_key
from .common import API_KEY, API_SALT, TelephonyFixtures, incoming_answered, shuffled_scenarios

FOLDER_LOCKS = [SQL("%s, %s", _CALL_LOCK_NAMESPACE, key) for key in _FOLDER_LOCK_KEYS]


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

    def store_payloads(self, events):
        """:meth:`store` for ``(path, payload)`` pairs, serialised as the PBX sends them."""
        self.store([(path, mango_vpbx.signing.dumps(payload)) for path, payload in events])

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

    def count_transactions(self):
        """The folds' transactions (``in_new_transaction``) the folder opens, as a list."""
        opened = []
        original = webhook.in_new_transaction

        def counting(env, work, on_failure):
            opened.append(work)
            return original(env, work, on_failure)

        self.patch(webhook, "in_new_transaction", counting)
        return opened

    def test_calls_waiting_together_fold_in_one_transaction_as_one_by_one(self):
        """Every scenario's events, interleaved as a busy clinic's PBX sends them, folded
        event by event (the webhook's fold of each request) and all left to the folder:
        the same journal for every call, folded in one transaction per
        FOLDER_CALLS_TOGETHER calls."""
        scenarios = list(shuffled_scenarios(seeds=1))
        interleaved = [
            event for row in itertools.zip_longest(*(mixed for _l, _e, mixed in scenarios))
            for event in row if event
        ]
        with self.env.cr.savepoint() as savepoint:
            for path, text in interleaved:
                self.Event._receive(self.company, path, text)
            one_by_one = {entry_id: self.outcome(entry_id) for _l, entry_id, _m in scenarios}
            tallied_one_by_one = self.tallies()
            savepoint.rollback()
        self.env.invalidate_all()
        self.store(interleaved)
        groups = len(self.Event._waiting_for_fold())
        self.assertGreater(groups, len(scenarios), "the scenarios' calls, and results")
        transactions = sum(
            math.ceil(len(self.Event._waiting_for_fold(share=share)) / FOLDER_CALLS_TOGETHER)
            for share in range(FOLDERS)
        )
        opened = self.count_transactions()
        added = []
        original = MedpulseCallTally._add

        def counting(model, call_ids, sign=1):
            added.append(sign)
            return original(model, call_ids, sign)

        with patch.object(MedpulseCallTally, "_add", counting):
            self.assertEqual(self.run_folder(), len(set(interleaved)))
        # One transaction per FOLDER_CALLS_TOGETHER calls of a folder's share.
        self.assertEqual(len(opened), transactions)
        self.assertLess(transactions, groups)
        for label, entry_id, _mixed in scenarios:
            self.assertEqual(self.outcome(entry_id), one_by_one[entry_id], label)
        # The calls that settled entered the reports' tallies at the end of their
        # transaction, in one statement per transaction: as event by event.
        self.assertEqual(self.tallies(), tallied_one_by_one)
        settled = sum(1 for call in one_by_one.values() if call["journal"]["is_final"])
        # +1: one statement per transaction for all the calls that settled in it. -1 (at
        # once): a call settled in an earlier transaction, of the other folder's share,
        # whose follow-up a later call of its number changed (the scenarios' entry ids, and
        # so their shares, are random).
        self.assertIn(1, added)
        self.assertLessEqual(added.count(1), len(opened))
        self.assertEqual(set(added) - {1, -1}, set())
        self.assertGreater(settled, len(opened))

    def tallies(self):
        """The reports' tallies: every measure summed per key, of every table (the line
        by its number: the fold rolled back made it, the next one makes it again)."""
        self.env.flush_all()
        result = {}
        for table, keys in TABLE_KEYS.items():
            columns = ", ".join(
                "line.number" if key == "line_id" else f"t.{key}" for key in keys
            )
            self.env.cr.execute(SQL(
                f"SELECT {columns}, {', '.join(f'SUM(t.{name})' for name in MEASURES)}"  # noqa: S608
                f" FROM {table} t LEFT JOIN medpulse_telephony_line line ON line.id = t.line_id"
                f" GROUP BY {columns}"
            ))
            result[table] = {
                tuple(map(str, row[:len(keys)])): row[len(keys):]
                for row in self.env.cr.fetchall() if any(row[len(keys):])
            }
        return result

    def test_a_call_that_cannot_be_folded_holds_no_other_back(self):
        """One call of the batch fails: the calls' transaction is rolled back, and each is
        folded again on its own: the others are in the journal, the failing call's events
        flagged ``error``, nothing left waiting."""
        entry_ids = ["E-FOLDER-OK1", "E-FOLDER-BAD", "E-FOLDER-OK2"]
        self.store_payloads(
            [event for entry_id in entry_ids for event in incoming_answered(entry_id)]
        )
        original = MedpulseCallEvent._process_many

        def failing(records, parsed):
            if records[:1].entry_id == "E-FOLDER-BAD":
                raise ValueError("a bug in one call's fold")
            return original(records, parsed)

        opened = self.count_transactions()
        with patch.object(MedpulseCallEvent, "_process_many", failing), self.assertLogs(
            "odoo.addons.medpulse_telephony", "WARNING"
        ) as logged:
            self.run_folder()
        self.assertEqual(len(opened), 1 + len(entry_ids), "together, then one by one")
        self.assertIn("ValueError", "\n".join(logged.output))
        self.env.invalidate_all()
        for entry_id in entry_ids:
            events = self.Event.search([("entry_id", "=", entry_id)])
            call = self.Call.search([("entry_id", "=", entry_id)])
            if entry_id == "E-FOLDER-BAD":
                self.assertEqual(set(events.mapped("state")), {"error"})
                self.assertFalse(call)
            else:
                self.assertEqual(set(events.mapped("state")), {"processed"}, entry_id)
                self.assertTrue(call.is_final, entry_id)

    def test_two_companies_calls_fold_together_each_in_its_company(self):
        """Two clinics' calls with the same entry id (the PBX's ids are per account) in
        one fold: each call is its company's, with its own events and line."""
        other = self.env["res.company"].create({"name": "Folder branch B"})
        events = incoming_answered("E-FOLDER-TWO")
        with self.registry.cursor() as cr:
            Event = self.Event.with_env(self.env(cr=cr))
            for path, payload in events:
                for company in (self.company, other):
                    Event.with_company(company)._store(
                        company, path, mango_vpbx.signing.dumps(payload)
                    )
        opened = self.count_transactions()
        self.assertEqual(self.run_folder(), 2 * len(events))
        self.assertEqual(len(opened), 1)
        calls = self.Call.search([("entry_id", "=", "E-FOLDER-TWO")])
        self.assertEqual(sorted(calls.company_id.ids), sorted((self.company | other).ids))
        for call in calls:
            self.assertEqual(call.event_ids.company_id, call.company_id)
            self.assertEqual(len(call.event_ids), len(events))
            self.assertTrue(call.is_final)
        mine = calls.filtered(lambda call: call.company_id == self.company)
        self.assertEqual(mine.sudo().patient_id, self.patient)
        self.assertFalse(
            (calls - mine).sudo().patient_id, "the other clinic's call: not our patient"
        )

    def test_the_calls_locks_are_taken_for_all_calls_of_the_batch(self):
        """While their fold runs, the locks of every call of the transaction are held:
        another session (a refold, the cron) cannot take any of them."""
        # Two calls of one folder's share: folded in one transaction.
        candidates = [f"E-FOLDER-LOCK{n}" for n in range(10)]
        entry_ids = [e for e in candidates if self.share_of(e) == self.share_of(candidates[0])]
        entry_ids = entry_ids[:2]
        self.assertEqual(len(entry_ids), 2)
        self.store_payloads(
            [event for entry_id in entry_ids for event in incoming_answered(entry_id)]
        )
        other = self.other_session()
        free = []
        original = MedpulseCallEvent._process_many

        def probing(records, parsed):
            for entry_id in entry_ids:
                other.execute(SQL(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", _CALL_LOCK_NAMESPACE,
                    _lock_key(f"{self.company.id}:{entry_id}"),
                ))
                free.append(other.fetchone()[0])
            other.rollback()
            return original(records, parsed)

        with patch.object(MedpulseCallEvent, "_process_many", probing):
            self.run_folder()
        self.assertEqual(free, [False] * 4, "both locks, while each call was folded")
        self.assertTrue(all(
            self.Call.search([("entry_id", "=", entry_id)]).is_final for entry_id in entry_ids
        ))

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
        but the operator who talked gets the ended card, to set the follow-up, for the
        desk phone that talked; not for a call that ended minutes ago."""
        desk = self.env["medpulse.telephony.user.number"].sudo().create({
            "user_id": self.operator1.id, "number": "sip:reception1@clinic.mangosip.ru",
            "kind": "desk",
        })
        desk.flush_recordset()  # its matching key, for the folder's own transaction
        bus_before = self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id
        # An old call folded whole (a history, a late backlog) pops no card.
        old = incoming_answered("E-FOLDER-OLD")
        self.store_payloads(old)
        self.assertEqual(self.run_folder(), len(old))
        self.assertFalse(self.Call.search([("entry_id", "=", "E-FOLDER-OLD")]).card_audience)
        # It ended seconds ago.
        events = incoming_answered("E-FOLDER-ENDED", t0=int(time.time()) - 90)
        self.store_payloads(events)
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
        self.assertEqual(payload["device_id"], desk.id)
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
            self.store_payloads(folded)
            self.assertEqual(self.run_folder(), len(folded))
            call.invalidate_recordset()
            self.assertEqual(call.card_audience, {str(self.operator1.id): "ended",
                                                  str(self.operator2.id): "closed"}, entry_id)

    def post(self, path, payload):
        response = self.url_open(
            f"/mango/{path}", data=mango_vpbx.encode(payload, API_KEY, API_SALT)
        )
        self.assertEqual(response.status_code, 200)

    def share_of(self, entry_id):
        """The folder's share of a call (``_share_sql``), as PostgreSQL computes it."""
        self.env.cr.execute(SQL(
            "SELECT mod(hashtext(%s) & 2147483647, %s)", entry_id, FOLDERS
        ))
        return self.env.cr.fetchone()[0]

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
        for lock in FOLDER_LOCKS:
            other.execute(SQL("SELECT pg_advisory_lock(%s)", lock))
        for path, payload in events[:4]:
            self.post(path, payload)
        self.assertEqual(
            set(self.Event.search([("entry_id", "=", "E-FOLDER-BUSY")]).mapped("state")),
            {"received"},
        )
        self.assertFalse(self.Call.search([("entry_id", "=", "E-FOLDER-BUSY")]))

        for lock in FOLDER_LOCKS:
            other.execute(SQL("SELECT pg_advisory_unlock(%s)", lock))
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
        for lock in FOLDER_LOCKS:
            other.execute(SQL("SELECT pg_try_advisory_lock(%s)", lock))
            self.assertTrue(other.fetchone()[0], "the request let go of every folder")
            other.execute(SQL("SELECT pg_advisory_unlock(%s)", lock))

    def test_the_look_starts_where_events_waited_and_a_full_look_finds_a_late_one(self):
        """The folder's look for waiting events starts where the previous look found the
        first one (less WAITING_MARGIN), not at the folded events' dead index entries; an
        event committed late below that start is folded by the next full look (once per
        WAITING_FULL_LOOK_SECONDS), which does not move the start back."""
        dbname = self.env.cr.dbname
        # A margin below this test database's ids (the real one is a thousand).
        self.patch(medpulse_call_event, "WAITING_MARGIN", 3)
        with patch.dict(_WAITING_FROM, clear=True):
            self.store_payloads(incoming_answered("E-LOOK-1"))
            first = self.Event.search([("entry_id", "=", "E-LOOK-1")], order="id", limit=1)
            share = self.share_of("E-LOOK-1")
            self.run_folder()
            self.assertEqual(self.outcome("E-LOOK-1")["waiting"], 0)
            mark, looked_all_at = _WAITING_FROM[(dbname, share)]
            self.assertEqual(mark, first.id - 3, "from the first one found waiting")
            self.assertIsNotNone(looked_all_at, "the process's first look read everything")
            looks = []
            original = MedpulseCallEvent._waiting_sql

            def recording(records, share=None, start=0):
                looks.append((share, start))
                return original(records, share, start)

            with patch.object(MedpulseCallEvent, "_waiting_sql", recording):
                self.run_folder()
            self.assertIn((share, mark), looks, "the next look starts at the mark")

            # A request stored an event, then committed it after a look found a later one.
            self.store_payloads(incoming_answered("E-LOOK-2")[:1])
            late = self.Event.search([("entry_id", "=", "E-LOOK-2")])
            late_share = self.share_of("E-LOOK-2")
            _WAITING_FROM[(dbname, late_share)] = (late.id + 1, time.monotonic())
            self.run_folder()
            self.env.invalidate_all()
            self.assertEqual(late.state, "received", "below the start: not seen yet")
            _WAITING_FROM[(dbname, late_share)] = (
                late.id + 1, time.monotonic() - WAITING_FULL_LOOK_SECONDS - 1,
            )
            self.run_folder()
            self.env.invalidate_all()
            self.assertEqual(late.state, "processed", "the full look folded it")
            self.assertEqual(_WAITING_FROM[(dbname, late_share)][0], late.id + 1,
                             "the start did not move back")

    def test_two_folders_fold_their_shares_each_a_call_whole(self):
        """The waiting events fall into FOLDERS shares, a call's events all in one. While
        another session (another worker) holds the first share's folder, a request's
        worker folds the calls of the other share and leaves the first's to the holder;
        once it lets go, they are folded too, as event by event."""
        entry_ids = [f"E-SHARE-{n}" for n in range(8)]
        events = [event for entry_id in entry_ids for event in incoming_answered(entry_id)]
        self.store_payloads(events)
        shares = [
            {records[0].entry_id: set(records.ids)
             for records, _parsed in self.Event._waiting_for_fold(share=share)}
            for share in range(FOLDERS)
        ]
        everything = {records[0].entry_id: set(records.ids)
                      for records, _parsed in self.Event._waiting_for_fold()}
        self.assertEqual(
            {entry_id: self.share_of(entry_id) for entry_id in entry_ids},
            {entry_id: share for share in range(FOLDERS) for entry_id in shares[share]},
            "the share is the entry id's hash",
        )
        self.assertEqual(FOLDERS, 2)
        self.assertTrue(all(shares), "both shares have calls")
        self.assertFalse(set(shares[0]) & set(shares[1]), "a call is in one share only")
        self.assertEqual({**shares[0], **shares[1]}, everything, "each with all its events")

        other = self.other_session()
        other.execute(SQL("SELECT pg_advisory_lock(%s)", FOLDER_LOCKS[0]))
        self.run_folder()
        self.env.invalidate_all()
        for share, states in ((0, {"received"}), (1, {"processed"})):
            for entry_id in shares[share]:
                self.assertEqual(
                    set(self.Event.browse(shares[share][entry_id]).mapped("state")), states,
                    (share, entry_id),
                )
        self.assertFalse(self.Call.search([("entry_id", "in", list(shares[0]))]))

        other.execute(SQL("SELECT pg_advisory_unlock(%s)", FOLDER_LOCKS[0]))
        self.run_folder()
        for entry_id in entry_ids:
            outcome = self.outcome(entry_id)
            self.assertEqual((outcome["events"], outcome["waiting"]), (["processed"], 0))
            self.assertTrue(outcome["journal"]["is_final"], entry_id)
