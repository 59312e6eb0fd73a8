import json
import random
from datetime import datetime
from unittest.mock import patch

from freezegun import freeze_time
from lxml import etree

from odoo.tests import TransactionCase, new_test_user, tagged

from ..models import medpulse_call as journal_module
from .common import (
    LINE,
    OPERATOR_MOBILE,
    PATIENT_NUMBER,
    T0,
    TelephonyFixtures,
    dumps,
    incoming_answered,
    incoming_missed,
    outgoing,
)


@tagged("post_install", "-at_install")
class TestCallJournal(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()

    def test_incoming_answered(self):
        call = self.receive(incoming_answered())
        self.assertEqual(len(call), 1)
        self.assertEqual(call.call_type, "incoming")
        self.assertEqual(call.result, "answered")
        self.assertEqual(call.caller_number, PATIENT_NUMBER)
        self.assertEqual(call.caller_e164, "+79161234567")
        self.assertEqual(call.external_e164, "+79161234567")
        self.assertEqual(call.answered_user_id, self.operator1)
        self.assertEqual(call.operator_user_id, self.operator1)
        self.assertEqual(call.rang_user_ids, self.operator1 | self.operator2)
        self.assertEqual(call.sudo().patient_id, self.patient)
        self.assertEqual(call.line_id.number, LINE)
        self.assertEqual(call.wait_seconds, 12)
        self.assertEqual(call.talk_seconds, 60)
        self.assertEqual(call.created_at, datetime(2026, 3, 2, 9, 0, 0))
        self.assertEqual(call.disconnect_category, "caller_hangup")
        self.assertTrue(call.is_final)
        self.assertEqual(call.followup_state, "new")
        self.assertEqual(len(call.sudo().event_ids), 8)

    def test_operator_by_number_without_extension(self):
        call = self.receive(incoming_answered("E-MOB", to_operator={"number": OPERATOR_MOBILE}))
        self.assertEqual(call.answered_user_id, self.operator3)
        self.assertEqual(call.operator_user_id, self.operator3)
        self.assertIn(self.operator3, call.rang_user_ids)

    def test_line_created_once_with_readable_name(self):
        self.receive(incoming_answered("E-L1"))
        self.receive(incoming_answered("E-L2", t0=T0 + 600))
        lines = self.env["medpulse.telephony.line"].search([("number", "=", LINE)])
        self.assertEqual(len(lines), 1)
        self.assertEqual(lines.name, "+7 495 123-45-67")

    def test_duplicates_and_shuffled_order_give_the_same_call(self):
        in_order = self.snapshot(self.receive(incoming_answered("E-ORDER")))
        events = incoming_answered("E-SHUFFLE")
        for seed in range(3):
            shuffled = events + events[: 3 + seed]
            random.Random(seed).shuffle(shuffled)
            entry = f"E-SHUFFLE-{seed}"
            shuffled = [(path, dict(payload, entry_id=entry)) for path, payload in shuffled]
            shuffled = [
                (path, dict(payload, call_id=payload["call_id"].replace("E-SHUFFLE", entry)))
                if "call_id" in payload else (path, payload)
                for path, payload in shuffled
            ]
            self.assertEqual(self.snapshot(self.receive(shuffled)), in_order, f"order seed {seed}")

    def test_duplicate_delivery_is_a_noop(self):
        events = incoming_answered("E-DUP")
        self.receive(events)
        Event = self.env["medpulse.call.event"].sudo()
        count = Event.search_count([])
        again = Event._receive(self.company, events[0][0], dumps(events[0][1]))
        self.assertFalse(again)
        self.assertEqual(Event.search_count([]), count)

    def test_not_understood_is_kept(self):
        Event = self.env["medpulse.call.event"].sudo()
        event = Event._receive(self.company, "events/call", '{"entry_id": "E-BAD", "seq": "x"}')
        self.assertEqual(event.state, "not_understood")
        self.assertEqual(event.entry_id, "E-BAD")
        self.assertTrue(event.error)
        self.assertFalse(self.env["medpulse.call"].search([("entry_id", "=", "E-BAD")]))

    def test_missed_then_called_back(self):
        missed = self.receive(incoming_missed("E-M1"))
        self.assertEqual(missed.call_type, "missed_incoming")
        self.assertEqual(missed.missed_at, "operator")
        self.assertEqual(missed.followup_state, "needs_callback")
        self.assertEqual(missed.wait_seconds, 24)
        self.assertEqual(missed.talk_seconds, 0)
        # An unanswered callback attempt closes nothing.
        attempt = self.receive(
            outgoing("E-O1", t0=T0 + 300, callee="8 916 123-45-67", answered=False)
        )
        self.assertEqual(attempt.call_type, "unanswered_outgoing")
        self.assertEqual(missed.followup_state, "needs_callback")
        back = self.receive(outgoing("E-O2", t0=T0 + 600))
        self.assertEqual(back.call_type, "outgoing")
        self.assertEqual(back.operator_user_id, self.operator1)
        self.assertEqual(missed.followup_state, "called_back")
        self.assertEqual(missed.closed_by_call_id, back)
        self.assertEqual(back.closed_call_ids, missed)

    def test_missed_then_caller_gets_through(self):
        missed = self.receive(incoming_missed("E-M2"))
        later = self.receive(incoming_answered("E-IN-2", t0=T0 + 900))
        self.assertEqual(missed.followup_state, "resolved")
        self.assertEqual(missed.closed_by_call_id, later)

    def test_callback_processed_before_the_missed_call(self):
        back = self.receive(outgoing("E-O3", t0=T0 + 600))
        missed = self.receive(incoming_missed("E-M3"))
        self.assertEqual(missed.followup_state, "called_back")
        self.assertEqual(missed.closed_by_call_id, back)

    def test_an_earlier_answered_call_settled_late_takes_the_closure_over(self):
        """The call-back (T0 + 600) settles before the caller's own answered call
        (T0 + 300): the missed call ends closed by the earliest, as in order."""
        missed = self.receive(incoming_missed("E-M6"))
        back = self.receive(outgoing("E-O6", t0=T0 + 600))
        self.assertEqual(missed.followup_state, "called_back")
        through = self.receive(incoming_answered("E-IN-6", t0=T0 + 300))
        self.assertEqual(missed.followup_state, "resolved")
        self.assertEqual(missed.closed_by_call_id, through)
        self.assertFalse(back.closed_call_ids)
        # A later call settled last changes nothing.
        self.receive(incoming_answered("E-IN-7", t0=T0 + 900))
        self.assertEqual(missed.closed_by_call_id, through)

    def test_an_operators_status_is_not_taken_over_by_an_earlier_call(self):
        missed = self.receive(incoming_missed("E-M7"))
        back = self.receive(outgoing("E-O7", t0=T0 + 600))
        missed.with_user(self.operator1).action_set_resolved()
        self.receive(incoming_answered("E-IN-8", t0=T0 + 300))
        self.assertEqual(missed.followup_state, "resolved")
        self.assertEqual(missed.closed_by_call_id, back, "the operator's choice stands")

    def test_any_settlement_order_gives_the_same_closures(self):
        """Two misses and three answered calls of one number, settled in every order
        of a shuffle: each miss ends closed by the earliest answered call after it."""
        calls = [
            ("miss", "M", 0), ("in", "I", 200), ("miss", "N", 400),
            ("out", "O", 300), ("out", "P", 600),
        ]
        expected = {"M": ("resolved", "I"), "N": ("called_back", "P")}
        shuffler = random.Random(23)
        for round_ in range(6):
            order = calls[:]
            shuffler.shuffle(order)
            received = {}
            for kind, name, offset in order:
                entry = f"E-SH{round_}-{name}"
                make = {"miss": incoming_missed, "in": incoming_answered, "out": outgoing}[kind]
                received[name] = self.receive(make(entry, t0=T0 + 86400 * round_ + offset))
            for name, (state, closer) in expected.items():
                self.assertEqual(
                    (received[name].followup_state, received[name].closed_by_call_id),
                    (state, received[closer]), (order, name),
                )

    def test_earlier_call_seen_in_part_does_not_close_a_later_missed_call(self):
        """Delivered out of order, an earlier answered call must not close a later missed one.

        The answered call starts at T0; the missed call at T0 + 3. The answered call's
        voice-menu events and summary arrive last, so until then it seems to start at
        T0 + 5, after the missed call.
        """
        missed = self.receive(incoming_missed("E-M5", t0=T0 + 3))
        answered = incoming_answered("E-IN-5")
        legs = [e for e in answered if e[1].get("call_id", "").endswith((":op1", ":op2"))]
        early = self.receive(legs)
        self.assertEqual(early.result, "answered")
        self.assertFalse(early.is_final)
        self.assertEqual(missed.followup_state, "needs_callback")
        self.receive([e for e in answered if e not in legs])
        self.assertTrue(early.is_final)
        self.assertLess(early.created_at, missed.created_at)
        self.assertEqual(missed.followup_state, "needs_callback", "the answered call came first")
        self.assertFalse(missed.closed_by_call_id)

    def test_operator_choice_survives_recompute(self):
        events = incoming_missed("E-M4")
        missed = self.receive(events[:-1])
        missed.with_user(self.operator1).followup_state = "no_action"
        self.receive(events[-1:])
        self.assertEqual(missed.followup_state, "no_action")

    def test_search_by_number_in_any_format(self):
        call = self.receive(incoming_answered("E-NUM"))
        Call = self.env["medpulse.call"].with_user(self.operator1)
        for typed in (
            "+7 (916) 123-45-67",
            "8 916 123 45 67",
            "79161234567",
            "1234567",
            "123-45-67",
        ):
            self.assertIn(call, Call.search([("number_search", "ilike", typed)]), typed)
        self.assertNotIn(call, Call.search([("number_search", "ilike", "+7 999 000-00-00")]))

    def test_search_by_patient_name(self):
        """The search view's *Patient*: name or card number, with the user's rights."""
        call = self.receive(incoming_answered("E-PAT"))
        other = self.receive(incoming_answered("E-PAT-2", caller="79035550000"))
        self.assertEqual(call.patient_id, self.patient)
        Call = self.env["medpulse.call"].with_user(self.operator1)
        for typed in ("Ivanova", "ivanova anna", self.patient.card_number):
            found = Call.search([("patient_search", "ilike", typed)])
            self.assertIn(call, found, typed)
            self.assertNotIn(other, found, typed)
        self.assertFalse(Call.search([("patient_search", "ilike", "Nobody Such")]))
        self.assertIn(other, Call.search([("patient_search", "not ilike", "Ivanova")]))
        self.assertNotIn(call, Call.search([("patient_search", "not ilike", "Ivanova")]))

    def test_patient_filter_passes_the_calls_on_as_ids(self):
        """The filter finds the calls the link table holds (what ``patient_ids in ids``
        matches) and passes them on as ids; too many, it leaves them to the link table."""
        call = self.receive(incoming_answered("E-PAT-IDS"))
        Call = self.env["medpulse.call"].with_user(self.operator1)
        patients = list(self.env["medpulse.patient"].with_user(self.operator1)._search(
            [("display_name", "ilike", "Ivanova")]
        ))
        [(name, operator, ids)] = Call._search_patient("ilike", "Ivanova")
        self.assertEqual((name, operator), ("id", "in"))
        self.assertIn(call.id, ids)
        self.assertEqual(Call.search([("id", "in", ids)]),
                         Call.search([("patient_ids", "in", patients)]))
        with patch.object(journal_module, "_PATIENT_SEARCH_CALLS", 0):
            self.assertEqual(Call._search_patient("ilike", "Ivanova"),
                             [("patient_ids", "in", patients)])
            self.assertIn(call, Call.search([("patient_search", "ilike", "Ivanova")]))

    def test_patient_filter_runs_once_for_the_rows_and_their_count(self):
        """A full page of the journal makes the web client ask for the rows and their
        count: the patients are searched once for both (issue 24), and the answer is the
        ORM's own, whatever surrounds the term."""
        calls = self.env["medpulse.call"]
        for index in range(3):
            calls |= self.receive(incoming_answered(f"E-ONCE-{index}", t0=T0 + 600 * index))
        Call = self.env["medpulse.call"].with_user(self.operator1)
        model = type(Call)
        for field in ("patient_search", "caller_search"):
            domain = [(field, "ilike", "ivanova anna")]
            with patch.object(model, "_search_patient", autospec=True,
                              side_effect=model._search_patient) as search_patient:
                page = Call.web_search_read(domain, {"id": {}}, limit=2, count_limit=10001)
            self.assertEqual(search_patient.call_count, 1, field)
            self.assertEqual(page["length"], Call.search_count(domain), field)
            self.assertGreaterEqual(page["length"], 3, field)
            self.assertEqual([row["id"] for row in page["records"]],
                             Call.search(domain, limit=2).ids, field)
        for domain in (
            ["!", ("patient_search", "ilike", "ivanova")],
            ["|", ("patient_search", "ilike", "Nobody Such"),
             ("caller_search", "ilike", "916 123")],
            [("patient_search", "ilike", self.patient.card_number)],
        ):
            page = Call.web_search_read(domain, {"id": {}}, count_limit=10001)
            self.assertEqual({row["id"] for row in page["records"]}, set(Call.search(domain).ids),
                             domain)
        card = [("patient_search", "ilike", self.patient.card_number)]
        self.assertTrue(calls & Call.search(card))

    def test_search_box_takes_a_name_or_a_number(self):
        """Text typed in the journal's search box, then Enter: a name or a card number
        searches the patients, a number the numbers; without patient rights, the numbers."""
        call = self.receive(incoming_answered("E-BOX"))
        other = self.receive(incoming_answered("E-BOX-2", caller="79035550000"))
        Call = self.env["medpulse.call"].with_user(self.operator1)
        typed_forms = ("Ivanova", "ivanova anna", self.patient.card_number, "+7 (916) 123-45-67")
        for typed in (*typed_forms, "916 123"):
            found = Call.search([("caller_search", "ilike", typed)])
            self.assertIn(call, found, typed)
            self.assertNotIn(other, found, typed)
        self.assertEqual(Call.search([("caller_search", "ilike", "903 555")]), other)
        telephony_only = new_test_user(
            self.env, login="tel_only", groups="medpulse_telephony.group_telephony_operator",
        )
        Plain = self.env["medpulse.call"].with_user(telephony_only)
        self.assertFalse(Plain.search([("caller_search", "ilike", "Ivanova")]))
        self.assertIn(call, Plain.search([("caller_search", "ilike", "916 123")]))
        # Enter takes the search view's first field: this one, for the clinic.
        arch = Call.get_views([(False, "search")])["views"]["search"]["arch"]
        self.assertEqual(etree.fromstring(arch).find(".//field").get("name"), "caller_search")

    def test_today_is_the_users_today(self):
        # 2026-03-02 20:30 UTC is already 03-03 01:30 in Ufa (UTC+5).
        late = self.receive(incoming_missed("E-LATE", t0=T0 + 11 * 3600 + 1800))
        early = self.receive(incoming_missed("E-EARLY", t0=T0))
        ufa = (
            self.env["medpulse.call"]
            .with_user(self.operator1)
            .with_context(tz="Asia/Yekaterinburg")
        )
        utc = self.env["medpulse.call"].with_user(self.operator1).with_context(tz="UTC")
        with freeze_time("2026-03-02 21:00:00"):
            today_ufa = ufa.search(
                [("created_today", "=", True), ("call_type", "=", "missed_incoming")]
            )
            today_utc = utc.search(
                [("created_today", "=", True), ("call_type", "=", "missed_incoming")]
            )
            self.assertIn(late, today_ufa)
            self.assertNotIn(early, today_ufa)
            self.assertIn(late, today_utc)
            self.assertIn(early, today_utc)
            self.assertNotIn(late, ufa.search([("created_today", "=", False)]))

    def test_legs_shown_in_the_users_time_zone(self):
        call = self.receive(incoming_answered("E-LEGS"))
        html = str(call.with_user(self.operator1).with_context(tz="Asia/Yekaterinburg").legs_html)
        self.assertIn("14:00:05", html)  # 09:00:05 UTC in Ufa
        self.assertIn("E-LEGS:op1", html)

    def test_export_raw_events_jsonl(self):
        call = self.receive(incoming_answered("E-EXP"))
        action = call.with_user(self.manager).action_export_raw_events()
        attachment = self.env["ir.attachment"].browse(
            int(action["url"].split("/")[3].split("?")[0])
        )
        lines = [json.loads(line) for line in attachment.raw.decode().splitlines()]
        self.assertEqual(len(lines), 8)
        self.assertEqual({line["path"] for line in lines}, {"events/call", "events/summary"})
        self.assertEqual(json.loads(lines[0]["json"])["entry_id"], "E-EXP")
        self.assertTrue(lines[0]["received_at"].endswith("Z"))

    def test_appointment_booked_from_call(self):
        call = self.receive(incoming_answered("E-APP"))
        doctor = self.env["medpulse.doctor"].sudo().create({"name": "Dr. Petrov"})
        service = self.env["medpulse.service"].sudo().create({"name": "Consultation"})
        appointment = self.env["medpulse.appointment"].sudo().create({
            "patient_id": self.patient.id, "doctor_id": doctor.id, "service_id": service.id,
            "call_id": call.id,
            "start": "2026-03-10 06:00:00", "stop": "2026-03-10 06:30:00",
        })
        self.assertEqual(appointment.origin, "phone")
        self.assertEqual(call.appointment_ids, appointment)
        self.assertEqual(self.patient.call_count, 1)


@tagged("post_install", "-at_install")
class TestJournalGroupBy(TelephonyFixtures, TransactionCase):
    """The journal grouped by a many2one (``medpulse.call._read_group``): the calls grouped
    by the id, the groups ordered afterwards; the same groups, values and order as Odoo's
    own SQL (the context key ``medpulse_group_order_in_sql``), as the web client asks."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        Call = cls.env["medpulse.call"].sudo()
        Event = cls.env["medpulse.call.event"].sudo()
        calls = []
        for index, make in enumerate(
            (incoming_answered, incoming_missed, outgoing, incoming_answered, outgoing)
        ):
            entry = f"E-GRP-{index}"
            for path, payload in make(entry, t0=T0 + 600 * index):
                Event._receive(cls.company, path, dumps(payload))
            calls.append(Call.search([("entry_id", "=", entry)]))
        # An archived operator, a second operator with a name sorted before the first, and
        # a call of another line: groups whose order the names decide.
        archived = new_test_user(cls.env, login="tel_grp_old", name="Aaron Archived",
                                 groups="medpulse_clinic.group_clinic_receptionist")
        archived.active = False
        calls[3].write({"operator_user_id": archived.id})
        calls[4].write({"operator_user_id": cls.operator2.id})
        line = cls.env["medpulse.telephony.line"].sudo().create(
            {"name": "Aa second line", "number": "74950000001"}
        )
        calls[2].write({"line_id": line.id})
        cls.calls = Call.browse([call.id for call in calls])

    def grouped(self, user, groupby, orderby=False, in_sql=False, domain=()):
        Call = self.env["medpulse.call"].with_user(user).with_context(
            medpulse_group_order_in_sql=in_sql
        )
        rows = Call.read_group(
            [("id", "in", self.calls.ids), *domain],
            ["wait_seconds:avg", "talk_seconds:sum"], [groupby], orderby=orderby, lazy=False,
        )
        return [{key: value for key, value in row.items() if key != "__domain"} for row in rows]

    def test_the_same_groups_in_the_same_order_as_odoo(self):
        cases = [
            (groupby, orderby)
            for groupby in ("operator_user_id", "line_id", "patient_id", "company_id")
            for orderby in (False, f"{groupby} desc", f"{groupby} asc")
        ]
        for user in (self.operator1, self.manager):
            for groupby, orderby in cases:
                ours = self.grouped(user, groupby, orderby)
                self.assertEqual(ours, self.grouped(user, groupby, orderby, in_sql=True),
                                 (user.login, groupby, orderby))
        ours = self.grouped(self.manager, "operator_user_id")
        self.assertEqual(
            [row["operator_user_id"][0] if row["operator_user_id"] else False for row in ours],
            [self.calls[3].operator_user_id.id, self.operator1.id, self.operator2.id, False],
            "Aaron (archived), Olga, Pavel by name, then the calls with nobody",
        )
        self.assertEqual([row["__count"] for row in ours], [1, 2, 1, 1])

    def test_a_period_is_grouped_from_the_index_alone(self):
        """The index on (company, start) holds what the grouped list sums: a period's
        groups need no call read (``init``; the benchmark measures what it buys)."""
        self.env.cr.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'medpulse_call'"
            " AND indexname LIKE 'medpulse_call_company_created%%'"
        )
        [(name, definition)] = self.env.cr.fetchall()
        self.assertEqual(name, "medpulse_call_company_created_covering_index")
        self.assertIn("(company_id, created_at)", definition)
        self.assertIn("INCLUDE (operator_user_id, wait_seconds, talk_seconds)", definition)
        aggregates = {
            name for name, field in self.env["medpulse.call"]._fields.items()
            if field.store and field.aggregator and field.type in ("integer", "float")
        }
        view = self.env["medpulse.call"].get_view(view_type="list")["arch"]
        listed = {name for name in aggregates if f'name="{name}"' in view}
        self.assertEqual(listed, {"wait_seconds", "talk_seconds"},
                         "what the list sums is what the index holds")

    def executed(self, work):
        """The SQL statements ``work()`` executes."""
        executed = []
        execute = type(self.env.cr).execute

        def spy(cr, query, params=None, log_exceptions=True):
            executed.append(str(getattr(query, "code", query)))
            return execute(cr, query, params, log_exceptions)

        with patch.object(type(self.env.cr), "execute", spy):
            work()
        return executed

    def test_what_it_does_not_take_goes_to_odoo(self):
        Call = self.env["medpulse.call"].with_user(self.manager)
        executed = self.executed(lambda: Call.read_group(
            [("id", "in", self.calls.ids)], [], ["operator_user_id"], lazy=False,
        ))
        grouping = [sql for sql in executed if "GROUP BY" in sql]
        self.assertTrue(grouping)
        self.assertNotIn("res_partner", grouping[0], "grouped by the id, no join")
        # Two groupings, a limit, an order by an aggregate: Odoo's own query.
        for kwargs in (
            {"groupby": ["operator_user_id", "line_id"]},
            {"groupby": ["operator_user_id"], "limit": 2},
            {"groupby": ["operator_user_id"], "orderby": "__count desc"},
        ):
            mine = Call.read_group([("id", "in", self.calls.ids)], [], lazy=False, **kwargs)
            odoo = Call.with_context(medpulse_group_order_in_sql=True).read_group(
                [("id", "in", self.calls.ids)], [], lazy=False, **kwargs
            )
            self.assertEqual(mine, odoo, kwargs)

    # The journal over everything: the monthly tally and the calls it does not count yet.

    def everything(self, env, groupby, orderby=False, from_calls=False):
        """The journal's grouped list with no filter, as the web client asks it."""
        Call = env["medpulse.call"].with_context(medpulse_journal_from_calls=from_calls)
        rows = Call.read_group(
            [], ["wait_seconds:avg", "talk_seconds:sum"], [groupby], orderby=orderby,
            lazy=False,
        )
        return [
            {key: (type(value), round(value, 9) if isinstance(value, float) else value)
             for key, value in row.items() if key != "__domain"}
            for row in rows
        ]

    def assert_everything_as_odoo(self, envs, msg=""):
        self.env.flush_all()
        for env in envs:
            for groupby in ("operator_user_id", "line_id", "company_id"):
                for orderby in (False, f"{groupby} desc"):
                    ours = self.everything(env, groupby, orderby)
                    self.assertTrue(ours)
                    self.assertEqual(
                        ours, self.everything(env, groupby, orderby, from_calls=True),
                        (msg, env.user.login, env.su, groupby, orderby),
                    )

    def test_everything_is_read_from_the_tallies_with_the_same_rows(self):
        manager, operator = self.env(user=self.manager), self.env(user=self.operator1)
        everyone = [manager, operator, self.env(su=True)]
        executed = self.executed(lambda: self.everything(manager, "operator_user_id"))
        self.assertTrue(any("medpulse_call_tally_month" in sql for sql in executed))
        self.assertFalse(
            [sql for sql in executed
             if "GROUP BY" in sql and "medpulse_call" in sql and "tally" not in sql],
            "no grouping of every call",
        )
        self.assert_everything_as_odoo(everyone, "as installed")

        # A call in progress (not counted by the reports yet) and a settled call whose
        # operator and wait change afterwards (the tally's ledger moves it).
        Event = self.env["medpulse.call.event"].sudo()
        for path, payload in incoming_answered("E-GRP-LIVE", t0=T0 + 9000)[:1]:
            Event._receive(self.company, path, dumps(payload))
        live = self.env["medpulse.call"].sudo().search([("entry_id", "=", "E-GRP-LIVE")])
        self.assertEqual(live.result, "in_progress")
        self.calls[0].write({"operator_user_id": self.operator2.id, "wait_seconds": 99})
        self.calls[1].write({"talk_seconds": False})
        self.assert_everything_as_odoo(everyone, "a live call, a counted call changed")

        # Another clinic's calls: counted for those who may see that clinic only.
        other = self.env["res.company"].create({"name": "Group-by branch B"})
        self.env["medpulse.call"].sudo().create({
            "company_id": other.id, "entry_id": "E-GRP-B", "direction": "incoming",
            "result": "answered", "is_final": True, "created_at": datetime(2026, 3, 2, 9),
            "operator_user_id": self.operator1.id, "wait_seconds": 7, "talk_seconds": 70,
        })
        self.manager.company_ids = [(4, other.id)]
        one = manager(context={"allowed_company_ids": [self.company.id]})
        both = manager(context={"allowed_company_ids": [self.company.id, other.id]})
        self.assert_everything_as_odoo([one, both, self.env(su=True)], "two clinics")
        self.assertEqual(len(self.everything(one, "company_id")), 1)
        self.assertEqual(len(self.everything(both, "company_id")), 2)

        # A day rebuilt, and tallies from before the journal's measures (an upgrade added
        # their columns, empty): filled again on the upgrade.
        self.env["medpulse.call.tally"]._rebuild(self.company)
        self.assert_everything_as_odoo(everyone, "rebuilt")
        for table in ("medpulse_call_tally", "medpulse_call_tally_hour",
                      "medpulse_call_tally_month", "medpulse_call_tally_hour_month"):
            self.env.cr.execute(
                f"UPDATE {table} SET wait_all_sum = NULL, wait_all_count = NULL,"  # noqa: S608
                " talk_all_count = NULL"
            )
        self.env.invalidate_all()
        self.env["medpulse.call.tally"]._fill_if_empty()
        self.assert_everything_as_odoo(everyone, "filled on upgrade")

    def test_a_filter_or_another_rule_groups_the_calls(self):
        Call = self.env["medpulse.call"].with_user(self.manager)
        self.assertIsNone(Call._read_group_tallied([("direction", "=", "incoming")],
                                                   "operator_user_id", ["__count"]))
        self.assertIsNone(Call._read_group_tallied([], "patient_id", ["__count"]))
        self.assertIsNone(Call._read_group_tallied([], "operator_user_id",
                                                   ["disconnect_reason:max"]))
        self.assertIsNotNone(Call._read_group_tallied([], "operator_user_id", ["__count"]))
        # A record rule beyond the clinics' (a module that restricts operators to their
        # own calls): the calls are grouped, as Odoo does.
        self.env["ir.rule"].create({
            "name": "Own calls (test)", "model_id": self.env.ref(
                "medpulse_telephony.model_medpulse_call").id,
            "domain_force": "[('operator_user_id', '=', user.id)]",
            "groups": [(4, self.env.ref("medpulse_telephony.group_telephony_manager").id)],
        })
        self.assertIsNone(Call._read_group_tallied([], "operator_user_id", ["__count"]))
        self.assertEqual(
            self.everything(self.env(user=self.manager), "operator_user_id"),
            self.everything(self.env(user=self.manager), "operator_user_id", from_calls=True),
        )

    def test_the_calls_not_counted_yet_are_found_by_their_index(self):
        """The journal's part outside the tallies is the partial index's predicate: the
        planner can use it (at a million calls, a few rows instead of all)."""
        self.env.flush_all()
        cr = self.env.cr
        with cr.savepoint(flush=False) as savepoint:
            # The other indexes on the company go for this query (rolled back below): on a
            # small table the planner may prefer one of them with a filter.
            cr.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'medpulse_call'"
                " AND indexname != 'medpulse_call_uncounted_index'"
                " AND indexdef NOT LIKE 'CREATE UNIQUE%%' AND indexdef LIKE '%%(company_id%%'"
            )
            for (name,) in cr.fetchall():
                cr.execute(f'DROP INDEX "{name}"')
            cr.execute("SET LOCAL enable_seqscan = off")
            cr.execute(
                f"EXPLAIN SELECT c.operator_user_id, COUNT(*) FROM medpulse_call c"  # noqa: S608
                f" WHERE ({journal_module.call_measures.COUNTED}) IS NOT TRUE"
                f" AND c.company_id = ANY(%s) GROUP BY c.operator_user_id",
                [self.company.ids],
            )
            plan = "\n".join(row[0] for row in cr.fetchall())
            savepoint.rollback()
        self.assertIn("medpulse_call_uncounted_index", plan)
        self.assertNotIn("Filter", plan, "the predicate is the index's: nothing to filter")
