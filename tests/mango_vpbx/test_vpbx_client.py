"""VpbxClient against the emulator's PBX double on 127.0.0.1, answers scripted per test."""

import json
import multiprocessing
import threading
import time
from decimal import Decimal

import pytest
from vpbx_worker import hangup_in_another_process

from mango_vpbx import (
    VpbxAuthError,
    VpbxBillingError,
    VpbxBusy,
    VpbxClient,
    VpbxCommandFailed,
    VpbxError,
    VpbxLockedOut,
    VpbxNotFound,
    VpbxRateLimited,
    VpbxRequestError,
    VpbxUnavailable,
    verify,
)
from mango_vpbx.limits import MemoryLimitStore, SqliteLimitStore
from mango_vpbx.times import TimeBase
from mango_vpbx_emulator.testing import PbxDouble

OK = (200, {"result": 1000})


class FakeClock:
    def __init__(self, now=1_700_000_000.0):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def pbx():
    with PbxDouble("key", "salt") as double:
        yield double


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(pbx, clock):
    return VpbxClient(pbx.url, "key", "salt", timeout=2, limiter=MemoryLimitStore(clock),
                      sleep=clock.sleep)


def test_callback_sends_a_signed_request(pbx, client):
    pbx.script("commands/callback", OK)
    command_id = client.callback("0511", "79161234567", line_number="74952129298",
                                 from_number="sip:reception@clinic.mangosip.ru")
    [request] = pbx.requests
    assert (request.method, request.path, request.signed) == ("POST", "commands/callback", True)
    assert verify(request.form, "key", "salt")
    assert json.loads(request.form["json"]) == {
        "command_id": command_id, "from": {"extension": "0511",
                                           "number": "sip:reception@clinic.mangosip.ru"},
        "to_number": "79161234567", "line_number": "74952129298"}
    assert len(command_id) == 32
    assert client.callback("101", "79161234567", command_id="mine") == "mine"
    with pytest.raises(ValueError):
        client.callback("", "79161234567")


def test_every_command_payload(pbx, client):
    for path in ("commands/callback_group", "commands/transfer", "commands/transfer_cancel",
                 "commands/calls_connect", "commands/call/hold/on", "commands/route",
                 "commands/call/hangup", "commands/recording/start", "commands/sms"):
        pbx.script(path, (200, ""))
    client.max_rate_wait = 10
    assert client.callback_group("22", "79161234567", "74952129298", command_id="a") == "a"
    client.transfer("c1", "321", "123", method="hold", command_id="b")
    client.transfer_cancel("c1", command_id="c")
    client.calls_connect("h1", "t1", "123", command_id="d")
    client.hold("c1", "123", command_id="e")
    client.route("c1", "123", display_name="Clinic", command_id="f")
    client.hangup("c1", command_id="g")
    client.recording_start("c1", "123", command_id="h")
    client.sms("123", "79161234567", "Hello", sms_sender="CLINIC", command_id="i")
    assert pbx.calls("commands/callback_group") == [
        {"command_id": "a", "from": "22", "to": "79161234567", "line_number": "74952129298"}]
    assert pbx.calls("commands/transfer") == [
        {"command_id": "b", "call_id": "c1", "method": "hold", "to_number": "321",
         "initiator": "123"}]
    assert pbx.calls("commands/transfer_cancel") == [{"command_id": "c", "call_id": "c1"}]
    assert pbx.calls("commands/calls_connect") == [
        {"command_id": "d", "holded_call_id": "h1", "transferred_call_id": "t1",
         "transfer_initiator_number": "123"}]
    assert pbx.calls("commands/call/hold/on") == [
        {"command_id": "e", "call_id": "c1", "initiator": "123"}]
    assert pbx.calls("commands/route") == [
        {"command_id": "f", "call_id": "c1", "to_number": "123",
         "sip_headers": {"From/display-name": "Clinic"}}]
    assert pbx.calls("commands/call/hangup") == [{"command_id": "g", "call_id": "c1"}]
    assert pbx.calls("commands/recording/start") == [
        {"command_id": "h", "call_id": "c1", "call_party_number": "123"}]
    assert pbx.calls("commands/sms") == [
        {"command_id": "i", "text": "Hello", "from_extension": "123",
         "to_number": "79161234567", "sms_sender": "CLINIC"}]
    with pytest.raises(ValueError):
        client.transfer("c1", "321", "123", method="warm")


