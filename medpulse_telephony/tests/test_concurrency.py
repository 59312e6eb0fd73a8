import uuid

from psycopg2 import errors as pg_errors

from odoo import api
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL, mute_logger

from .common import dumps, incoming_answered


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
            cr.execute(SQL("SELECT COUNT(*) FROM medpulse_call_event WHERE entry_id = %s", self.entry))
            self.assertEqual(cr.fetchone()[0], 1)

    def _cleanup(self, last_line):
        with self.registry.cursor() as cr:
            cr.execute(SQL("DELETE FROM medpulse_call_event WHERE entry_id = %s", self.entry))
            cr.execute(SQL("DELETE FROM medpulse_call WHERE entry_id = %s", self.entry))
            cr.execute(SQL("DELETE FROM medpulse_telephony_line WHERE id > %s", last_line))
