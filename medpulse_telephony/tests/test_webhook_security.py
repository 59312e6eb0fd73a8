"""The webhook is on the internet: hostile requests through the real HTTP route.

Unsigned, forged, replayed, oversized or wrongly sent requests get a 4xx and write
nothing (rows of ``medpulse_call_event`` and ``medpulse_call`` are counted before
and after). Correctly signed but malformed content is never a 500: it is kept as a
raw event (``not_understood`` when it cannot be read), answered 200, and the journal
stays consistent. Nothing logged at INFO or above carries the salt or the data of
the patient who called.
"""

import logging
from contextlib import contextmanager

from odoo.tests import HttpCase, tagged

import mango_vpbx

from .test_access_matrix import incoming_call_events

API_KEY = "sec-vpbx-key-7d1c"
API_SALT = "sec-vpbx-salt-b83f0e"
PATIENT_NUMBER = "79167770707"
URL = "/mango/events/call"


@contextmanager
def captured_logs(level=logging.INFO):
    """Every record logged under ``odoo`` and ``werkzeug`` at ``level`` or above, formatted
    as the log file would hold it (message and traceback).

    At DEBUG, every logger under them is switched to DEBUG meanwhile, except
    ``odoo.sql_db``: Odoo's SQL debugging (``--log-sql``) prints every query with its
    parameters by design, a tool for a developer's own database.
    """
    records = []
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    class Collector(logging.Handler):
        def emit(self, record):
            records.append(formatter.format(record))

    handler = Collector(level)
    loggers = [logging.getLogger("odoo"), logging.getLogger("werkzeug")]
    levels = {}
    if level < logging.INFO:
        manager = logging.Logger.manager
        names = ["odoo", "werkzeug"] + [
            name for name in manager.loggerDict if name.startswith(("odoo.", "werkzeug."))
        ]
        for name in names:
            logger = logging.getLogger(name)
            levels[logger] = logger.level
            logger.setLevel(logging.INFO if name.startswith("odoo.sql_db") else level)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        for logger, previous in levels.items():
            logger.setLevel(previous)