@pytest.mark.parametrize(("status", "body", "error", "code"), [
    (200, {"result": 2240}, VpbxBillingError, 2240),
    (200, {"result": "4101"}, VpbxNotFound, 4101),
    (200, {"result": 4001}, VpbxCommandFailed, 4001),
    (420, {"code": 4100}, VpbxCommandFailed, 4100),
    (420, {"code": 5003}, VpbxUnavailable, 5003),
    (400, "bad", VpbxRequestError, None),
    (500, "", VpbxUnavailable, None),
    (503, "", VpbxUnavailable, None),
])
def test_command_failures(pbx, client, status, body, error, code):
    pbx.script("commands/call/hangup", (status, body))
    with pytest.raises(error) as caught:
        client.hangup("c1")
    assert type(caught.value) is error
    assert caught.value.code == code and caught.value.http_status == status
    # None of these is a 3xxx: the next request goes to the PBX.
    pbx.script("commands/call/hangup", OK)
    client.hangup("c1")
    assert len(pbx.requests) == 2


@pytest.mark.parametrize(("status", "body", "error"), [
    (420, {"code": 3104}, VpbxRequestError),
    (200, {"result": 3102}, VpbxAuthError),
    (420, {"result": "3310"}, VpbxNotFound),
])
def test_a_3xxx_answer_pauses_requests_for_two_minutes(pbx, client, clock, status, body, error):
    pbx.script("commands/call/hangup", (status, body), OK)
    with pytest.raises(error):
        client.hangup("c1")
    with pytest.raises(VpbxLockedOut) as locked:
        client.hangup("c1")
    assert locked.value.until.timestamp() == clock.now + 120
    assert len(pbx.requests) == 1
    clock.now += 121
    client.hangup("c1")
    assert len(pbx.requests) == 2


def test_http_401_records_a_lockout(pbx, client, clock):
    pbx.script("account/balance", (401, ""), (200, {"result": 1000, "balance": 12.5}))
    with pytest.raises(VpbxLockedOut) as first:
        client.balance()
    assert first.value.http_status == 401 and "locked" in str(first.value)
    with pytest.raises(VpbxLockedOut):
        client.balance()
    assert len(pbx.requests) == 1
    clock.now += 120
    assert client.balance().balance == Decimal("12.5")


def test_http_429_backs_off(pbx, client, clock):
    pbx.script("commands/callback", (429, {"name": "Service Unavailable",
                                           "message": "Rate limit exceeded.", "code": 0,
                                           "status": 429}, {"Retry-After": "3"}), OK)
    with pytest.raises(VpbxRateLimited) as limited:
        client.callback("101", "79161234567")
    assert limited.value.retry_after == 3 and limited.value.http_status == 429
    with pytest.raises(VpbxRateLimited) as local:
        client.callback("101", "79161234567")
    assert local.value.retry_after == pytest.approx(3)
    assert len(pbx.requests) == 1
    clock.now += 3
    client.callback("101", "79161234567")


def test_http_429_within_the_wait_is_sent_again_once(pbx, client, clock):
    """The PBX measures its limits between arrivals, the client between sends: a request
    the local slots let go may still come back 429. The PBX did nothing with it; a wait
    the client would take (max_rate_wait) is taken, and the request sent again, once."""
    limited = (429, {"name": "Service Unavailable", "message": "Rate limit exceeded.",
                     "code": 0, "status": 429}, {"Retry-After": "1"})
    pbx.script("commands/transfer", limited, OK, limited, limited)
    client.transfer("c1", "102", "101", method="hold", command_id="t1")
    # The PBX's second, then the rest of the client's own slot (one transfer per 2 s).
    assert clock.slept == [1, pytest.approx(1)]
    first, second = pbx.calls("commands/transfer")
    assert first == second and first["command_id"] == "t1"
    # Refused twice in a row: the caller hears of it, and nothing more is sent.
    clock.now += 2
    with pytest.raises(VpbxRateLimited) as again:
        client.transfer("c1", "102", "101", method="hold", command_id="t2")
    assert again.value.http_status == 429
    assert len(pbx.calls("commands/transfer")) == 4


def test_local_rate_limits(pbx, client, clock):
    pbx.script("commands/route", OK)
    client.max_rate_wait = 0.5
    client.route("c1", "101")
    with pytest.raises(VpbxRateLimited) as limited:
        client.route("c1", "102")
    assert limited.value.retry_after == pytest.approx(2) and limited.value.code is None
    client.max_rate_wait = 2
    client.route("c1", "102")
    assert clock.slept == [pytest.approx(2)]
    assert len(pbx.requests) == 2


