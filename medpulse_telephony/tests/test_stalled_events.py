"""S5: an event stored but never folded (its worker stopped in between) is not lost.

The webhook commits the raw event, then folds it in a transaction of its own; a worker
killed between the two left the event marked ``processed`` although nothing was folded:
the call never became final, the card kept ringing or talking for 12 hours, the operator
looked busy and the recording was never fetched. Now the event is ``received`` until its
fold commits, a cron folds the events left ``received`` for a minute, and reconciliation
ends the cards and fetches the recordings of the calls it completes.

The stop is simulated as it happens: the events are stored and committed exactly as the
webhook stores them (``_store``), and not folded.
"""

from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, tagged

import mango_vpbx

from ..models.medpulse_call_reconcile import MedpulseCallReconcile
from .common import (
    API_KEY,
    API_SALT,
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    call_event,
    incoming_answered,
    stats_pbx,
    window_csv,
)
from .test_reconcile import _naive, _row

ENTRY = "E-STALL"


def _recording_events(entry_id, recording_id, ts):
    return [
        (
            "events/recording",
            {
                "recording_id": recording_id,
                "recording_state": "Started",
                "seq": 1,
                "entry_id": entry_id,
                "call_id": f"{entry_id}:op1",
                "extension": "101",
                "timestamp": ts,
            },
        ),
        (
            "events/recording",
            {
                "recording_id": recording_id,
                "recording_state": "Completed",
                "seq": 2,
                "entry_id": entry_id,
                "call_id": f"{entry_id}:op1",
                "extension": "101",
                "timestamp": ts + 50,
                "completion_code": 1000,
                "recipient": "Cloud",
            },
        ),
        (
            "events/record/added",
            {"recording_id": recording_id, "entry_id": entry_id, "timestamp": ts + 55},
        ),
    ]


