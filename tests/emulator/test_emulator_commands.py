"""Every command and query round-trips through the real HTTP server with real signatures."""

from __future__ import annotations

import json
import time

import pytest
import requests

from mango_vpbx import VpbxNotFound, encode, fold, parse_event
from mango_vpbx.client import VpbxClient
from mango_vpbx.limits import MemoryLimitStore
from mango_vpbx_emulator.scenarios import run_scenario
from mango_vpbx_emulator.state import sine_wav


@pytest.fixture
def client(emulator):
    return VpbxClient(
        emulator.url + "/vpbx/",
        emulator.api_key,
        emulator.api_salt,
        limiter=MemoryLimitStore(),
        max_rate_wait=3,
    )


def results(webhook, path, command_id):
    return [
        json.loads(j)["result"]
        for p, j in webhook.events(path)
        if json.loads(j)["command_id"] == command_id
    ]


def call_of(webhook, entry_id):
    events = [parse_event(p, j) for p, j in webhook.events() if not p.startswith("result/")]
    return fold(e for e in events if getattr(e, "entry_id", None) == entry_id)


def summary_of(webhook, entry_id):
    return [
        json.loads(j)
        for p, j in webhook.events("events/summary")
        if json.loads(j)["entry_id"] == entry_id
    ]


def talking_call(emulator, **params):
    """An answered incoming call that stays connected until someone acts."""
    run = run_scenario(
        emulator.pbx,
        "incoming_answered",
        {"speed": 500, "ring_seconds": 1, "talk_seconds": None, **params},
        background=True,
    )
    emulator.pbx.wait_for(
        lambda: any(
            lg.state == "Connected" for lg in emulator.pbx.calls[run.entry_id].legs.values()
        ),
        5,
    )
    leg = next(
        lg for lg in emulator.pbx.calls[run.entry_id].legs.values() if lg.state == "Connected"
    )
    return run, leg


def raw(emulator, path, payload, key=None, salt=None):
    form = encode(payload, key or emulator.api_key, salt or emulator.api_salt)
    return requests.post(f"{emulator.url}/vpbx/{path}", data=form, timeout=5, allow_redirects=False)


def test_callback_rings_the_operator_then_the_target(emulator, webhook, client) -> None:
    command_id = client.callback("101", "79270001122")
    webhook.wait(lambda: results(webhook, "result/callback", command_id))
    assert results(webhook, "result/callback", command_id) == [1000]
    entry_id = next(
        c.entry_id
        for c in emulator.pbx.history + list(emulator.pbx.calls.values())
        if c.command_id == command_id
    )
    webhook.wait(lambda: summary_of(webhook, entry_id))
    call = call_of(webhook, entry_id)
    assert call.is_callback and call.command_id == command_id and call.result == "answered"
    assert call.operator_extension == "101" and call.external_number == "79270001122"


def test_callback_unknown_employee_is_reported_in_the_result(emulator, webhook, client) -> None:
    command_id = client.callback("999", "79270001122")
    webhook.wait(lambda: results(webhook, "result/callback", command_id))
    assert results(webhook, "result/callback", command_id) == [3330]


def test_hangup(emulator, webhook, client) -> None:
    run, leg = talking_call(emulator)
    command_id = client.hangup(leg.call_id)
    webhook.wait(
        lambda: summary_of(webhook, run.entry_id)
        and results(webhook, "result/call/hangup", command_id)
    )
    assert results(webhook, "result/call/hangup", command_id) == [1000]
    assert summary_of(webhook, run.entry_id)[0]["disconnect_reason"] == 1181
    # the call is over now: hanging it up again is 4101 in the result
    again = client.hangup(leg.call_id)
    webhook.wait(lambda: results(webhook, "result/call/hangup", again))
    assert results(webhook, "result/call/hangup", again) == [4101]


def test_blind_transfer_command(emulator, webhook, client) -> None:
    run, leg = talking_call(emulator)
    command_id = client.transfer(leg.call_id, "103", "101", method="blind")
    webhook.wait(
        lambda: summary_of(webhook, run.entry_id)
        and results(webhook, "result/transfer", command_id)
    )
    assert results(webhook, "result/transfer", command_id) == [1000]
    call = call_of(webhook, run.entry_id)
    assert [(t.from_extension, t.to_extension, t.kind) for t in call.transfers] == [
        ("101", "103", "blind")
    ]
    assert "103" in call.rang_extensions