def test_timeout(pbx, clock):
    pbx.script("commands/call/hangup", (200, {"result": 1000}, {}, 1.0))
    slow = VpbxClient(pbx.url, "key", "salt", timeout=0.2, limiter=MemoryLimitStore(clock))
    with pytest.raises(VpbxUnavailable, match="did not answer in time"):
        slow.hangup("c1")


def test_unreachable(clock):
    client = VpbxClient("http://127.0.0.1:9/", "key", "salt", timeout=1,
                        limiter=MemoryLimitStore(clock))
    with pytest.raises(VpbxUnavailable, match="cannot be reached"):
        client.hangup("c1")


def test_recording_link_and_download(pbx, client):
    pbx.script("queries/recording/post", (302, "", {"Location": "{url}files/one-shot"}))
    pbx.script("files/one-shot", (200, b"ID3mp3bytes", {"Content-Type": "audio/mpeg"}))
    link = client.recording_link("rec:1", "play")
    assert link == pbx.url + "files/one-shot"
    assert pbx.calls("queries/recording/post") == [{"recording_id": "rec:1", "action": "play"}]
    recording = client.download_recording("rec:1")
    assert recording.content == b"ID3mp3bytes" and recording.content_type == "audio/mpeg"
    assert [r.method for r in pbx.requests if r.path == "files/one-shot"] == ["GET"]
    with pytest.raises(ValueError):
        client.recording_link("rec:1", "stream")


def test_recording_errors(pbx, client):
    pbx.script("queries/recording/post", (302, "", {"Location": "{url}files/gone"}))
    pbx.script("files/gone", (410, ""))
    with pytest.raises(VpbxNotFound, match="expired"):
        client.download_recording("rec:1")
    pbx.script("files/gone", (502, ""))
    with pytest.raises(VpbxUnavailable):
        client.download_recording("rec:1")
    pbx.script("queries/recording/post", (404, ""))
    with pytest.raises(VpbxNotFound):
        client.recording_link("rec:2")
    pbx.script("queries/recording/post", (200, ""))
    with pytest.raises(VpbxError, match="did not give a link"):
        client.recording_link("rec:3")


def test_download_timeout(pbx, clock):
    pbx.script("queries/recording/post", (302, "", {"Location": "{url}files/slow"}))
    pbx.script("files/slow", (200, b"x", {}, 1.0))
    client = VpbxClient(pbx.url, "key", "salt", timeout=0.2, limiter=MemoryLimitStore(clock))
    with pytest.raises(VpbxUnavailable, match="recording server"):
        client.download_recording("rec:1")


def test_download_unreachable(pbx, client):
    pbx.script("queries/recording/post", (302, "", {"Location": "http://127.0.0.1:9/x"}))
    with pytest.raises(VpbxUnavailable, match="cannot be reached"):
        client.download_recording("rec:1")


CSV = ("[rec1,rec2];1700000000;1700000060;1700000010;;79161234567;101;sip:a@x.mangosip.ru;"
       "1110;74952129298;abonent\n")


def test_stats_polls_until_ready(pbx, client, clock):
    pbx.script("stats/request", (200, {"key": "k1"}))
    pbx.script("stats/result", (204, ""), (204, ""), (200, CSV, {"Content-Type": "text/csv"}))
    rows = client.stats(1700000000, 1700086400, call_party={"extension": "101"})
    assert [row.records for row in rows] == [("rec1", "rec2")]
    assert rows[0].to_extension == "101" and rows[0].disconnect_reason == 1110
    [request] = pbx.calls("stats/request")
    assert request == {"date_from": "1700000000", "date_to": "1700086400",
                       "fields": "records, start, finish, answer, from_extension, from_number, "
                                 "to_extension, to_number, disconnect_reason, line_number, "
                                 "location",
                       "call_party": {"extension": "101"}}
    assert pbx.calls("stats/result") == [{"key": "k1"}] * 3
    assert clock.slept == [5.0, 5.0]


def test_stats_split_in_months_and_time_base(pbx, clock):
    client = VpbxClient(pbx.url, "key", "salt", limiter=MemoryLimitStore(clock),
                        sleep=clock.sleep, time_base=TimeBase.MSK, max_rate_wait=5)
    pbx.script("stats/request", (200, {"key": "k"}))
    pbx.script("stats/result", (200, "1;1700000000\n"))
    rows = client.stats(1700000000, 1700000000 + 61 * 86400, fields=["records", "start"],
                        from_={"number": "79161234567"}, to={"extension": "101"})
    requests = pbx.calls("stats/request")
    assert len(requests) == 3 and len(rows) == 3
    assert requests[0]["date_from"] == str(1700000000 + 3 * 3600)
    assert requests[0]["fields"] == "records, start"
    assert requests[0]["from"] == {"number": "79161234567"} and requests[0]["to"] == {
        "extension": "101"}
    assert rows[0].start.timestamp() == 1700000000 - 3 * 3600