@tagged("post_install", "-at_install")
@patch.object(MedpulseCallReconcile, "_stats_poll_interval", lambda self: 0.2)
class TestStalledEvents(TelephonyFixtures, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.Event = cls.env["medpulse.call.event"].sudo()

    def post(self, path, payload):
        response = self.url_open(
            f"/mango/{path}", data=mango_vpbx.encode(payload, API_KEY, API_SALT)
        )
        self.assertEqual(response.status_code, 200)

    def store_without_folding(self, events):
        """What the webhook does before its worker is killed: the raw events, committed."""
        ids = []
        with self.registry.cursor() as cr:  # committed as the webhook commits it
            Event = self.Event.with_env(self.env(cr=cr))
            for path, payload in events:
                record, _event = Event._store(self.company, path, mango_vpbx.signing.dumps(payload))
                ids.append(record.id)
        return self.Event.browse(ids)

    def age(self, events, minutes):
        events.write({"received_at": fields.Datetime.now() - timedelta(minutes=minutes)})
        self.env.flush_all()

    def call(self, entry_id=ENTRY):
        return self.env["medpulse.call"].sudo().search([("entry_id", "=", entry_id)])

    def busy(self):
        return self.env["medpulse.call"]._busy_user_ids(self.company)

    def health(self):
        return self.env["medpulse.telephony.health"].with_user(self.manager).create({})

    def answer_then_stall(self, entry_id=ENTRY, t0=None):
        """The call rings, operator 101 answers (through the webhook); the rest is stalled."""
        t0 = t0 or int(fields.Datetime.now().timestamp()) - 120
        events = incoming_answered(entry_id, t0=t0) + _recording_events(
            entry_id, f"{entry_id}-REC", t0 + 15
        )
        delivered, stalled = events[:5], events[5:]
        for path, payload in delivered:
            self.post(path, payload)
        call = self.call(entry_id)
        self.assertEqual(call.sudo().card_audience.get(str(self.operator1.id)), "talking")
        return call, self.store_without_folding(stalled)

    def test_an_event_committed_but_never_folded_is_folded_by_the_cron(self):
        call, stalled = self.answer_then_stall()
        # The worker stopped: the events are stored, "received", not folded.
        self.assertEqual(set(stalled.mapped("state")), {"received"})
        self.assertFalse(call.is_final)
        self.assertIn(self.operator1.id, self.busy())
        self.assertFalse(
            self.env["medpulse.call.recording"].sudo().search([("call_id", "=", call.id)])
        )
        self.assertEqual(self.health().waiting_event_count, len(stalled))

        # Within the minute the webhook's own worker may still fold them: left alone.
        self.Event._cron_fold_received()
        self.assertEqual(set(stalled.mapped("state")), {"received"})

        self.age(stalled, 2)
        folded = self.Event._cron_fold_received()
        self.assertEqual(folded, stalled)
        stalled.invalidate_recordset()
        call.invalidate_recordset()
        self.assertEqual(set(stalled.mapped("state")), {"processed"})
        self.assertTrue(call.is_final)
        self.assertEqual((call.result, call.answered_user_id), ("answered", self.operator1))
        self.assertEqual((call.wait_seconds, call.talk_seconds), (12, 60))
        # The card ends (the operator who talked keeps it to set the follow-up), the
        # operator is free again, the recording is on its way.
        self.assertEqual(call.sudo().card_audience[str(self.operator1.id)], "ended")
        self.assertNotIn(self.operator1.id, self.busy())
        recording = self.env["medpulse.call.recording"].sudo().search([("call_id", "=", call.id)])
        self.assertEqual((recording.recording_id, recording.state), (f"{ENTRY}-REC", "waiting"))
        self.assertTrue(recording.next_attempt_at)
        self.assertEqual(self.health().waiting_event_count, 0)

    def test_an_event_folded_by_its_own_worker_is_processed(self):
        """The normal path: the fold commits, the event is processed, the cron has nothing to do."""
        t0 = int(fields.Datetime.now().timestamp()) - 120
        for path, payload in incoming_answered("E-NORMAL", t0=t0):
            self.post(path, payload)
        events = self.Event.search([("entry_id", "=", "E-NORMAL")])
        self.assertEqual(set(events.mapped("state")), {"processed"})
        self.age(events, 5)
        self.assertFalse(self.Event._cron_fold_received())

    def test_reconciliation_ends_the_cards_and_fetches_the_recordings(self):
        """The final events were lost altogether (not even stored): the statistics end the call."""
        t0 = int(fields.Datetime.now().timestamp()) - 600
        events = incoming_answered("E-LOST-END", t0=t0)
        for path, payload in events[:5]:
            self.post(path, payload)
        call = self.call("E-LOST-END")
        self.assertIn(self.operator1.id, self.busy())
        rows = [
            _row(
                "E-LOST-END",
                t0,
                t0 + 72,
                t0 + 12,
                from_number=PATIENT_NUMBER,
                to_ext="101",
                records="[E-LOST-END-REC]",
            )
        ]
        with stats_pbx(window_csv(rows)) as pbx:
            self.company.sudo().medpulse_pbx_api_url = pbx.url
            runs = (
                self.env["medpulse.call.reconcile"]
                .with_user(self.manager)
                .action_reconcile_period(self.company, _naive(t0 - 60), _naive(t0 + 3600))
            )
        self.assertEqual(runs.completed_count, 1)
        call.invalidate_recordset()
        self.assertTrue(call.completed_from_stats)
        self.assertEqual(call.sudo().card_audience[str(self.operator1.id)], "ended")
        self.assertEqual(call.sudo().card_audience[str(self.operator2.id)], "closed")
        self.assertNotIn(self.operator1.id, self.busy())
        recording = self.env["medpulse.call.recording"].sudo().search([("call_id", "=", call.id)])
        self.assertEqual((recording.recording_id, recording.state), ("E-LOST-END-REC", "waiting"))

        # An event of it stalled meanwhile is folded later without undoing the statistics.
        late = self.store_without_folding(
            [
                call_event(
                    "E-LOST-END",
                    "E-LOST-END:op2",
                    3,
                    "OnHold",
                    t0 + 20,
                    "abonent",
                    {"number": PATIENT_NUMBER},
                    {"extension": "102"},
                ),
            ]
        )
        self.age(late, 2)
        self.Event._cron_fold_received()
        call.invalidate_recordset()
        self.assertEqual(late.state, "processed")
        self.assertEqual(
            (call.result, call.talk_seconds, call.ended_at), ("answered", 60, _naive(t0 + 72))
        )

    def test_a_stalled_event_that_no_longer_parses_is_flagged(self):
        [stored] = self.store_without_folding([call_event("E-GONE", "E-GONE:1", 1, "Appeared", T0)])
        stored.write({"json": "{}"})  # as if the toolkit now refused what it once accepted
        self.age(stored, 2)
        self.Event._cron_fold_received()
        self.assertEqual(stored.state, "not_understood")
