"""Issue 23 part 2: what the caller chose (``events/dtmf``), what the call was about
(speech-analytics topics after ``events/record/tagged``) and where the caller came from
(call tracking, ``dct``): the fold, the background questions to the PBX under an outage
and a lockout, and who sees what.

The PBX is the toolkit's double (``PbxDouble``) with an account of its own, so the shared
request budget of these tests is their own.
"""

import uuid
from datetime import timedelta
from pathlib import Path

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

import mango_vpbx
from mango_vpbx_emulator.testing import PbxDouble, Response, closed_port_url

from ..models.medpulse_call_recording import BACKOFF_MINUTES
from ..models.medpulse_call_refold import _counted_fields
from .common import (
    LINE,
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    dumps,
    incoming_answered,
    role_users,
    statements_per_event,
)
from .test_refold import new_fold

DCT = "74001234567"
#: The toolkit's fold version: the one that computed the keys pressed and the dct number.
CURRENT = mango_vpbx.calls.FOLD_VERSION
#: What queueing the source question costs the first event that carries the number: the
#: search for an earlier question, its INSERT, the cron's trigger, the call's flag.
QUEUE_STATEMENTS = 5


def dtmf(entry_id, seq, keys, location, ts):
    return ("events/dtmf", {
        "seq": seq, "dtmf": keys, "timestamp": str(ts), "call_id": f"{entry_id}:ivr",
        "entry_id": entry_id, "location": location, "initiator": PATIENT_NUMBER,
        "from_number": PATIENT_NUMBER, "to_number": LINE, "line_number": LINE,
    })


def with_dct(events, dct):
    """The call's events with ``dct`` on every call event and on the summary, as the PBX."""
    return [(path, dict(payload, dct=dct)) if path in ("events/call", "events/summary")
            else (path, payload) for path, payload in events]


def recorded(entry_id, recording_id, ts):
    common = {"entry_id": entry_id, "product_id": 1, "user_id": 7, "timestamp": ts,
              "recording_id": recording_id}
    return [
        ("events/recording", {"recording_id": recording_id, "recording_state": "Started",
                              "seq": 1, "call_id": f"{entry_id}:op1", "entry_id": entry_id,
                              "extension": "101", "timestamp": ts - 50}),
        ("events/recording", {"recording_id": recording_id, "recording_state": "Completed",
                              "seq": 2, "call_id": f"{entry_id}:op1", "entry_id": entry_id,
                              "extension": "101", "timestamp": ts, "completion_code": 1000,
                              "recipient": "Cloud"}),
        ("events/record/added", common),
        ("events/record/tagged", dict(common, timestamp=ts + 30)),
    ]


