"""mango_vpbx_emulator.testing: the PBX double, the checking webhook, the canonical sequences."""

from __future__ import annotations

import time
import urllib.request

import pytest
import requests

from mango_vpbx import (
    VpbxAuthError,
    VpbxClient,
    VpbxCommandFailed,
    VpbxUnavailable,
    encode,
    fold,
    parse_event,
)
from mango_vpbx.limits import MemoryLimitStore
from mango_vpbx_emulator import reference
from mango_vpbx_emulator.scenarios import SCENARIOS
from mango_vpbx_emulator.testing import (
    ACCEPTED,
    PbxDouble,
    Request,
    Response,
    Webhook,
    closed_port_url,
    sequence,
)

KEY, SALT = "double-key", "double-salt"


@pytest.fixture
def webhook():
    with Webhook(KEY, SALT) as hook:
        yield hook


@pytest.fixture
def pbx(webhook):
    with PbxDouble(KEY, SALT, webhook.url) as double:
        yield double


def client(pbx, key=KEY, **options):
    return VpbxClient(pbx.url, key, SALT, timeout=5, limiter=MemoryLimitStore(), **options)


def test_scripted_answers_in_order_the_last_repeats(pbx):
    pbx.script(
        "account/balance",
        (200, {"result": 1000, "balance": 1}),
        Response(200, {"result": 1000, "balance": 2}),
    )
    balances = [client(pbx).balance().balance for _ in range(3)]
    assert [float(b) for b in balances] == [1, 2, 2]
    assert pbx.calls("account/balance") == [{}, {}, {}]
    assert all(r.signed and r.method == "POST" for r in pbx.requests)


def test_fail_answers_the_pbx_refusal(pbx):
    pbx.fail("commands/call/hangup", 4001)
    with pytest.raises(VpbxCommandFailed) as failure:
        client(pbx).hangup("no-such-call")
    assert failure.value.code == 4001 and failure.value.http_status == 420


def test_an_answer_may_depend_on_the_request_and_take_its_time(pbx):
    seen: list[Request] = []

    def answer(request: Request) -> tuple:
        seen.append(request)
        return 200, {"key": f"report-of-{request.data['date_from']}"}, {}, 0.3

    pbx.script("stats/request", answer)
    started = time.monotonic()
    answered = requests.post(pbx.url + "stats/request", data=encode({"date_from": "7"}, KEY, SALT))
    assert time.monotonic() - started >= 0.3
    assert answered.json() == {"key": "report-of-7"}
    assert seen[0].path == "stats/request" and seen[0].signed


def test_headers_name_the_double_and_any_path_can_be_scripted(pbx):
    pbx.script("queries/recording/post", (302, "", {"Location": "{url}files/x"}))
    pbx.script("files/x", (200, b"mp3", {"Content-Type": "audio/mpeg"}))
    pbx.script("/elsewhere", (201, "text"))
    link = client(pbx).recording_link("rec-1")
    assert link == pbx.url + "files/x"
    assert urllib.request.urlopen(link).read() == b"mp3"
    assert urllib.request.urlopen(pbx.base + "/elsewhere").status == 201
    assert [r.path for r in pbx.requests if r.method == "GET"] == ["files/x", "/elsewhere"]


def test_what_is_not_scripted_is_the_emulator(pbx, webhook):
    """A real call, a real command and its result on the webhook, a real refusal."""
    run = pbx.play("incoming_answered", talk_seconds=1)
    assert run.error is None and run.entry_id
    webhook.wait(lambda: webhook.events("events/summary"))
    # The emulator refuses a wrong key itself.
    with pytest.raises(VpbxAuthError):
        client(pbx, key="wrong").hangup("x")
    assert [r.signed for r in pbx.requests] == [False]
    pbx.reset()
    assert pbx.requests == []
    # Accepted commands report their outcome later, like the PBX: no such call (4101).
    command = client(pbx).hangup("no-such-leg")
    webhook.wait(lambda: webhook.events("result/call/hangup"))
    [(_path, result)] = webhook.events("result/call/hangup")
    assert command in result and "4101" in result


def test_any_path_answers_what_has_no_script_of_its_own(pbx):
    """``"*"``: a PBX accepting commands about calls only the test knows, a slow one."""
    pbx.script("*", ACCEPTED)
    pbx.fail("commands/call/hangup", 4001)
    assert client(pbx).route("made-up-call", "102")  # the emulator would refuse it: no such leg
    assert client(pbx).transfer("made-up-call", "102", "101")
    with pytest.raises(VpbxCommandFailed):
        client(pbx).hangup("made-up-call")
    # Not the paths outside the API (the recording files): the emulator's answer, 404.
    assert requests.get(pbx.base + "/files/nothing").status_code == 404
    pbx.script("*", Response(200, {"result": 1000}, delay=0.6))
    started = time.monotonic()
    with pytest.raises(VpbxUnavailable, match="did not answer in time"):
        VpbxClient(pbx.url, KEY, SALT, timeout=0.2, limiter=MemoryLimitStore()).route("c", "1")
    assert time.monotonic() - started < 0.6
    assert [r.path for r in pbx.requests][-1] == "commands/route"


