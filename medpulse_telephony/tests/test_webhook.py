from odoo.tests import HttpCase, tagged

import mango_vpbx

from .common import (
    API_KEY,
    API_SALT,
    OPERATOR_MOBILE,
    T0,
    TelephonyFixtures,
    dumps,
    incoming_answered,
    incoming_missed,
    outgoing,
)


@tagged("post_install", "-at_install")
class TestWebhook(TelephonyFixtures, HttpCase):
    """The PBX's requests through the real route, signed like the PBX signs them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()

    def post(self, path, payload, key=API_KEY, salt=API_SALT):
        json_str = payload if isinstance(payload, str) else dumps(payload)
        return self.url_open(f"/mango/{path}", data=mango_vpbx.encode(json_str, key, salt))

    def deliver(self, events):
        for path, payload in events:
            response = self.post(path, payload)
            self.assertEqual(response.status_code, 200, response.text)
        return (
            self.env["medpulse.call"].sudo().search([("entry_id", "=", events[0][1]["entry_id"])])
        )

    def counts(self):
        return (
            self.env["medpulse.call.event"].sudo().search_count([]),
            self.env["medpulse.call"].sudo().search_count([]),
            self.env["medpulse.telephony.line"].sudo().with_context(active_test=False).search_count([]),
        )

    def test_incoming_call_builds_the_journal(self):
        call = self.deliver(incoming_answered("W-IN"))
        self.assertEqual(len(call), 1)
        self.assertEqual(call.call_type, "incoming")
        self.assertEqual(call.answered_user_id, self.operator1)
        self.assertEqual(call.rang_user_ids, self.operator1 | self.operator2)
        self.assertEqual((call.wait_seconds, call.talk_seconds), (12, 60))
        self.assertEqual(call.sudo().patient_id, self.patient)
        self.assertTrue(call.is_final)

    def test_leg_with_a_number_and_no_extension(self):
        call = self.deliver(incoming_answered("W-MOB", to_operator={"number": OPERATOR_MOBILE}))
        self.assertEqual(call.answered_user_id, self.operator3)

    def test_outgoing_official_example(self):
        call = self.deliver(outgoing("W-OUT", callee="12345678", extension="101"))
        self.assertEqual(call.call_type, "outgoing")
        self.assertEqual(call.operator_user_id, self.operator1)
        self.assertEqual(call.callee_number, "12345678")
        self.assertEqual(call.talk_seconds, 30)

    def test_missed_then_called_back_through_the_webhook(self):
        missed = self.deliver(incoming_missed("W-MISS"))
        self.assertEqual(missed.followup_state, "needs_callback")
        back = self.deliver(outgoing("W-BACK", t0=T0 + 120))
        self.assertEqual(missed.followup_state, "called_back")
        self.assertEqual(missed.closed_by_call_id, back)

    def test_duplicate_delivery_is_a_noop(self):
        events = incoming_answered("W-DUP")
        self.deliver(events)
        before = self.counts()
        self.deliver(events[2:5])
        self.assertEqual(self.counts(), before)

    def test_forged_or_unsigned_requests_change_nothing(self):
        path, payload = incoming_answered("W-BAD")[0]
        json_str = dumps(payload)
        good = mango_vpbx.encode(json_str, API_KEY, API_SALT)
        before = self.counts()
        cases = {
            "forged signature": (
                dict(good, sign=mango_vpbx.sign(API_KEY, json_str, "guessed-salt")),
                None,
                403,
            ),
            "wrong key": (mango_vpbx.encode(json_str, "other-key", API_SALT), None, 403),
            "tampered json": (dict(good, json=json_str.replace("W-BAD", "W-EVIL")), None, 403),
            "no signature": ({"vpbx_api_key": API_KEY, "json": json_str}, None, 400),
            "no key": ({"sign": good["sign"], "json": json_str}, None, 400),
        }
        for name, (form, headers, status) in cases.items():
            response = self.url_open(f"/mango/{path}", data=form, headers=headers)
            self.assertEqual(response.status_code, status, name)
        response = self.url_open(
            f"/mango/{path}", data=json_str.encode(), headers={"Content-Type": "application/json"}
        )
        self.assertEqual(response.status_code, 415, "json body")
        response = self.url_open(
            f"/mango/{path}", data=dict(good, padding="x" * 70000),
        )
        self.assertEqual(response.status_code, 413, "oversize body")
        self.assertEqual(self.counts(), before)

    def test_empty_salt_never_verifies(self):
        self.company.sudo().medpulse_pbx_api_salt = False
        path, payload = incoming_answered("W-NOSALT")[0]
        before = self.counts()
        response = self.post(path, payload, salt="")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.counts(), before)

    def test_signed_but_not_understood_is_kept_and_acknowledged(self):
        Event = self.env["medpulse.call.event"].sudo()
        response = self.post("events/teleport", {"entry_id": "W-UNK", "x": 1})
        self.assertEqual(response.status_code, 200)
        unknown_path = Event.search([("path", "=", "events/teleport")])
        self.assertEqual(unknown_path.state, "not_understood")
        response = self.post("events/call", "{not json")
        self.assertEqual(response.status_code, 200)
        bad_json = Event.search([("json", "=", "{not json")])
        self.assertEqual(bad_json.state, "not_understood")
        self.assertIn("JSON", bad_json.error)
        self.assertEqual(
            self.env["medpulse.call"].sudo().search_count([("entry_id", "=", "W-UNK")]), 0
        )

    def test_ping_and_results(self):
        before = self.counts()
        response = self.url_open("/mango/ping", data={"anything": "1"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.counts(), before)
        response = self.post("result/callback", {"command_id": "cmd-1", "result": "1000"})
        self.assertEqual(response.status_code, 200)
        result = self.env["medpulse.call.event"].sudo().search([("path", "=", "result/callback")])
        self.assertEqual(result.state, "processed")
        self.assertFalse(result.call_id)

    def test_get_is_not_allowed(self):
        response = self.url_open("/mango/events/call")
        self.assertEqual(response.status_code, 405)