def test_consultative_transfer_then_calls_connect(emulator, webhook, client) -> None:
    emulator.configure({"autopilot": {"enabled": False}})
    run, leg = talking_call(emulator)
    client.transfer(leg.call_id, "102", "101", method="hold")
    emulator.pbx.wait_for(lambda: leg.call_id in {h for h, _ in emulator.pbx.consults.values()}, 5)
    consult_id = next(c for c, (h, _i) in emulator.pbx.consults.items() if h == leg.call_id)
    emulator.pbx.answer(consult_id)
    command_id = client.calls_connect(leg.call_id, consult_id, "101")
    webhook.wait(lambda: results(webhook, "result/calls_connect", command_id))
    assert results(webhook, "result/calls_connect", command_id) == [1000]
    emulator.pbx.hangup(consult_id, "from")
    webhook.wait(lambda: summary_of(webhook, run.entry_id))
    call = call_of(webhook, run.entry_id)
    assert [(t.to_extension, t.kind) for t in call.transfers] == [("102", "consultative")]


def test_transfer_cancel_brings_the_caller_back(emulator, webhook, client) -> None:
    emulator.configure({"autopilot": {"enabled": False}})
    run, leg = talking_call(emulator)
    client.transfer(leg.call_id, "102", "101", method="hold")
    emulator.pbx.wait_for(lambda: bool(emulator.pbx.consults), 5)
    command_id = client.transfer_cancel(leg.call_id)
    webhook.wait(lambda: results(webhook, "result/transfer_cancel", command_id))
    assert results(webhook, "result/transfer_cancel", command_id) == [1000]
    assert emulator.pbx.wait_for(lambda: leg.state == "Connected", 5)
    emulator.pbx.caller_hangup(run.entry_id)


def test_route_out_of_the_voice_menu(emulator, webhook, client) -> None:
    run = run_scenario(
        emulator.pbx, "missed_ivr", {"speed": 500, "ivr_seconds": None}, background=True
    )
    ivr = next(iter(emulator.pbx.calls[run.entry_id].legs.values()))
    command_id = client.route(ivr.call_id, "103")
    webhook.wait(
        lambda: summary_of(webhook, run.entry_id) and results(webhook, "result/route", command_id)
    )
    assert results(webhook, "result/route", command_id) == [1000]
    call = call_of(webhook, run.entry_id)
    assert call.answered_extension == "103" and call.result == "answered"


def test_recording_start_and_download_once(emulator, webhook, client) -> None:
    emulator.configure({"autopilot": {"enabled": False}})
    emulator.pbx.record_calls = False
    run, leg = talking_call(emulator)
    command_id = client.recording_start(leg.call_id, "101")
    webhook.wait(lambda: results(webhook, "result/recording/start", command_id))
    assert results(webhook, "result/recording/start", command_id) == [1000]
    started = [json.loads(j) for p, j in webhook.events("events/recording")]
    assert started[0]["command_id"] == command_id and started[0]["recording_state"] == "Started"
    time.sleep(0.05)  # a few emulated seconds: long enough to be kept
    emulator.pbx.caller_hangup(run.entry_id)
    webhook.wait(lambda: webhook.events("events/record/added"))
    recording_id = started[0]["recording_id"]
    link = client.recording_link(recording_id)
    assert "/files/" in link
    first = requests.get(link, timeout=5)
    assert first.status_code == 200 and first.headers["Content-Type"] == "audio/wav"
    assert first.content[:4] == b"RIFF" and first.content[8:12] == b"WAVE"
    assert requests.get(link, timeout=5).status_code == 404  # one-shot
    assert client.download_recording(recording_id).content.startswith(b"RIFF")
    with pytest.raises(VpbxNotFound):
        client.recording_link("no-such-recording")


def test_recording_start_for_a_stranger_is_3330(emulator, webhook, client) -> None:
    run, leg = talking_call(emulator)
    command_id = client.recording_start(leg.call_id, "103")
    webhook.wait(lambda: results(webhook, "result/recording/start", command_id))
    assert results(webhook, "result/recording/start", command_id) == [3330]
    emulator.pbx.caller_hangup(run.entry_id)