class InsightCase(TelephonyFixtures, HttpCase):
    """An HttpCase for its test mode: the request budget's own transactions are the test's
    (``medpulse.telephony.limit``), so a pause one test provokes ends with it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.api_key = f"insight-{uuid.uuid4().hex}"
        cls.api_salt = "insight-salt"
        cls.pbx = PbxDouble(cls.api_key, cls.api_salt, require_signature=True).start()
        cls.addClassCleanup(cls.pbx.stop)
        cls.company.sudo().write({
            "medpulse_pbx_api_url": cls.pbx.url,
            "medpulse_pbx_api_key": cls.api_key,
            "medpulse_pbx_api_salt": cls.api_salt,
        })
        cls.Insight = cls.env["medpulse.call.insight"].sudo()

    def setUp(self):
        super().setUp()
        self.pbx.reset()
        self.pbx.script("queries/recording_categories", self.answer_categories)
        self.pbx.script("queries/recording_transcripts", Response(200, {
            "result": 1000, "transcripts": [
                {"speaker": "client", "start": 1, "text": "I want to book a check-up."}]}))
        self.pbx.script("queries/user_info_by_dct_number", Response(200, {
            "uid": "u1", "channel": {"source": "yandex", "medium": "cpc",
                                     "campaign": "checkup-spring"}}))

    @staticmethod
    def answer_categories(request):
        """The topics of the recording asked about, in the shape of the emulator."""
        return 200, {"result": 1000, "data": [
            {"recording_id": "someone-else", "categories": [{"id": 9, "name": "Not ours"}]},
            {"recording_id": request.data["recording_id"], "categories": [
                {"id": 1, "name": "Booking"}, {"id": 2, "name": "Prices"}]},
        ]}

    def let_time_pass(self, insights):
        """Make the planned attempts due, and end the PBX's invalid-request pause."""
        insights.write({"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)})
        self.env.cr.execute(
            "UPDATE medpulse_telephony_limit SET at = at - %s WHERE kind = 'block'",
            [mango_vpbx.assumptions.LOCKOUT_SECONDS + 1],
        )

    def tracked_tagged_call(self, entry_id="E-INS-1", recording_id="rec-1"):
        events = with_dct(incoming_answered(entry_id), {"number": DCT, "type": 1})
        events[1:1] = [
            dtmf(entry_id, 1, "2", "ivr", T0 + 2), dtmf(entry_id, 2, "1", "ivr.2", T0 + 4)
        ]
        return self.receive(events + recorded(entry_id, recording_id, T0 + 72))


@tagged("post_install", "-at_install")
class TestInsightFold(InsightCase):
    def test_keys_pressed_and_call_tracking_on_the_call(self):
        call = self.tracked_tagged_call()
        self.assertEqual(call.dtmf_choices, "ivr:2 ivr.2:1")
        self.assertEqual(
            sorted(call.ivr_label_ids.mapped("location")), ["ivr", "ivr.2", "ivr.2.1"]
        )
        self.assertEqual((call.dct_number, call.dct_type), (DCT, "1"))
        # Labels written later name past calls too: calls link the place, not its text.
        label = call.ivr_label_ids.filtered(lambda lbl: lbl.location == "ivr.2")
        label.name = "Cancel or move an appointment"
        self.assertEqual(call._card_ivr_choices(), [
            "Pressed 2 in the main menu: Cancel or move an appointment",
            "Pressed 1 in Cancel or move an appointment",
        ])
        self.assertEqual(
            call.with_user(self.operator1)._card_payload(self.operator1, "ringing")["ivr_choices"],
            call._card_ivr_choices(),
        )

    def test_same_choices_in_any_order_and_twice(self):
        events = incoming_answered("E-INS-ORDER")
        keys = [dtmf("E-INS-ORDER", 2, "1", "ivr.2", T0 + 4),
                dtmf("E-INS-ORDER", 1, "2", "ivr", T0 + 2)]
        call = self.receive(keys + events + keys)
        self.assertEqual(call.dtmf_choices, "ivr:2 ivr.2:1")
        self.assertEqual(len(self.env["medpulse.ivr.label"].sudo().search(
            [("company_id", "=", self.company.id), ("location", "=", "ivr.2")])), 1)

    def test_odd_values(self):
        events = incoming_answered("E-INS-ODD")
        events += [
            ("events/dtmf", {"entry_id": "E-INS-ODD", "dtmf": "0#", "seq": "3"}),  # no place
            ("events/dtmf", {"entry_id": "E-INS-ODD", "dtmf": "123456", "location": "ivr.3",
                             "seq": 4, "timestamp": T0 + 3}),  # a card number
        ]
        call = self.receive(with_dct(events, {"type": "7", "number": 74009998877}))
        self.assertEqual(call.dtmf_choices, "0# ivr.3:123456")
        self.assertEqual(call.ivr_label_ids.mapped("location"), ["ivr.3"])
        self.assertEqual(call._card_ivr_choices(), ["Pressed 0#", "Pressed 123456 in ivr.3"])
        # An unknown type is not shown as one; the number is kept as the PBX sent it.
        self.assertEqual((call.dct_number, call.dct_type), ("74009998877", False))
        self.assertFalse(self.Insight.search([("call_id", "=", call.id)]), "type 7: not asked")

    def test_no_dct_and_type_zero(self):
        plain = self.receive(incoming_answered("E-INS-PLAIN"))
        self.assertEqual((plain.dct_number, plain.dct_type, plain.dtmf_choices),
                         (False, False, False))
        zero = self.receive(with_dct(incoming_answered("E-INS-ZERO"), {"type": 0}))
        self.assertEqual((zero.dct_number, zero.dct_type), (False, "0"))
        self.assertFalse(self.Insight.search([("call_id", "in", (plain | zero).ids)]))

    def test_not_understood_is_kept_flagged_and_acknowledged(self):
        call = self.receive(incoming_answered("E-INS-BAD"))
        Event = self.env["medpulse.call.event"].sudo()
        for path, payload in [
            ("events/dtmf", {"entry_id": "E-INS-BAD", "dtmf": 2, "location": "ivr"}),
            ("events/call", dict(incoming_answered("E-INS-BAD")[0][1], seq=9, dct="74001234567")),
        ]:
            record = Event._receive(self.company, path, dumps(payload))
            self.assertEqual(record.state, "not_understood", path)
        self.assertFalse(call.dtmf_choices)
        self.assertFalse(call.dct_number)

    def test_nothing_is_asked_inside_the_webhook(self):
        call = self.tracked_tagged_call("E-INS-QUEUE", "rec-queue")
        self.assertEqual(self.pbx.requests, [], "the webhook only queues")
        insights = self.Insight.search([("call_id", "=", call.id)])
        self.assertEqual(sorted(insights.mapped("kind")), ["source", "topics"])
        self.assertEqual(set(insights.mapped("state")), {"waiting"})
        # A second tagging asks again, it does not ask twice.
        Event = self.env["medpulse.call.event"].sudo()
        tagged_again = {"entry_id": "E-INS-QUEUE", "product_id": 1, "user_id": 7,
                        "timestamp": T0 + 500, "recording_id": "rec-queue"}
        Event._receive(self.company, "events/record/tagged", dumps(tagged_again))
        self.assertEqual(len(self.Insight.search([("call_id", "=", call.id)])), 2)


@tagged("post_install", "-at_install")
class TestInsightFetch(InsightCase):
    def test_topics_transcript_and_source(self):
        call = self.tracked_tagged_call()
        self.Insight._cron_fetch()
        insights = self.Insight.search([("call_id", "=", call.id)])
        self.assertEqual(sorted(call.topic_ids.mapped("name")), ["Booking", "Prices"],
                         insights.mapped("last_error"))
        recording = call.recording_ids
        self.assertEqual(recording.topic_ids, call.topic_ids)
        self.assertEqual(recording.transcript, "client: I want to book a check-up.")
        self.assertEqual((call.dct_source, call.dct_medium, call.dct_campaign, call.dct_bound),
                         ("yandex", "cpc", "checkup-spring", True))
        insights = self.Insight.search([("call_id", "=", call.id)])
        self.assertEqual(set(insights.mapped("state")), {"done"}, insights.mapped("last_error"))
        self.assertEqual(self.pbx.calls("queries/user_info_by_dct_number"), [{"number": DCT}])
        self.assertEqual(self.pbx.calls("queries/recording_categories"),
                         [{"recording_id": "rec-1"}])
        # The funnel and the search by topic see it.
        self.env.flush_all()
        row = self.env["medpulse.call.source.report"].sudo().search([("call_id", "=", call.id)])
        self.assertEqual((row.source, row.call_count, row.reached_count, row.booked_count),
                         ("yandex", 1, 1, 0))
        Call = self.env["medpulse.call"].sudo()
        self.assertEqual(Call.search([("topic_ids.name", "=", "Prices")]), call)

    def test_an_account_without_transcripts_keeps_its_topics(self):
        self.pbx.fail("queries/recording_transcripts", 4001)
        call = self.tracked_tagged_call("E-INS-NOTR", "rec-notr")
        self.Insight._cron_fetch()
        self.assertEqual(sorted(call.topic_ids.mapped("name")), ["Booking", "Prices"])
        self.assertFalse(call.recording_ids.transcript)

    def test_unbound_number(self):
        self.pbx.script("queries/user_info_by_dct_number", Response(200, {}))
        call = self.tracked_tagged_call("E-INS-UNB", "rec-unb")
        self.Insight._cron_fetch()
        self.assertEqual((call.dct_source, call.dct_bound), (False, False))
        self.assertEqual(
            self.Insight.search([("call_id", "=", call.id), ("kind", "=", "source")]).state, "done"
        )

    def test_pbx_down_then_back(self):
        call = self.tracked_tagged_call("E-INS-DOWN", "rec-down")
        self.company.sudo().medpulse_pbx_api_url = closed_port_url()
        self.Insight._cron_fetch()
        insights = self.Insight.search([("call_id", "=", call.id)])
        for insight in insights:
            self.assertEqual((insight.state, insight.attempts), ("waiting", 1))
            self.assertIn("Could not reach the PBX", insight.last_error)
            self.assertEqual(insight.next_attempt_at - insight.last_attempt_at,
                             timedelta(minutes=BACKOFF_MINUTES[0]))
        self.assertFalse(call.topic_ids)
        # Not due yet: nothing asked.
        self.company.sudo().medpulse_pbx_api_url = self.pbx.url
        self.Insight._cron_fetch()
        self.assertEqual(self.pbx.requests, [])
        self.let_time_pass(insights)
        self.Insight._cron_fetch()
        self.assertEqual(set(insights.mapped("state")), {"done"})
        self.assertEqual(call.dct_source, "yandex")
        self.assertTrue(call.topic_ids)

    def test_gives_up_after_the_last_attempt(self):
        call = self.tracked_tagged_call("E-INS-GIVEUP", "rec-giveup")
        self.company.sudo().medpulse_pbx_api_url = closed_port_url()
        insights = self.Insight.search([("call_id", "=", call.id)])
        for _attempt in range(len(BACKOFF_MINUTES) + 1):
            self.let_time_pass(insights)
            self.Insight._cron_fetch()
        self.assertEqual(set(insights.mapped("state")), {"failed"})
        self.assertFalse(any(insights.mapped("next_attempt_at")))

    def test_lockout_pauses_without_spending_attempts(self):
        # The PBX refuses the first question (the source, queued first) as invalid (3xxx):
        # the client pauses every request of the account for two minutes, so the second
        # question is not sent at all and spends no attempt.
        self.pbx.fail("queries/user_info_by_dct_number", 3104)
        call = self.tracked_tagged_call("E-INS-LOCK", "rec-lock")
        self.Insight._cron_fetch()
        source = self.Insight.search([("call_id", "=", call.id), ("kind", "=", "source")])
        topics = self.Insight.search([("call_id", "=", call.id), ("kind", "=", "topics")])
        self.assertEqual((source.state, source.attempts), ("waiting", 1))
        self.assertEqual((topics.state, topics.attempts), ("waiting", 0), "no attempt spent")
        self.assertIn("paused", topics.last_error)
        self.assertGreater(topics.next_attempt_at, fields.Datetime.now() + timedelta(seconds=100))
        self.assertEqual([r.path for r in self.pbx.requests], ["queries/user_info_by_dct_number"])
        # The pause over and the PBX well again, both are answered.
        self.pbx.script("queries/user_info_by_dct_number", Response(200, {
            "channel": {"source": "vk"}}))
        self.let_time_pass(topics | source)
        self.Insight._cron_fetch()
        self.assertEqual(set((topics | source).mapped("state")), {"done"})
        self.assertEqual((call.dct_source, len(call.topic_ids)), ("vk", 2))


class OldCallsCase(InsightCase):
    """Calls as a release before the insight left them: folded by an older fold (version
    ``CURRENT - 1``), without the keys pressed, the call-tracking number and its question."""

    @staticmethod
    def tracked_events(entry_id, caller):
        """An answered call through the voice menu (2, then 1) on a call-tracking number."""
        events = with_dct(incoming_answered(entry_id, caller=caller), {"number": DCT, "type": 1})
        events[1:1] = [dtmf(entry_id, 1, "2", "ivr", T0 + 2), dtmf(entry_id, 2, "1", "ivr.2",
                                                                      T0 + 4)]
        return events

    def as_before_the_insight(self, calls):
        """What the calls were at the older fold: none of the insight's values, no question."""
        self.env.flush_all()
        self.env.cr.execute(
            """UPDATE medpulse_call SET fold_version = %s, dtmf_choices = NULL,
                      dct_number = NULL, dct_type = NULL, dct_source_asked = FALSE
                WHERE id = ANY(%s)""", [CURRENT - 1, calls.ids])
        self.env.cr.execute("DELETE FROM medpulse_call_ivr_label_rel WHERE call_id = ANY(%s)",
                            [calls.ids])
        self.env.cr.execute("DELETE FROM medpulse_call_insight WHERE call_id = ANY(%s)",
                            [calls.ids])
        # Every other call of the database is not this test's: left alone by the refold.
        self.env.cr.execute(
            "UPDATE medpulse_call SET fold_version = %s WHERE id != ALL(%s)"
            " AND fold_version < %s", [CURRENT, calls.ids, CURRENT])
        self.env.invalidate_all()

    def refold(self):
        self.env.flush_all()  # the cron works in cursors of its own
        taken = self.env["medpulse.call.refold"].sudo()._cron_refold()
        self.env.invalidate_all()
        return taken

    def sources_asked(self, calls):
        return self.Insight.search([("call_id", "in", calls.ids), ("kind", "=", "source")])


@tagged("post_install", "-at_install")
class TestInsightRefold(OldCallsCase):
    """Calls folded before the fold computed the keys and the call-tracking number get them
    from the refold an upgrade starts (``FOLD_VERSION`` 2), from their stored events or,
    where the retention purged those, from their snapshot; nothing else of them changes."""

    def test_old_calls_get_their_keys_and_dct_and_nothing_else_changes(self):
        kept = self.receive(self.tracked_events("E-INS-OLD-1", "79160000301"))
        purged = self.receive(self.tracked_events("E-INS-OLD-2", "79160000302"))
        plain = self.receive(incoming_answered("E-INS-OLD-3", caller="79160000303"))
        calls = kept | purged | plain
        # The retention purged the raw events of one of them (kept in its snapshot).
        self.env["medpulse.call.event.snapshot"].sudo()._purge_calls(
            self.company, {purged.entry_id: purged.id})
        self.env.invalidate_all()
        self.assertTrue(purged.events_purged)
        self.assertFalse(purged.sudo().event_ids, "only the snapshot holds its events")
        self.assertEqual((kept.dtmf_choices, kept.dct_number, kept.dct_type),
                         ("ivr:2 ivr.2:1", DCT, "1"))
        names = _counted_fields(kept)
        folded = {call.id: {name: call[name] for name in names} for call in calls}

        self.as_before_the_insight(calls)
        for call in kept | purged:
            self.assertEqual((call.dtmf_choices, call.dct_number, call.dct_type,
                              call.ivr_label_ids, call.fold_version),
                             (False, False, False, call.ivr_label_ids.browse(), CURRENT - 1))

        self.assertEqual(self.refold(), 3)
        run = self.env["medpulse.call.refold"].sudo()._latest(self.company)
        self.assertEqual((run.state, run.fold_version, run.done_count, run.failed_count),
                         ("done", CURRENT, 3, 0))
        for call in calls:
            self.assertEqual(call.fold_version, CURRENT)
            self.assertEqual({name: call[name] for name in names}, folded[call.id],
                             f"{call.entry_id}: as the current fold stores it")
        self.assertEqual((purged.dtmf_choices, purged.dct_number, purged.dct_type),
                         ("ivr:2 ivr.2:1", DCT, "1"), "refolded from its snapshot")
        self.assertEqual(sorted(purged.ivr_label_ids.mapped("location")),
                         ["ivr", "ivr.2", "ivr.2.1"])
        # What the refold changed is the insight and only it (the plain call: nothing).
        self.assertEqual(run.field_counts, {
            "dtmf_choices": 2, "ivr_label_ids": 2, "dct_number": 2, "dct_type": 2,
        })
        self.assertEqual(run.changed_count, 2)
        self.assertEqual(self.sources_asked(calls).call_id, kept | purged)
        self.assertEqual(self.pbx.requests, [], "only queued: asked by the insight's cron")


@tagged("post_install", "-at_install")
class TestInsightStatements(OldCallsCase):
    """The call-tracking source is asked of the PBX once per call: a flag on the call's row
    (which every event reads anyway), not a search of the questions at every event; and a
    refold queues it once, never again."""

    def fold(self, events):
        """Fold ``events`` one by one as ``TestStatementsPerEvent``; the statements each took."""
        return statements_per_event(self, events)

    def test_dct_events_cost_no_statement_per_event(self):
        def tracked(entry_id, caller):
            return with_dct(incoming_answered(entry_id, caller=caller), {"number": DCT, "type": 1})

        # Warm the worker's caches with a call of each shape, as TestStatementsPerEvent.
        self.fold(incoming_answered("E-INS-ST-W1", caller="79160000311"))
        self.fold(tracked("E-INS-ST-W2", "79160000312"))
        plain = self.fold(incoming_answered("E-INS-ST-1", caller="79160000313"))
        dct = self.fold(tracked("E-INS-ST-2", "79160000314"))
        extra = [with_ - without for with_, without in zip(dct, plain, strict=True)]
        # Only the first event that carries the number queues the question (the question,
        # the cron's trigger, the call's flag); no later event pays anything for it.
        self.assertLessEqual(extra[0], QUEUE_STATEMENTS, f"per event {dct} against {plain}")
        self.assertEqual(extra[1:], [0] * (len(extra) - 1), f"per event {dct} against {plain}")
        call = self.env["medpulse.call"].sudo().search([("entry_id", "=", "E-INS-ST-2")])
        self.assertTrue(call.dct_source_asked)
        self.assertEqual(len(self.sources_asked(call)), 1)

    def test_a_refold_of_an_old_tracked_call_asks_once(self):
        call = self.receive(self.tracked_events("E-INS-ST-OLD", "79160000315"))
        self.as_before_the_insight(call)
        self.assertFalse(self.sources_asked(call))
        self.assertEqual(self.refold(), 1)
        source = self.sources_asked(call)
        self.assertEqual((len(source), source.state, call.dct_source_asked), (1, "waiting", True))
        # Answered; then neither a later event of the call nor another refold asks again.
        self.Insight._cron_fetch()
        self.assertEqual((source.state, call.dct_source), ("done", "yandex"))
        later = [(path, payload) for path, payload in
                 self.tracked_events("E-INS-ST-OLD", "79160000315") if path == "events/call"][-1]
        self.receive([(later[0], dict(later[1], seq=int(later[1]["seq"]) + 10))])
        # The next release's fold (a version more) refolds it again (and only it).
        self.env.flush_all()
        self.env.cr.execute("UPDATE medpulse_call SET fold_version = %s WHERE id != %s",
                            [CURRENT + 1, call.id])
        self.env.invalidate_all()
        with new_fold():
            self.assertEqual(self.refold(), 1)
        self.assertEqual(self.sources_asked(call), source)
        self.assertEqual(source.state, "done", "not queued again")
        self.assertEqual(self.pbx.calls("queries/user_info_by_dct_number"), [{"number": DCT}])


@tagged("post_install", "-at_install")
class TestInsightAccess(InsightCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A telephony operator without a clinic role, a telephony manager without one.
        cls.bare_operator = new_test_user(
            cls.env, login="ins_bare_op", groups="medpulse_telephony.group_telephony_operator")
        cls.bare_manager = new_test_user(
            cls.env, login="ins_bare_mgr", groups="medpulse_telephony.group_telephony_manager")
        cls.other_company = cls.env["res.company"].create({"name": "Other clinic"})

    def test_transcript_is_for_clinic_roles_only(self):
        call = self.tracked_tagged_call("E-INS-ACL", "rec-acl")
        self.Insight._cron_fetch()
        recording = call.recording_ids
        self.assertTrue(recording.with_user(self.manager).transcript)
        with self.assertRaises(AccessError):
            recording.with_user(self.bare_manager).read(["transcript"])
        # The topics are not the patient's words: the journal's users see and filter them.
        self.assertEqual(recording.with_user(self.bare_manager).topic_ids, call.topic_ids)
        self.assertEqual(
            call.with_user(self.bare_operator).read(["topic_ids", "dtmf_choices", "dct_source"])[0][
                "dct_source"], "yandex")
        with self.assertRaises(AccessError):
            recording.with_user(self.bare_operator).read(["topic_ids"])

    def test_who_labels_the_menu_and_who_asks_the_pbx(self):
        call = self.tracked_tagged_call("E-INS-ROLES", "rec-roles")
        label = call.ivr_label_ids[:1]
        with self.assertRaises(AccessError):
            label.with_user(self.operator1).write({"name": "Nope"})
        label.with_user(self.manager).write({"name": "Main menu"})
        self.assertEqual(label.with_user(self.operator1).name, "Main menu")
        with self.assertRaises(AccessError):
            self.env["medpulse.call.insight"].with_user(self.operator1).search([])
        with self.assertRaises(AccessError):
            self.env["medpulse.call.source.report"].with_user(self.operator1).search([])
        with self.assertRaises(AccessError):
            call.with_user(self.operator1).read(["insight_ids"])
        self.assertTrue(self.env["medpulse.call.insight"].with_user(self.manager).search(
            [("call_id", "=", call.id)]))

    def test_other_company(self):
        call = self.tracked_tagged_call("E-INS-CO", "rec-co")
        self.Insight._cron_fetch()
        foreign = self.manager.sudo().copy({
            "login": "ins_foreign_mgr", "company_id": self.other_company.id,
            "company_ids": [(6, 0, self.other_company.ids)],
        })
        for model in ("medpulse.ivr.label", "medpulse.call.topic", "medpulse.call.insight",
                      "medpulse.call.source.report"):
            self.assertFalse(self.env[model].with_user(foreign).search([]), model)
        self.assertFalse(self.env["medpulse.call"].with_user(foreign).search(
            [("id", "=", call.id)]))


#: The README's access table of the call insight (issue 23 part 2): role -> allowed actions.
INSIGHT_MATRIX = {
    "operator": {"read_call_insight"},
    "receptionist": {"read_call_insight"},
    "doctor": set(),
    "telephony_manager": {"read_call_insight", "label_voice_menu", "read_source_report",
                          "read_pbx_questions"},
    "clinic_manager": {"read_call_insight"},
    "administrator": {"read_call_insight", "label_voice_menu", "read_source_report",
                      "read_transcript", "read_pbx_questions"},
    "portal": set(),
    "public": set(),
    "other_company": set(),
}
INSIGHT_ACTIONS = ("read_call_insight", "label_voice_menu", "read_source_report",
                   "read_transcript", "read_pbx_questions")


@tagged("post_install", "-at_install")
class TestInsightAccessMatrix(InsightCase):
    """One check per cell of the README's call-insight access table."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company_b = cls.env["res.company"].create({"name": "Insight branch B"})
        cls.users = role_users(cls.env, "insm", company_b)

    def setUp(self):
        super().setUp()
        self.call = self.tracked_tagged_call("E-INSM-1", "rec-insm")
        self.Insight._cron_fetch()
        self.env.flush_all()

    def attempt(self, role, action):
        env = self.env(user=self.users[role])
        call = env["medpulse.call"].browse(self.call.id)
        if action == "read_call_insight":
            values = call.read(["dtmf_choices", "ivr_label_ids", "topic_ids", "dct_source"])[0]
            return bool(values["dtmf_choices"] and values["topic_ids"] and values["dct_source"])
        if action == "label_voice_menu":
            label = env["medpulse.ivr.label"].browse(self.call.ivr_label_ids[:1].id)
            label.write({"name": "Main menu"})
            return True
        if action == "read_source_report":
            return bool(env["medpulse.call.source.report"].search([("call_id", "=", self.call.id)]))
        if action == "read_transcript":
            recording = env["medpulse.call.recording"].browse(self.call.recording_ids.id)
            return bool(recording.read(["transcript"])[0]["transcript"])
        if action == "read_pbx_questions":
            return bool(env["medpulse.call.insight"].search([("call_id", "=", self.call.id)]))
        raise AssertionError(action)

    def test_matrix(self):
        wrong = []
        for role in INSIGHT_MATRIX:
            for action in INSIGHT_ACTIONS:
                with self.subTest(role=role, action=action), self.env.cr.savepoint() as savepoint:
                    try:
                        allowed = self.attempt(role, action)
                    except (AccessError, UserError):
                        allowed = False
                    savepoint.rollback()
                self.env.invalidate_all()
                if allowed != (action in INSIGHT_MATRIX[role]):
                    wrong.append(f"{role} {action}: {'allowed' if allowed else 'refused'}")
        self.assertEqual(wrong, [])

    def test_readme_table(self):
        from .test_access_matrix import matrix_rows, readme_tables  # noqa: PLC0415

        readme = Path(__file__).resolve().parents[2] / "README.md"
        expected = matrix_rows(INSIGHT_ACTIONS, INSIGHT_MATRIX)
        tables = [
            [[cell.lower() if row_index == 0 or col == 0 else cell
              for col, cell in enumerate(row)] for row_index, row in enumerate(table)]
            for table in readme_tables(readme.read_text(encoding="utf-8"))
        ]
        found = [table for table in tables if table[0] == expected[0]]
        self.assertTrue(found, f"README.md has no table with the header {expected[0]}")
        self.assertEqual(found[0], expected)
