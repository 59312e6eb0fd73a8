"""Interactive first, batch work yields: the PBX request budget with a priority (issue 21).

A reminder job (batch) sends SMS after SMS through the account's one-at-a-time turn; an
operator's click-to-call (interactive) arriving meanwhile must wait for at most the one
batch request already in flight, and must find a free rate-limit slot. The clients are the
ones Odoo makes (``res.company._medpulse_pbx_client(priority=...)``) with the database
store, on real concurrent transactions (a TransactionCase, like ``TestOneRequestAtATime``);
the PBX is the toolkit's PBX double.
"""

import threading
import time

from odoo.tests import TransactionCase, tagged

from mango_vpbx_emulator.testing import Response

from ..models.medpulse_telephony_limit import BATCH, INTERACTIVE, DatabaseLimitStore
from .common import CommittedPbxBudget

#: How long the PBX takes to answer each batch SMS.
SMS_SECONDS = 0.4
MARGIN = 1.0  # what a loaded 2-core machine may add


@tagged("post_install", "-at_install")
class TestInteractiveFirst(CommittedPbxBudget, TransactionCase):
    PREFIX = "prio"

    def setUp(self):
        super().setUp()
        self.scope = f"{self.account}:in-flight"

    def store(self, priority, clock=time.time):
        return DatabaseLimitStore(self.registry, clock=clock, priority=priority)

    # ------------------------------------------------------------ rate-limit slots

    def test_a_batch_takes_half_of_each_bucket_the_rest_stays_for_people(self):
        now = 1_000_000.0
        bucket = [(f"{self.account}:*", 10, 1.0)]
        batch, interactive = self.store(BATCH, lambda: now), self.store(INTERACTIVE, lambda: now)
        self.assertEqual([batch.acquire(bucket) for _ in range(5)], [0.0] * 5)
        self.assertGreater(batch.acquire(bucket), 0, "the sixth slot is not the batch's")
        self.assertEqual([interactive.acquire(bucket) for _ in range(5)], [0.0] * 5)
        self.assertGreater(interactive.acquire(bucket), 0, "the PBX's own limit still holds")
        # A bucket of one slot (transfers, routes) is not closed to batch work.
        single = [(f"{self.account}:commands/route", 1, 2.0)]
        self.assertEqual(batch.acquire(single), 0.0)

    def test_interactive_slots_count_for_the_batch(self):
        now = 1_000_000.0
        bucket = [(f"{self.account}:*", 10, 1.0)]
        interactive, batch = self.store(INTERACTIVE, lambda: now), self.store(BATCH, lambda: now)
        for _ in range(5):
            interactive.acquire(bucket)
        self.assertGreater(batch.acquire(bucket), 0, "people used half: the batch waits")

    # ------------------------------------------------------------ the account's turn

    def test_a_waiting_interactive_request_says_so_until_it_has_the_turn(self):
        holder, interactive = self.store(BATCH), self.store(INTERACTIVE)
        taken, release, seen = threading.Event(), threading.Event(), {}

        def hold():
            with holder.exclusive(self.scope, 5, 10):
                taken.set()
                release.wait(10)

        def ask():
            with interactive.exclusive(self.scope, 5, 10):
                seen["inside"] = interactive.interactive_waiting(self.scope)

        first = threading.Thread(target=hold)
        first.start()
        self.assertTrue(taken.wait(10))
        second = threading.Thread(target=ask)
        second.start()
        deadline = time.monotonic() + 5
        while not interactive.interactive_waiting(self.scope) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(interactive.interactive_waiting(self.scope), "a demand while it waits")
        release.set()
        first.join(10)
        second.join(10)
        self.assertEqual(seen, {"inside": False}, "no demand once it has the turn")
        self.assertFalse(interactive.interactive_waiting(self.scope))

    def test_a_batch_request_waits_while_an_interactive_one_does(self):
        interactive, batch = self.store(INTERACTIVE), self.store(BATCH)
        demand = interactive._add_demand(self.scope, 60)
        started = time.monotonic()
        with self.assertRaises(TimeoutError), batch.exclusive(self.scope, 0.3, 10):
            pass
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        interactive._drop_demand(demand)
        with batch.exclusive(self.scope, 0.3, 10):
            pass  # nobody waits: the batch has the turn at once

    def test_a_batch_never_delays_a_click_to_call_by_more_than_one_request(self):
        """Two reminder workers send SMS back to back (each answered in 0.4 s); an operator
        clicks to call. PostgreSQL alone would serve the second worker first, already
        queued for the turn: the click would wait for two SMS. It waits for the one in
        flight, and no batch request starts between the click and its own request."""
        self.stub.script("commands/sms", Response(200, {"result": 1000}, delay=SMS_SECONDS))
        stop = threading.Event()
        errors = []

        def reminders(worker):
            client = self.company._medpulse_pbx_client(priority=BATCH)
            while not stop.is_set():
                try:
                    client.sms("555", "79160000000", f"Reminder from worker {worker}")
                except Exception as error:  # noqa: BLE001 - reported by the test
                    errors.append(error)
                    return

        workers = [threading.Thread(target=reminders, args=(n,)) for n in (1, 2)]
        for worker in workers:
            worker.start()
        try:
            deadline = time.monotonic() + 10
            while len(self.stub.calls("commands/sms")) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertGreaterEqual(len(self.stub.calls("commands/sms")), 3, "batch in full swing")
            operator = self.company._medpulse_pbx_client(priority=INTERACTIVE)
            clicked = time.time()
            operator.callback("101", "79161234567")
            answered = time.time()
            deadline = time.monotonic() + 5
            while not self.sms_after(answered) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            for worker in workers:
                worker.join(10)
        self.assertEqual(errors, [])
        [click] = [r for r in self.stub.requests if r.path == "commands/callback"]
        started_between = [
            r for r in self.stub.requests
            if r.path == "commands/sms" and clicked < r.at < click.at
        ]
        self.assertEqual(started_between, [], "no batch request started after the click")
        self.assertLess(answered - clicked, SMS_SECONDS + MARGIN,
                        "at most the SMS in flight delayed the click")
        self.assertTrue(self.sms_after(answered), "the batch resumed after the click")

    def sms_after(self, moment):
        return [r for r in self.stub.requests if r.path == "commands/sms" and r.at > moment]