@tagged("post_install", "-at_install")
class TestWebhookSecurity(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.sudo().write(
            {"medpulse_pbx_api_key": API_KEY, "medpulse_pbx_api_salt": API_SALT}
        )
        cls.patient = (
            cls.env["medpulse.patient"]
            .sudo()
            .create(
                {
                    "last_name": "Secretova",
                    "first_name": "Zinaida",
                    "patronymic": "Petrovna",
                    "phone_ids": [(0, 0, {"number": "+7 916 777-07-07"})],
                }
            )
        )

    # ------------------------------------------------------------------ helpers
    def counts(self):
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT (SELECT count(*) FROM medpulse_call_event),"
            " (SELECT count(*) FROM medpulse_call)"
        )
        return self.env.cr.fetchone()

    def post(self, form, path=URL, **kwargs):
        return self.url_open(path, data=form, allow_redirects=False, **kwargs)

    def signed(self, payload, key=API_KEY, salt=API_SALT):
        return mango_vpbx.encode(payload, key, salt)

    def assert_rejected(self, response, label):
        self.assertTrue(400 <= response.status_code < 500, f"{label}: HTTP {response.status_code}")

    # ------------------------------------------------------------------ rejected
    def test_forged_unsigned_and_replayed_requests_write_nothing(self):
        payload = incoming_call_events("SEC-1", PATIENT_NUMBER)[0][1]
        good = self.signed(payload)
        tampered = dict(payload, to={"extension": "999"})
        cases = {
            "no fields": {},
            "no signature": {"vpbx_api_key": API_KEY, "json": good["json"]},
            "no key": {"sign": good["sign"], "json": good["json"]},
            "no json": {"vpbx_api_key": API_KEY, "sign": good["sign"]},
            "empty signature": dict(good, sign=""),
            "forged signature": dict(good, sign="0" * 64),
            "signature of another body": dict(good, sign=mango_vpbx.sign(API_KEY, "{}", API_SALT)),
            "wrong key, right salt": self.signed(payload, key="someone-else"),
            "right key, wrong salt": self.signed(payload, salt="guessed-salt"),
            "HMAC instead of sha256": dict(
                good,
                sign=__import__("hmac")
                .new(API_SALT.encode(), (API_KEY + good["json"] + API_SALT).encode(), "sha256")
                .hexdigest(),
            ),
            "old request replayed with a changed body": dict(
                good, json=mango_vpbx.signing.dumps(tampered)
            ),
            "body with trailing space": dict(good, json=good["json"] + " "),
            "key with a NUL": dict(good, vpbx_api_key=API_KEY + "\x00"),
            "unsigned deep nesting": {
                "vpbx_api_key": API_KEY,
                "sign": "x",
                "json": "[" * 20000 + "]" * 20000,
            },
        }
        before = self.counts()
        for label, form in cases.items():
            with self.subTest(label):
                self.assert_rejected(self.post(form), label)
        self.assertEqual(self.counts(), before, "a rejected request wrote a row")

    def test_a_changed_key_salt_or_company_applies_to_the_next_request(self):
        """The PBX accounts are kept per worker (no query per request): a new salt, a new
        key, a new clinic or an archived one is what the very next request meets."""
        payload = incoming_call_events("SEC-KEYS", PATIENT_NUMBER)[0][1]
        self.assertEqual(self.post(self.signed(payload)).status_code, 200)
        self.company.sudo().medpulse_pbx_api_salt = "sec-new-salt-41c9"
        self.assert_rejected(self.post(self.signed(payload)), "the old salt")
        self.assertEqual(
            self.post(self.signed(payload, salt="sec-new-salt-41c9")).status_code, 200
        )
        self.company.sudo().medpulse_pbx_api_key = "sec-new-key-2b7a"
        self.assert_rejected(
            self.post(self.signed(payload, salt="sec-new-salt-41c9")), "the old key"
        )
        self.assertEqual(self.post(
            self.signed(payload, key="sec-new-key-2b7a", salt="sec-new-salt-41c9")
        ).status_code, 200)
        branch = self.env["res.company"].sudo().create({
            "name": "Branch with its own PBX",
            "medpulse_pbx_api_key": "sec-branch-key", "medpulse_pbx_api_salt": "sec-branch-salt",
        })
        branch_payload = incoming_call_events("SEC-BRANCH", PATIENT_NUMBER)[0][1]
        signed = self.signed(branch_payload, key="sec-branch-key", salt="sec-branch-salt")
        self.assertEqual(self.post(signed).status_code, 200)
        stored = self.env["medpulse.call.event"].sudo().search([("entry_id", "=", "SEC-BRANCH")])
        self.assertEqual(stored.company_id, branch)
        branch.active = False
        before = self.counts()
        self.assert_rejected(
            self.post(self.signed(
                incoming_call_events("SEC-ARCHIVED", PATIENT_NUMBER)[0][1],
                key="sec-branch-key", salt="sec-branch-salt",
            )), "an archived clinic",
        )
        self.assertEqual(self.counts(), before)

    def test_oversized_body_is_refused(self):
        payload = dict(incoming_call_events("SEC-BIG", PATIENT_NUMBER)[0][1], junk="x" * 200_000)
        before = self.counts()
        response = self.post(self.signed(payload))
        self.assertEqual(response.status_code, 413)
        self.assertEqual(self.counts(), before)

    def test_other_methods_and_content_types_are_refused(self):
        good = self.signed(incoming_call_events("SEC-M", PATIENT_NUMBER)[0][1])
        before = self.counts()
        url = self.base_url() + URL
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            with self.subTest(method):
                response = self.opener.request(
                    method, url, data=good, timeout=12, allow_redirects=False
                )
                self.assert_rejected(response, method)
        response = self.opener.post(url, json=good, timeout=12)
        self.assert_rejected(response, "JSON body instead of a form")
        self.assertEqual(self.counts(), before)

    # ------------------------------------------------------------------ signed but malformed
    def test_signed_deep_nesting_is_kept_as_not_understood(self):
        before = self.counts()
        for body in (
            "[" * 9000 + "]" * 9000,
            '{"entry_id":"SEC-D","x":' + "[" * 900 + "]" * 900 + "}",
        ):
            response = self.post(self.signed(body))
            self.assertEqual(response.status_code, 200)
        self.assertEqual(self.counts(), (before[0] + 2, before[1]))
        states = (
            self.env["medpulse.call.event"]
            .sudo()
            .search([], order="id desc", limit=2)
            .mapped("state")
        )
        self.assertEqual(states, ["not_understood", "not_understood"])

    def test_signed_malformed_fields_never_fail_and_keep_the_journal(self):
        call = self._deliver_clean("SEC-OK")
        reference = call.read(["call_type", "result", "caller_e164", "talk_seconds", "is_final"])
        wrong_values = [
            [],
            {},
            1.5,
            True,
            -1,
            10**30,
            "",
            "٣٤٥",
            "７９１６",
            "79\x00161",
            "\u202e7916",
            "\U0001f4de",
            "x" * 300,
            None,
        ]
        sent = 0
        for index, (path, payload) in enumerate(incoming_call_events("SEC-X", PATIENT_NUMBER)):
            for key in payload:
                for value_index, value in enumerate(wrong_values):
                    entry = f"SEC-X-{index}-{key}-{value_index}"
                    mutated = dict(payload, entry_id=entry)
                    if "call_id" in mutated:
                        mutated["call_id"] = f"{entry}-leg"
                    if isinstance(mutated.get(key), dict):
                        mutated[key] = {"number": value, "extension": value}
                    else:
                        mutated[key] = value
                    response = self.post(self.signed(mutated), path=f"/mango/{path}")
                    self.assertEqual(response.status_code, 200, f"{path} {key}={value!r}")
                    sent += 1
        for path in ("events/unknown", "result", "events/call/extra/../../x", "éçü/événement"):
            response = self.post(self.signed({"entry_id": "SEC-P"}), path=f"/mango/{path}")
            self.assertEqual(response.status_code, 200, path)
        Event = self.env["medpulse.call.event"].sudo()
        self.assertFalse(Event.search_count([("state", "=", "error")]), "a journal update failed")
        self.assertTrue(Event.search_count([("state", "=", "not_understood")]))
        self.assertEqual(call.read(list(reference[0])), reference, "the clean call changed")
        # Every event that was understood and names a call has its journal record.
        understood = Event.search([("state", "=", "processed"), ("entry_id", "!=", False)])
        missing = set(understood.mapped("entry_id")) - set(
            self.env["medpulse.call"].sudo().search([]).mapped("entry_id")
        )
        self.assertFalse(missing)
        self.assertGreater(sent, 100)

    def test_signed_times_decades_apart_are_flagged_not_overflowed(self):
        """Timestamps each in range but ~70 years apart: durations that fit no integer column."""
        far = 2_200_000_000
        cases = {
            # leg timestamps 1 and 2,200,000,000 (0 means "no time" for the PBX)
            "SEC-T-LEGS": [
                (path, dict(payload, timestamp=1 if payload["seq"] == 1 else far + payload["seq"]))
                if path == "events/call"
                else (path, payload)
                for path, payload in incoming_call_events("SEC-T-LEGS", PATIENT_NUMBER)[:3]
            ],
            # summary create_time / end_time far apart
            "SEC-T-SUM": [
                (
                    path,
                    dict(payload, create_time=1, end_time=far)
                    if "create_time" in payload
                    else payload,
                )
                for path, payload in incoming_call_events("SEC-T-SUM", PATIENT_NUMBER)
            ],
        }
        recording = {"recording_id": "SEC-T-REC", "entry_id": "SEC-T-SUM", "call_id": "SEC-T-SUM-1",
                     "extension": "101"}
        cases["SEC-T-SUM"] += [
            ("events/recording", dict(recording, recording_state="Started", seq=1, timestamp=1)),
            ("events/recording", dict(recording, recording_state="Completed", seq=2, timestamp=far,
                                      completion_code=1000, recipient="Cloud")),
        ]
        events_before = self.counts()[0]
        sent = 0
        for events in cases.values():
            for path, payload in events:
                response = self.post(self.signed(payload), path=f"/mango/{path}")
                self.assertEqual(response.status_code, 200, f"{path} {payload}")
                sent += 1
        Event = self.env["medpulse.call.event"].sudo()
        self.assertEqual(self.counts()[0], events_before + sent, "every raw event is kept")
        self.assertFalse(
            Event.search_count([("entry_id", "in", list(cases)), ("state", "!=", "processed")]),
            "a journal update failed",
        )
        for entry_id in cases:
            call = self.env["medpulse.call"].sudo().search([("entry_id", "=", entry_id)])
            self.assertEqual(len(call), 1, entry_id)
            self.assertTrue(call.times_implausible, entry_id)
            for name in ("wait_seconds", "talk_seconds"):
                self.assertTrue(
                    0 <= call[name] <= mango_vpbx.assumptions.MAX_CALL_SECONDS, (entry_id, name)
                )
            self.assertEqual(call.call_type, "incoming", entry_id)
        summed = self.env["medpulse.call"].sudo().search([("entry_id", "=", "SEC-T-SUM")])
        self.assertEqual(str(summed.created_at), "1970-01-01 00:00:01", "times are kept as sent")
        self.assertTrue(summed.is_final)
        rec = (
            self.env["medpulse.call.recording"].sudo().search([("recording_id", "=", "SEC-T-REC")])
        )
        self.assertEqual((rec.duration, rec.call_id), (0, summed))
        # The journal is not stuck: the clean call of the same test is processed as usual.
        clean = self._deliver_clean("SEC-T-OK")
        self.assertEqual((clean.talk_seconds, clean.times_implausible), (60, False))

    def test_statistics_decades_apart_are_flagged_not_overflowed(self):
        """The reconciliation builds its own call state from the PBX's statistics rows."""
        fields = (
            "entry_id, start, finish, answer, from_number, to_extension, disconnect_reason, create"
        )
        rows = mango_vpbx.stats.parse_csv(
            f"SEC-T-STATS;1;2200000060;2200000000;{PATIENT_NUMBER};101;1110;1\n", fields
        )
        outcome = (
            self.env["medpulse.call"].sudo()._apply_stats_rows(self.company, "SEC-T-STATS", rows)
        )
        self.assertEqual(outcome, "created")
        call = self.env["medpulse.call"].sudo().search([("entry_id", "=", "SEC-T-STATS")])
        self.assertEqual(
            (call.wait_seconds, call.talk_seconds, call.times_implausible), (0, 60, True)
        )
        line = self.env["medpulse.pbx.stats.line"].sudo()._vals_from_row(self.company, rows[0])
        self.assertEqual((line["wait_seconds"], line["talk_seconds"]), (0, 60))

    def _deliver_clean(self, entry_id):
        for path, payload in incoming_call_events(entry_id, PATIENT_NUMBER):
            self.assertEqual(
                self.post(self.signed(payload), path=f"/mango/{path}").status_code, 200
            )
        return self.env["medpulse.call"].sudo().search([("entry_id", "=", entry_id)])

    # ------------------------------------------------------------------ bounds (S8)
    def test_an_8000_character_entry_id_is_kept_not_understood(self):
        """A btree index entry holds ~2,700 bytes: an 8,000-character id was a 500, not stored."""
        before = self.counts()
        payload = dict(incoming_call_events("SEC-LONG", PATIENT_NUMBER)[0][1], entry_id="E" * 8000)
        response = self.post(self.signed(payload))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.counts(), (before[0] + 1, before[1]))
        event = self.env["medpulse.call.event"].sudo().search([], order="id desc", limit=1)
        self.assertEqual(event.state, "not_understood")
        self.assertIn("longer than", event.error)
        self.assertFalse(event.entry_id, "an id too long to be one is not kept as the entry id")
        self.assertEqual(len(event.json), len(mango_vpbx.signing.dumps(payload)), "kept as sent")
        # The same in a field the identity is made of, and in a path: 200, kept.
        for path, body in (
            ("/mango/events/call", dict(payload, entry_id="SEC-LONG", call_id="c" * 8000)),
            ("/mango/events/dtmf", {"entry_id": "SEC-LONG", "dtmf": "1" * 8000}),
            ("/mango/result/" + "x" * 8000, {"command_id": "c", "result": 1000}),
        ):
            with self.subTest(path=path[:40]):
                self.assertEqual(self.post(self.signed(body), path=path).status_code, 200)
        self.assertEqual(self.counts(), (before[0] + 4, before[1]))

    def test_identities_of_long_but_valid_strings_are_stored(self):
        """Strings at the toolkit's maximum, of 4-byte characters: an identity of ~3,000 bytes."""
        longest = "😀" * mango_vpbx.assumptions.MAX_STRING_LENGTH
        body = {"entry_id": longest, "call_id": longest, "dtmf": longest, "seq": 1}
        for _attempt in range(2):
            response = self.post(self.signed(body), path="/mango/events/dtmf")
            self.assertEqual(response.status_code, 200)
        event = self.env["medpulse.call.event"].sudo().search([("path", "=", "events/dtmf")])
        self.assertEqual(len(event), 1, "stored once, the duplicate recognised")
        self.assertTrue(event.identity.startswith("sha256:"))
        self.assertNotEqual(event.state, "error")

    def test_an_8000_character_line_number_spoils_only_its_own_event(self):
        """It used to put every event of its call in error (the line's unique index)."""
        events = incoming_call_events("SEC-LINE", PATIENT_NUMBER)
        path, first = events[0]
        poisoned = dict(first, seq=9, to=dict(first["to"], line_number="7" * 8000))
        self.assertEqual(self.post(self.signed(poisoned), path=f"/mango/{path}").status_code, 200)
        call = self._deliver_clean("SEC-LINE")
        Event = self.env["medpulse.call.event"].sudo()
        states = Event.search([("entry_id", "=", "SEC-LINE")]).mapped("state")
        self.assertEqual(sorted(states), ["not_understood"] + ["processed"] * len(events))
        self.assertTrue(call.is_final)
        self.assertEqual(call.line_id.number, "74951234567")

    # ------------------------------------------------------------------ replays (S9)
    def test_one_signed_body_is_one_row_whatever_the_path(self):
        """The signature covers the body only: replayed to other paths, counted, not stored."""
        before = self.counts()
        path, payload = incoming_call_events("SEC-PATHS", PATIENT_NUMBER)[0]
        form = self.signed(payload)
        replays = [
            "/mango/events/summary", "/mango/events/recording", "/mango/result/callback",
            "/mango/somewhere/else", "/mango/x/events/call", "/mango/events/call",
        ]
        for url in [f"/mango/{path}", *replays]:
            self.assertEqual(self.post(form, path=url).status_code, 200, url)
        self.assertEqual(self.counts(), (before[0] + 1, before[1] + 1))
        event = self.env["medpulse.call.event"].sudo().search([("entry_id", "=", "SEC-PATHS")])
        self.assertEqual((event.path, event.state), ("events/call", "processed"))
        self.assertEqual(event.other_path_count, 5, "other paths counted, not the same one")
        # An unknown path first: kept flagged, and the first path wins.
        form = self.signed(dict(payload, entry_id="SEC-PATHS-2", call_id="SEC-PATHS-2-1"))
        self.assertEqual(self.post(form, path="/mango/not/a/pbx/path").status_code, 200)
        self.assertEqual(self.post(form, path="/mango/events/call").status_code, 200)
        kept = self.env["medpulse.call.event"].sudo().search([("entry_id", "=", "SEC-PATHS-2")])
        self.assertEqual(
            (kept.path, kept.state, kept.other_path_count), ("not/a/pbx/path", "not_understood", 1)
        )
        self.assertFalse(
            self.env["medpulse.call"].sudo().search([("entry_id", "=", "SEC-PATHS-2")])
        )

    def test_record_tagged_with_the_body_of_record_added_is_its_own_event(self):
        """The PBX documents one set of fields for both paths: one body, two events."""
        call = self._deliver_clean("SEC-TAG")
        body = {
            "entry_id": "SEC-TAG", "product_id": 400076322, "user_id": 300050001,
            "timestamp": 1796345678, "recording_id": "SEC-TAG-REC",
        }
        form = self.signed(body)
        for url in ["/mango/events/record/added", "/mango/events/record/tagged"] * 2:
            self.assertEqual(self.post(form, path=url).status_code, 200, url)
        self.assertEqual(self.post(form, path="/mango/events/summary").status_code, 200)
        Event = self.env["medpulse.call.event"].sudo()
        stored = Event.search([("entry_id", "=", "SEC-TAG"), ("path", "like", "events/record/")])
        self.assertEqual(
            sorted(stored.mapped(lambda e: (e.path, e.state, e.call_id, e.other_path_count))),
            [
                ("events/record/added", "processed", call, 1),
                ("events/record/tagged", "processed", call, 0),
            ],
            "both stored once and folded; the replay to another path counted on record/added",
        )

    # ------------------------------------------------------------------ logs
    def test_logs_are_bounded_and_carry_no_data_even_at_debug(self):
        """S11: rejected requests are counted, not echoed; no number or name at DEBUG either."""
        from ..controllers import webhook

        webhook._rejections._last = None  # a fresh reporting window
        long_path = "/mango/" + PATIENT_NUMBER + "x" * 60_000
        with captured_logs(logging.DEBUG) as records:
            for _attempt in range(20):
                forged = {"vpbx_api_key": API_KEY, "sign": "0" * 64, "json": PATIENT_NUMBER}
                self.post(forged, path=long_path)
            call = self._deliver_clean("SEC-DEBUG")
            first = incoming_call_events("SEC-DEBUG", PATIENT_NUMBER)[0][1]
            self.post(self.signed(first), path="/mango/unknown/" + PATIENT_NUMBER)
            self.post(self.signed({"entry_id": "SEC-DEBUG", "from": {"number": [PATIENT_NUMBER]}}))
        self.assertEqual(call.patient_id, self.patient, "the caller is identified as the patient")
        ours = [r for r in records if r.startswith("odoo.addons.medpulse")]
        self.assertTrue(any("DEBUG" in r for r in ours), "debug lines were captured")
        rejected = [r for r in ours if "Rejected" in r]
        self.assertEqual(len(rejected), 1, "20 rejected requests, one line")
        self.assertTrue(all(len(r) <= 600 for r in records), max(map(len, records)))
        self.assertLess(sum(map(len, records)), 60_000, "the long paths are not in the log")
        text = "\n".join(records)
        for secret in (API_SALT, PATIENT_NUMBER, "9167770707", "+7 916 777", "Secretova", "Zinaida",
                       self.patient.card_number):
            self.assertNotIn(secret, text)

    def test_logs_carry_no_secret_and_no_patient_data(self):
        with captured_logs() as records:
            call = self._deliver_clean("SEC-LOG")
            self.post(self.signed({"entry_id": "SEC-LOG", "from": {"number": [PATIENT_NUMBER]}}))
            self.post(
                self.signed(incoming_call_events("SEC-LOG", PATIENT_NUMBER)[0][1], salt="bad")
            )
            self.post({"vpbx_api_key": API_KEY, "sign": "0" * 64, "json": PATIENT_NUMBER})
        self.assertEqual(call.patient_id, self.patient, "the caller is identified as the patient")
        self.assertTrue(records, "the requests were logged at all")
        text = "\n".join(records)
        secrets = [
            API_SALT,
            PATIENT_NUMBER,
            "+7 916 777",
            "Secretova",
            "Zinaida",
            self.patient.card_number,
        ]
        for secret in filter(None, secrets):
            self.assertNotIn(secret, text)