def test_stats_expired_key_and_not_ready(pbx, client):
    pbx.script("stats/result", (404, ""))
    with pytest.raises(VpbxNotFound, match="expired"):
        client.stats_result("old")
    pbx.script("stats/result", (204, ""))
    with pytest.raises(VpbxUnavailable, match="not ready"):
        client.stats_result("slow", poll_interval=5, max_wait=10)
    assert len(pbx.calls("stats/result")) == 1 + 3
    pbx.script("stats/request", (200, {"result": 1000}))
    with pytest.raises(VpbxError, match="did not return a statistics key"):
        client.stats_request(1700000000, 1700000100, request_id="r1")


USERS = {"users": [
    {"general": {"name": "Ivan", "email": "john@mango-office.com", "department": "IT",
                 "position": "lead developer", "user_id": 300052407, "mobile": "79161234567",
                 "login": "ivan", "sips": [{"number": "sip:ivan@apidomain.mangosip.ru"}]},
     "telephony": {"extension": "0511", "outgoingline": "749512345678", "numbers": [
         {"number": "74952223311", "order": 1, "protocol": "tel", "wait_sec": 5,
          "status": "off", "number_normalized": "74952223311"},
         {"number": "sip:ivan@apidomain.mangosip.ru", "protocol": "sip", "order": "0",
          "wait_sec": "12", "status": "on"}]},
     "groups": [10048964]},
    {"general": {"name": "Pavel"}, "telephony": {}},
]}


def test_users(pbx, client):
    pbx.script("config/users/request", (200, USERS))
    ivan, pavel = client.users(extension="0511")
    assert pbx.calls("config/users/request") == [{
        "extension": "0511",
        "ext_fields": ["general.user_id", "general.sips", "general.mobile", "general.login",
                       "groups"]}]
    assert (ivan.name, ivan.email, ivan.extension, ivan.user_id) == (
        "Ivan", "john@mango-office.com", "0511", 300052407)
    assert ivan.mobile == "79161234567" and ivan.login == "ivan"
    assert ivan.outgoing_line == "749512345678" and ivan.groups == (10048964,)
    assert [n.number for n in ivan.numbers] == ["sip:ivan@apidomain.mangosip.ru", "74952223311"]
    assert ivan.numbers[0].active and not ivan.numbers[1].active
    assert ivan.numbers[0].wait_sec == 12 and ivan.numbers[1].number_normalized == "74952223311"
    assert ivan.sips == ("sip:ivan@apidomain.mangosip.ru",)
    assert pavel.extension is None and pavel.numbers == ()


def test_lines_and_balance(pbx, client):
    pbx.script("incominglines", (200, {"result": 1000, "lines": [
        {"line_id": 1, "number": "74952129298", "name": "Reception", "comment": "",
         "region": "77", "schema_id": 5, "schema_name": "Day"}]}))
    pbx.script("account/balance", (200, {"result": 1000, "balance": 963592.45, "currency": "RUB",
                                         "response_at": "2019-01-24 17:55:24"}))
    [line] = client.lines()
    assert (line.line_id, line.number, line.name, line.comment) == (
        1, "74952129298", "Reception", None)
    balance = client.balance()
    assert balance.balance == Decimal("963592.45") and balance.currency == "RUB"
    pbx.script("account/balance", (200, {"result": 1000}))
    with pytest.raises(VpbxError, match="no balance"):
        client.balance()
    pbx.script("account/balance", (200, "not json"))
    with pytest.raises(VpbxError, match="not a JSON object"):
        client.balance()


def test_client_needs_credentials():
    with pytest.raises(ValueError):
        VpbxClient("http://127.0.0.1:9", "", "salt")