def test_stats_report_from_the_calls_it_has_seen(emulator, webhook, client) -> None:
    runs = [
        run_scenario(emulator.pbx, name, {"speed": 1000})
        for name in ("incoming_answered", "missed_ivr")
    ]
    emulator.stats_not_ready_polls = 1
    now = int(time.time())
    rows = client.stats(
        now - 3600,
        now + 3600,
        fields=[
            "entry_id",
            "start",
            "finish",
            "answer",
            "from_number",
            "to_extension",
            "disconnect_reason",
        ],
        poll_interval=0.01,
        max_wait=2,
    )
    by_entry = {r.entry_id: r for r in rows}
    answered, missed = (by_entry[r.entry_id] for r in runs)
    assert (
        answered.answered
        and answered.to_extension == "101"
        and answered.from_number == "79177654321"
    )
    assert not missed.answered and missed.disconnect_reason == 1110
    webhook.wait(lambda: webhook.events("result/stat"))
    # default fields of the reference, `;` separated, first poll not ready
    time.sleep(2.05)  # stats/request is limited to one per two seconds
    key = raw(
        emulator, "stats/request", {"date_from": str(now - 3600), "date_to": str(now + 3600)}
    ).json()["key"]
    assert raw(emulator, "stats/result", {"key": key}).status_code == 204
    ready = raw(emulator, "stats/result", {"key": key})
    assert ready.status_code == 200
    assert all(len(line.split(";")) == 11 for line in ready.text.splitlines())
    assert raw(emulator, "stats/result", {"key": "unknown"}).status_code == 404


def test_users_lines_balance(emulator, client) -> None:
    users = {u.extension: u for u in client.users()}
    assert set(users) == {"101", "102", "103"}
    anna = users["101"]
    assert anna.user_id == 300050001 and anna.email == "anna@clinic.example"
    assert anna.sips == ("sip:user101@medpulse.mangosip.ru",) and anna.mobile == "79174010101"
    time.sleep(2.05)  # config/users/request: one per two seconds
    assert [u.extension for u in client.users(extension="102")] == ["102"]
    assert [ln.number for ln in client.lines()] == ["73472251010", "73472251020"]
    balance = client.balance()
    assert balance.currency == "RUB" and balance.balance > 0


def test_bad_signature_and_wrong_key(emulator) -> None:
    resp = raw(emulator, "account/balance", {}, salt="wrong")
    assert resp.status_code == 420 and resp.json()["code"] == 3102
    emulator.lockout.reset()
    resp = raw(emulator, "account/balance", {}, key="other")
    assert resp.status_code == 420 and resp.json()["code"] == 3105
    emulator.lockout.reset()
    assert requests.get(f"{emulator.url}/vpbx/account/balance", timeout=5).json()["code"] == 3101


def test_unknown_call_is_3310(emulator) -> None:
    resp = raw(
        emulator,
        "commands/transfer",
        {
            "command_id": "c1",
            "call_id": "nope",
            "to_number": "102",
            "method": "blind",
            "initiator": "101",
        },
    )
    assert resp.status_code == 420 and resp.json()["code"] == 3310


def test_missing_parameter_is_3103(emulator) -> None:
    resp = raw(emulator, "commands/callback", {"command_id": "c1", "to_number": "79270001122"})
    assert resp.status_code == 420 and resp.json()["code"] == 3103


def test_rate_limit_answers_429(emulator) -> None:
    statuses = [raw(emulator, "account/balance", {}).status_code for _ in range(3)]
    assert statuses[:2] == [200, 200] and statuses[2] == 429
    assert raw(emulator, "account/balance", {}).json() == {
        "name": "Service Unavailable",
        "message": "Rate limit exceeded.",
        "code": 0,
        "status": 429,
    }


def test_second_invalid_request_locks_the_account(emulator) -> None:
    emulator.lockout.seconds = 0.5
    assert raw(emulator, "incominglines", {}, salt="bad").status_code == 420
    assert raw(emulator, "incominglines", {}, salt="bad").status_code == 401
    assert (
        raw(emulator, "incominglines", {}).status_code == 401
    )  # even valid requests, while locked
    time.sleep(0.6)
    assert raw(emulator, "incominglines", {}).status_code == 200