def test_closed_port_url_is_a_pbx_that_is_down():
    with pytest.raises(VpbxUnavailable, match="cannot be reached"):
        VpbxClient(closed_port_url(), KEY, SALT, timeout=2, limiter=MemoryLimitStore()).balance()


def test_require_signature_refuses_unsigned_requests_even_when_scripted(webhook):
    with PbxDouble(KEY, SALT, webhook.url, require_signature=True) as pbx:
        pbx.script("account/balance", (200, {"result": 1000, "balance": 5}))
        with pytest.raises(VpbxAuthError):
            client(pbx, key="wrong").balance()
        assert float(client(pbx).balance().balance) == 5
    with pytest.raises(ValueError):
        PbxDouble().script("account/balance")


def test_the_webhook_checks_what_it_receives(webhook):
    def post(path, data, content_type="application/x-www-form-urlencoded"):
        return requests.post(f"{webhook.url}/{path}", data=data,
                             headers={"Content-Type": content_type}).status_code

    good = encode({"entry_id": "E", "call_id": "C", "timestamp": 1, "seq": 1,
                   "call_state": "Appeared", "location": "ivr"}, KEY, SALT)
    assert post("events/call", good) == 200
    assert post("events/call", encode({"call_id": "C"}, KEY, "other-salt")) == 400
    assert post("events/call", encode("[1]", KEY, SALT)) == 500
    assert post("ping", {}) == 200
    webhook.status = 503
    assert post("events/call", good) == 503
    assert [p for p, _j in webhook.events()] == ["events/call", "events/call"]
    assert webhook.rejected == ["events/call"] and webhook.pings == 1
    with pytest.raises(AssertionError):
        webhook.wait(lambda: False, timeout=0.05)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_has_its_canonical_sequence(name):
    sent = sequence(name)
    events = [parse_event(path, payload) for path, payload in sent]
    assert sent[0][0].startswith(("events/", "result/"))
    assert fold(events).is_final


@pytest.mark.parametrize("name", sorted(reference.SEQUENCES))
def test_the_reference_sequences_come_with_their_documented_values(name):
    sent = sequence(f"reference:{name}")
    events = [parse_event(path, payload) for path, payload in sent]
    assert events == reference.events(reference.SEQUENCES[name])
    assert fold(events).entry_id == reference.SEQUENCES[name][-1][1]["entry_id"]


def test_a_failing_scenario_says_so():
    with pytest.raises(RuntimeError, match="scenario outgoing failed: .*999"):
        sequence("outgoing", extension="999")
    with pytest.raises(KeyError):
        sequence("reference:nothing")


def test_the_statistics_double_of_the_addon_tests_maps_onto_it(pbx):
    """The addon tests' ``common.stats_pbx``: a report per request, 204 while not ready,
    then its CSV."""
    reports: list[dict] = []

    def report(request: Request) -> tuple:
        reports.append(request.data)
        return 200, {"key": f"key-{len(reports)}"}

    pbx.script("stats/request", report)
    pbx.script("stats/result", (204, ""), (200, "E-1;1;1700000000;1700000060;101\n"))
    rows = client(pbx, sleep=lambda _s: None).stats(
        1700000000, 1700003600, fields="entry_id,records,start,finish,to_extension"
    )
    assert [(r.entry_id, r.to_extension) for r in rows] == [("E-1", "101")]
    assert reports[0]["date_from"] == "1700000000"
    polls = [r for r in pbx.requests if r.path == "stats/result"]
    assert [p.data for p in polls] == [{"key": "key-1"}] * 2 and polls[0].at <= polls[1].at


def test_the_command_double_of_the_addon_tests_maps_onto_it(pbx, webhook):
    """The addon's click-to-call tests: replies per path, something done before replying
    (events posted to the webhook), signed."""
    pbx.script("commands/route", lambda request: (
        webhook.received.append(("before-reply", request.data["command_id"])) or (200, {})
    ))
    command = client(pbx).route("call-1", "102")
    assert webhook.received == [("before-reply", command)]
    assert pbx.calls("commands/route") == [
        {"command_id": command, "call_id": "call-1", "to_number": "102"}
    ]
    assert [r.signed for r in pbx.requests] == [True]
