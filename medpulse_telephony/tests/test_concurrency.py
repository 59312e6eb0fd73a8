import threading
import uuid
from unittest.mock import patch

from psycopg2 import errors as pg_errors

from odoo import api
from odoo.modules.registry import DummyRLock, Registry
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL, mute_logger

from ..controllers.webhook import fold_in_turn
from .common import T0, dumps, forget_call_backs, incoming_answered, incoming_missed


@tagged("post_install", "-at_install")
class TestConcurrentDelivery(TransactionCase):
    """Two workers receive events of the same call at the same moment.

    Two real transactions on separate cursors, interleaved step by step: both take
    their snapshot, the first commits, then the second writes. That is the race of
    two webhook requests; the second must fail with a *retryable* serialization
    failure (never a unique violation) and succeed when retried as Odoo's request
    dispatcher does. The rows are committed, so the test removes them; the test's
    own transaction never writes.
    """

    def setUp(self):
        super().setUp()
        self.entry = f"E-CONC-{uuid.uuid4().hex[:8]}"
        self.events = [(path, dumps(payload)) for path, payload in incoming_answered(self.entry)]
        self.entries = []
        with self.registry.cursor() as cr:
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM medpulse_telephony_line")
            last_line = cr.fetchone()[0]
        self.addCleanup(self._cleanup, last_line)

    def _worker(self):
        cr = self.registry.cursor()
        self.addCleanup(cr.close)
        env = api.Environment(cr, api.SUPERUSER_ID, {})
        cr.execute("SELECT 1")  # the transaction's snapshot is taken here
        return env

    def _receive(self, env, event):
        company = env.ref("base.main_company")
        return env["medpulse.call.event"]._receive(company, *event)

    def _race(self, first_event, second_event):
        first, second = self._worker(), self._worker()
        self._receive(first, first_event)
        first.cr.commit()
        with self.assertRaises(pg_errors.SerializationFailure):
            self._receive(second, second_event)
        second.cr.rollback()
        with mute_logger("odoo.service.model"):
            retrying(lambda: self._receive(second, second_event), second)

    def test_two_workers_same_new_call_then_same_existing_call(self):
        # The IVR leg's appearance and the summary race to create the call...
        self._race(self.events[0], self.events[-1])
        # ...then two legs' events race to update it.
        self._race(self.events[2], self.events[3])
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            call = env["medpulse.call"].search([("entry_id", "=", self.entry)])
            self.assertEqual(len(call), 1)
            self.assertEqual(len(call.event_ids), 4)
            # The journal folded every event, whichever worker committed last.
            self.assertTrue(call.is_final)
            self.assertEqual(call.call_type, "incoming")
            self.assertEqual(call.talk_seconds, 60)

    def test_same_event_twice_at_once(self):
        first, second = self._worker(), self._worker()
        self.assertTrue(self._receive(first, self.events[0]))
        first.cr.commit()
        with self.assertRaises(pg_errors.SerializationFailure):
            self._receive(second, self.events[0])
        second.cr.rollback()
        self.assertFalse(self._receive(second, self.events[0]), "the retry sees a duplicate")
        second.cr.commit()
        with self.registry.cursor() as cr:
            cr.execute(
                SQL("SELECT COUNT(*) FROM medpulse_call_event WHERE entry_id = %s", self.entry)
            )
            self.assertEqual(cr.fetchone()[0], 1)

    def test_missed_call_and_the_call_that_closes_it_at_once(self):
        """Neither worker sees the other's call: the follow-up lock makes one start again."""
        caller = f"7916{uuid.uuid4().int % 10**7:07d}"
        missed_entry, answered_entry = f"{self.entry}-M", f"{self.entry}-A"
        self.entries += [missed_entry, answered_entry]
        missed = [(p, dumps(e)) for p, e in incoming_missed(missed_entry, caller=caller)]
        answered = [
            (p, dumps(e)) for p, e in incoming_answered(answered_entry, t0=T0 + 600, caller=caller)
        ]
        # The clinic line exists already: its creation is another race, not this one.
        setup = self._worker()
        self._receive(setup, self.events[0])
        setup.cr.commit()
        first, second = self._worker(), self._worker()
        for event in missed:
            self._receive(first, event)
        first.cr.commit()
        with self.assertRaises(pg_errors.SerializationFailure):
            self._receive(second, answered[-1])
        second.cr.rollback()
        with mute_logger("odoo.service.model"):
            retrying(lambda: self._receive(second, answered[-1]), second)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            missed_call = env["medpulse.call"].search([("entry_id", "=", missed_entry)])
            answered_call = env["medpulse.call"].search([("entry_id", "=", answered_entry)])
            self.assertEqual(missed_call.call_type, "missed_incoming")
            self.assertEqual(missed_call.followup_state, "resolved")
            self.assertEqual(missed_call.closed_by_call_id, answered_call)

    def test_webhook_processes_the_events_of_a_call_in_turn(self):
        """The webhook's path: the second event waits for the first, then sees its work.

        Worker A stored the call's first event and holds the call's lock (it is folding
        it). Worker B receives the next event of the same call: it stores it, then
        waits; once A's fold committed and A let the lock go, B updates the call A
        created, with no serialization failure (which Odoo would retry only after a
        random sleep of up to two seconds).
        """
        # The test runner's main thread holds the registry lock while tests run; the
        # other worker's thread must be able to open an environment (Odoo's own test
        # mode swaps in the same dummy lock for its HTTP threads).
        self.patch(Registry, "_lock", DummyRLock())
        a = self._worker()
        company = a.ref("base.main_company")
        record, event = a["medpulse.call.event"]._store(company, *self.events[0])
        a.cr.commit()  # as the webhook does
        record._lock_call()
        outcome = {}

        def worker_b():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, api.SUPERUSER_ID, {})
                    stored, parsed = env["medpulse.call.event"]._store(
                        env.ref("base.main_company"), *self.events[2]
                    )
                    cr.commit()  # pylint: disable=invalid-commit  # as the webhook does
                    fold_in_turn(stored, parsed)
                    outcome["done"] = True
            except Exception as error:  # noqa: BLE001 - reported to the test's thread
                outcome["error"] = error

        thread = threading.Thread(target=worker_b)
        thread.start()
        thread.join(0.5)
        self.assertTrue(thread.is_alive(), "B waits for A's lock")
        fold_in_turn(record, event)
        thread.join(30)
        self.assertFalse(thread.is_alive())
        self.assertNotIn("error", outcome)
        self.assertTrue(outcome.get("done"))
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            call = env["medpulse.call"].search([("entry_id", "=", self.entry)])
            self.assertEqual(len(call), 1)
            self.assertEqual(len(call.event_ids), 2, "B folded A's event and its own")
            self.assertEqual(set(call.event_ids.mapped("state")), {"processed"})

    def test_webhook_keeps_an_event_whose_journal_update_keeps_failing(self):
        """Conflicting on every attempt: the event stays, flagged, and nothing escapes.

        The PBX never retries, so the webhook must answer 200 with the raw event kept.
        """
        worker = self._worker()
        company = worker.ref("base.main_company")
        Event = worker["medpulse.call.event"]
        record, event = Event._store(company, *self.events[0])
        worker.cr.commit()
        attempts = []

        def conflict(records, parsed):
            attempts.append(records.env.cr)
            raise pg_errors.SerializationFailure("could not serialize access")

        with patch.object(type(Event), "_process_many", conflict), mute_logger(
            "odoo.addons.medpulse_telephony.controllers.webhook"
        ):
            fold_in_turn(record, event)
        self.assertEqual(len(attempts), 5, "retried with a fresh transaction each time")
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            stored = env["medpulse.call.event"].browse(record.id)
            self.assertEqual(stored.state, "error")
            self.assertIn("serialize", stored.error)
            self.assertFalse(env["medpulse.call"].search([("entry_id", "=", self.entry)]))

    def test_webhook_keeps_an_event_whose_journal_commit_fails(self):
        """A failure _process cannot catch (e.g. at commit) is not a 500 either."""
        worker = self._worker()
        Event = worker["medpulse.call.event"]
        record, event = Event._store(worker.ref("base.main_company"), *self.events[0])
        worker.cr.commit()

        # Split so that the traceback's source lines do not quote it whole.
        message = "the row of +7912" + "3456789 violates a check constraint"

        def broken(records, parsed):
            raise pg_errors.CheckViolation(message)

        with patch.object(type(Event), "_process_many", broken), mute_logger(
            "odoo.addons.medpulse_telephony.controllers.webhook"
        ), self.assertLogs(
            "odoo.addons.medpulse_telephony.models.medpulse_call_event", "ERROR"
        ) as logged:
            fold_in_turn(record, event)
        # The failure's type and where it happened, never its message (it may quote a call).
        self.assertIn("CheckViolation", logged.output[0])
        self.assertNotIn("+79123456789", "\n".join(logged.output))
        with self.registry.cursor() as cr:
            stored = api.Environment(cr, api.SUPERUSER_ID, {})["medpulse.call.event"].browse(
                record.id
            )
            self.assertEqual(stored.state, "error")
            self.assertIn("check constraint", stored.error)

    def _cleanup(self, last_line):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            # What the deleted calls counted for leaves the reports' tallies (an unlink
            # would do it; the rows are deleted by SQL, around the ORM's rules).
            cr.execute(SQL("SELECT id FROM medpulse_call WHERE entry_id IN %s",
                           (self.entry, *self.entries)))
            env["medpulse.call.tally"]._add([row[0] for row in cr.fetchall()], -1)
            forget_call_backs(env, [self.entry, *self.entries])
            for entry in [self.entry, *self.entries]:
                cr.execute(SQL("DELETE FROM medpulse_call_event WHERE entry_id = %s", entry))
                cr.execute(
                    SQL(
                        "UPDATE medpulse_call SET closed_by_call_id = NULL WHERE entry_id = %s",
                        entry,
                    )
                )
            for entry in [self.entry, *self.entries]:
                cr.execute(SQL("DELETE FROM medpulse_call WHERE entry_id = %s", entry))
            cr.execute(SQL("DELETE FROM medpulse_telephony_line WHERE id > %s", last_line))