def test_control_api_drives_calls(emulator, webhook) -> None:
    base = emulator.url + "/control/"
    emulator.configure({"autopilot": {"enabled": False}})
    run = requests.post(
        base + "scenario",
        json={
            "name": "incoming_answered",
            "params": {
                "extension": "102",
                "ring_seconds": None,
                "talk_seconds": None,
                "ivr_seconds": 0,
            },
        },
        timeout=5,
    ).json()
    assert emulator.pbx.wait_for(
        lambda: any(
            lg.state == "Appeared" and lg.extension == "102"
            for lg in emulator.pbx.calls[run["entry_id"]].legs.values()
        ),
        5,
    )
    active = requests.get(base + "calls", timeout=5).json()["active"]
    assert [c["entry_id"] for c in active] == [run["entry_id"]]
    assert requests.post(base + "answer", json={"extension": "102"}, timeout=5).status_code == 200
    moved = requests.post(
        base + "transfer", json={"extension": "102", "to": "103", "method": "blind"}, timeout=5
    )
    assert moved.status_code == 200
    assert requests.post(base + "answer", json={"extension": "103"}, timeout=5).status_code == 200
    assert requests.post(base + "hangup", json={"extension": "103"}, timeout=5).status_code == 200
    webhook.wait(lambda: summary_of(webhook, run["entry_id"]))
    sent = requests.get(base + "events", timeout=5).json()["events"]
    assert {e["outcome"] for e in sent} == {"delivered"}
    assert requests.post(base + "answer", json={"extension": "101"}, timeout=5).status_code == 409
    assert requests.post(base + "scenario", json={"name": "nope"}, timeout=5).status_code == 400
    assert "Mango VPBX emulator" in requests.get(emulator.url + "/", timeout=5).text


def test_control_api_is_loopback_only(emulator) -> None:
    assert emulator.control_allowed("127.0.0.1") and emulator.control_allowed("::1")
    assert not emulator.control_allowed("10.1.2.3")