def test_lockout_is_shared_by_two_processes(pbx, tmp_path):
    store_path = str(tmp_path / "limits.sqlite")
    pbx.script("commands/call/hangup", (420, {"code": 3104}), OK)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=hangup_in_another_process,
                              args=(pbx.url, store_path, queue))
    process.start()
    process.join(30)
    assert queue.get(timeout=5) == "VpbxRequestError"
    here = VpbxClient(pbx.url, "key", "salt", limiter=SqliteLimitStore(store_path))
    with pytest.raises(VpbxLockedOut):
        here.hangup("call-2")
    assert [r.path for r in pbx.requests] == ["commands/call/hangup"]
    other_account = VpbxClient(pbx.url, "other-key", "salt", limiter=SqliteLimitStore(store_path))
    other_account.hangup("call-3")


# --- one request at a time per account ------------------------------------------------


def _stores(kind, tmp_path):
    """Two "workers'" stores of one account: one shared object, or two on one file."""
    if kind == "memory":
        store = MemoryLimitStore()
        return store, store
    path = str(tmp_path / "limits.sqlite")
    return SqliteLimitStore(path), SqliteLimitStore(path)


def _at_once(*jobs):
    """Run the jobs in threads released together; each one's exception or result."""
    barrier = threading.Barrier(len(jobs))
    outcomes = [None] * len(jobs)

    def run(index, job):
        barrier.wait()
        try:
            outcomes[index] = job()
        except VpbxError as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_two_first_requests_at_once_cannot_both_get_a_3xxx(pbx, tmp_path, kind):
    """Before any answer, two workers send at the same moment; the PBX answers 3104 slowly.

    Without one request at a time both would be on their way before the first 3xxx
    came back, and the second 3xxx within two minutes locks the account.
    """
    pbx.script("commands/call/hangup", (420, {"code": 3104}, {}, 0.5))
    first, second = (VpbxClient(pbx.url, "key", "salt", timeout=5, limiter=store)
                     for store in _stores(kind, tmp_path))
    outcomes = _at_once(lambda: first.hangup("c1"), lambda: second.hangup("c2"))
    assert len(pbx.requests) == 1, "two requests reached the PBX within the 3xxx window"
    assert sorted(type(o).__name__ for o in outcomes) == ["VpbxLockedOut", "VpbxRequestError"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_request_waits_its_turn_then_goes(pbx, tmp_path, kind):
    pbx.script("commands/call/hangup", (200, {"result": 1000}, {}, 0.3))
    first, second = (VpbxClient(pbx.url, "key", "salt", timeout=5, limiter=store)
                     for store in _stores(kind, tmp_path))
    started = time.monotonic()
    outcomes = _at_once(lambda: first.hangup("c1"), lambda: second.hangup("c2"))
    assert all(isinstance(o, str) for o in outcomes), outcomes
    assert len(pbx.requests) == 2
    assert time.monotonic() - started >= 0.6, "the second was sent after the first's answer"


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_request_that_cannot_get_its_turn_is_not_sent(pbx, tmp_path, kind):
    pbx.script("commands/call/hangup", (200, {"result": 1000}, {}, 1.5))
    slow_store, other_store = _stores(kind, tmp_path)
    slow = VpbxClient(pbx.url, "key", "salt", timeout=5, limiter=slow_store)
    hasty = VpbxClient(pbx.url, "key", "salt", timeout=5, limiter=other_store,
                       max_busy_wait=0.3)
    elsewhere = VpbxClient(pbx.url, "other-key", "salt", timeout=5, limiter=other_store,
                           max_busy_wait=0.3)

    def late(client):
        time.sleep(0.2)
        started = time.monotonic()
        try:
            client.hangup("c2")
        finally:
            late.seconds[client.api_key] = time.monotonic() - started

    late.seconds = {}
    outcomes = _at_once(lambda: slow.hangup("c1"), lambda: late(hasty), lambda: late(elsewhere))
    assert isinstance(outcomes[1], VpbxBusy) and "still waiting" in str(outcomes[1])
    assert late.seconds["key"] < 0.3 + 0.5, "gave up after max_busy_wait"
    assert outcomes[2] is None, "another account has its own turn"
    assert len(pbx.requests) == 2


def test_sqlite_forgets_a_holder_that_died(pbx, tmp_path):
    clock = FakeClock()
    path = str(tmp_path / "limits.sqlite")
    dead = SqliteLimitStore(path, clock)
    held = dead.exclusive("acct:in-flight", wait=0, hold=15)
    held.__enter__()  # and never leaves: the process died
    alive = SqliteLimitStore(path, clock)
    with pytest.raises(TimeoutError):
        with alive.exclusive("acct:in-flight", wait=0.1, hold=15):
            pass
    clock.now += 16
    with alive.exclusive("acct:in-flight", wait=0.1, hold=15):
        pass
    assert held  # kept alive until here: collecting it would leave the block