def test_sine_wav_is_a_valid_wav() -> None:
    import io
    import wave

    with wave.open(io.BytesIO(sine_wav(1)), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (1, 8000, 8000)


def test_control_api_reports_the_requests_received(emulator, webhook, client) -> None:
    """``GET /control/requests``: each PBX API request as received, its signature checked."""
    base = emulator.url + "/control/requests"
    run, leg = talking_call(emulator)
    command_id = client.transfer(leg.call_id, "103", "101", method="blind")
    webhook.wait(lambda: results(webhook, "result/transfer", command_id))
    assert raw(emulator, "commands/route", {"command_id": "c2", "call_id": leg.call_id,
                                            "to_number": "102"}, salt="wrong").status_code == 420
    emulator.lockout.reset()

    received = requests.get(base, timeout=5).json()["requests"]
    transfer, forged = received[-2:]
    assert transfer["path"] == "commands/transfer" and transfer["signed"] is True
    assert transfer["data"] == {
        "command_id": command_id,
        "call_id": leg.call_id,
        "method": "blind",
        "to_number": "103",
        "initiator": "101",
    }
    assert (transfer["status"], transfer["code"], transfer["result"]) == (200, 1000, 1000)
    assert forged["path"] == "commands/route" and forged["signed"] is False
    assert (forged["status"], forged["code"], forged["result"]) == (420, 3102, None)
    assert forged["data"]["to_number"] == "102"  # what was asked, though refused

    only = requests.get(base, params={"path": "commands/transfer"}, timeout=5).json()["requests"]
    assert [r["seq"] for r in only] == [transfer["seq"]]
    later = requests.get(base, params={"since": transfer["seq"]}, timeout=5).json()["requests"]
    assert [r["seq"] for r in later] == [forged["seq"]]
    assert requests.post(base, json={}, timeout=5).status_code == 404  # read-only


def test_a_slow_api_answers_after_the_client_gave_up(emulator, client) -> None:
    """``api_delay``: the PBX thinks longer than the client waits, then answers anyway."""
    from mango_vpbx import VpbxUnavailable
    from mango_vpbx_emulator.faults import FaultConfig

    emulator.faults.configure(FaultConfig.from_json({"api_delay": 1.0}))
    client.timeout = 0.3
    started = time.monotonic()
    with pytest.raises(VpbxUnavailable, match="did not answer in time"):
        client.balance()
    assert time.monotonic() - started < 0.3 + 0.5
    time.sleep(1.0)  # the late answer meets a closed connection: no harm done
    [received] = emulator.received_log({"path": "account/balance"})
    assert received["status"] == 200, "the PBX did what it was asked, late"
    emulator.faults.configure(FaultConfig())
    assert client.balance().balance > 0
    with pytest.raises(ValueError, match="api_delay"):
        FaultConfig.from_json({"api_delay": -1})


def test_consultation_is_the_initiators_and_the_handed_over_caller_stays(
    emulator, webhook, client
) -> None:
    """The simulated colleague answers a consultation and waits: completing it is the
    initiator's (Odoo's "Complete transfer"). Once the caller is handed over the colleague
    talks; the call is not dropped a moment later, and in the end the caller hangs up."""
    emulator.configure({"autopilot": {"answer_after": 2, "talk": 60}})  # x200: 10 ms, 0.3 s
    run, leg = talking_call(emulator)
    client.transfer(leg.call_id, "102", "101", method="hold")
    pbx = emulator.pbx

    def consult_leg():
        held_by = {held: c for c, (held, _i) in pbx.consults.items()}
        return pbx.legs[held_by[leg.call_id]][1] if leg.call_id in held_by else None

    assert pbx.wait_for(lambda: consult_leg() is not None and consult_leg().state == "Connected", 5)
    consult = consult_leg()
    time.sleep(0.1)  # 20 emulated seconds: nobody completes the consultation on its own
    assert (leg.state, consult.state) == ("OnHold", "Connected")
    command_id = client.calls_connect(leg.call_id, consult.call_id, "101")
    webhook.wait(lambda: results(webhook, "result/calls_connect", command_id))
    assert results(webhook, "result/calls_connect", command_id) == [1000]
    time.sleep(0.1)  # 20 emulated seconds after the hand-over
    assert consult.state == "Connected" and consult.from_.get("number") == "79177654321"
    webhook.wait(lambda: summary_of(webhook, run.entry_id), timeout=5)
    assert consult.disconnect_reason == 1110, "the caller hung up, not the colleague"
    assert fold_of(webhook, run.entry_id).talk_seconds >= 60


def fold_of(webhook, entry_id):
    return call_of(webhook, entry_id)


@pytest.mark.parametrize(
    ("colleague", "reason"), [("decline", 1122), ("no_answer", 1111), ("manual", None)]
)
def test_the_colleague_does_what_the_console_chose(
    emulator, webhook, client, colleague, reason
) -> None:
    """Declined (1122) or not answered (1111, after max_ring): the held caller is back with
    the operator. "manual": the colleague's phone rings until someone acts."""
    emulator.configure(
        {"autopilot": {"colleague": colleague, "answer_after": 2, "max_ring": 10}}
    )
    run, leg = talking_call(emulator)
    client.transfer(leg.call_id, "102", "101", method="hold")
    pbx = emulator.pbx
    assert pbx.wait_for(lambda: bool(pbx.consults), 5)
    consult = pbx.legs[next(iter(pbx.consults))][1]
    if reason is None:
        time.sleep(0.2)  # 40 emulated seconds: longer than max_ring
        assert (consult.state, leg.state) == ("Appeared", "OnHold")
        pbx.answer(consult.call_id)
        assert consult.state == "Connected"
    else:
        assert pbx.wait_for(lambda: not consult.live, 5)
        assert consult.disconnect_reason == reason
        assert pbx.wait_for(lambda: leg.state == "Connected", 5), "the caller is back"
    pbx.caller_hangup(run.entry_id)


def test_an_unknown_colleague_mode_is_refused(emulator) -> None:
    with pytest.raises(ValueError, match="colleague must be one of"):
        emulator.configure({"autopilot": {"colleague": "sometimes"}})
    assert emulator.pbx.autopilot.colleague == "answer"


def test_multipart_requests_are_read_like_urlencoded_ones(emulator, webhook) -> None:
    """Some client libraries send the three fields as multipart/form-data: the same
    answers as urlencoded, and no 3103 counted towards the lockout."""
    for n in range(3):
        form = encode({"command_id": f"mp-{n}", "from": {"extension": "101"},
                       "to_number": "79270001122"}, emulator.api_key, emulator.api_salt)
        resp = requests.post(
            f"{emulator.url}/vpbx/commands/callback",
            files={name: (None, value.encode()) for name, value in form.items()},
            timeout=5,
        )
        assert resp.headers["Content-Type"] == "application/json"
        assert (resp.status_code, resp.json()) == (200, {"result": 1000}), resp.text
        assert "multipart/form-data; boundary=" in resp.request.headers["Content-Type"]
    assert not emulator.lockout.locked()
    received = emulator.received_log({"path": "commands/callback"})
    assert [(r["signed"], r["code"]) for r in received] == [(True, 1000)] * 3
    assert received[0]["data"]["to_number"] == "79270001122"
    # Still a real check: a multipart body without the signature is refused as before.
    bad = requests.post(
        f"{emulator.url}/vpbx/account/balance",
        files={"vpbx_api_key": (None, emulator.api_key), "json": (None, "{}")}, timeout=5,
    )
    assert (bad.status_code, bad.json()["code"]) == (420, 3103)
