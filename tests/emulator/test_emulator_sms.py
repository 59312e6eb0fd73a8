"""``commands/sms`` on the emulator: accepted, result/sms, events/sms, and every failure."""

from __future__ import annotations

import json
import time

import pytest
import requests

from mango_vpbx import VpbxLockedOut, VpbxRequestError, encode, parse_event
from mango_vpbx.client import VpbxClient
from mango_vpbx.limits import MemoryLimitStore
from mango_vpbx_emulator.sms import SmsBehaviour
from mango_vpbx_emulator.testing import PbxDouble, Webhook

PATIENT = "79270001122"


@pytest.fixture
def client(emulator):
    return VpbxClient(emulator.url + "/vpbx/", emulator.api_key, emulator.api_salt,
                      limiter=MemoryLimitStore(), max_rate_wait=3)


def of(webhook, path, command_id):
    return [parse_event(p, j) for p, j in webhook.events(path)
            if json.loads(j)["command_id"] == command_id]


def raw(emulator, payload):
    form = encode(payload, emulator.api_key, emulator.api_salt)
    return requests.post(f"{emulator.url}/vpbx/commands/sms", data=form, timeout=5)


def test_sms_is_accepted_then_reported_then_delivered(emulator, webhook, client) -> None:
    command_id = client.sms("101", PATIENT, "Приём завтра в 10:00", sms_sender="CLINIC")
    webhook.wait(lambda: of(webhook, "events/sms", command_id))
    (result,) = of(webhook, "result/sms", command_id)
    (delivery,) = of(webhook, "events/sms", command_id)
    assert (result.result, delivery.reason, delivery.delivered) == (1000, 1000, True)
    (sent,) = requests.get(emulator.url + "/control/sms", timeout=5).json()["sms"]
    assert sent["command_id"] == command_id
    assert (sent["from_extension"], sent["to_number"], sent["text"], sent["sms_sender"]) == (
        "101", PATIENT, "Приём завтра в 10:00", "CLINIC")
    assert (sent["result"], sent["delivery"]) == (1000, 1000)


def test_delivery_failure_per_number(emulator, webhook, client) -> None:
    emulator.configure({"sms": {"numbers": {PATIENT: {"delivery": 4392}}}})
    failed = client.sms("101", PATIENT, "Hello")
    delivered = client.sms("101", "79270003344", "Hello")
    webhook.wait(lambda: of(webhook, "events/sms", failed) and of(webhook, "events/sms",
                                                                  delivered))
    assert of(webhook, "events/sms", failed)[0].reason == 4392
    assert not of(webhook, "events/sms", failed)[0].delivered
    assert of(webhook, "events/sms", delivered)[0].reason == 1000


def test_refused_result_has_no_delivery(emulator, webhook, client) -> None:
    emulator.configure({"sms": {"result": 4300}})
    command_id = client.sms("101", PATIENT, "Hello")
    webhook.wait(lambda: of(webhook, "result/sms", command_id))
    assert of(webhook, "result/sms", command_id)[0].result == 4300
    time.sleep(0.2)  # the delivery would have come by now (3 s at speed 200)
    assert of(webhook, "events/sms", command_id) == []


def test_unknown_sender_or_an_employee_recipient_is_3100(emulator, webhook, client) -> None:
    stranger = client.sms("999", PATIENT, "Hello")
    colleague = client.sms("101", "102", "Hello")
    webhook.wait(lambda: of(webhook, "result/sms", stranger) and of(webhook, "result/sms",
                                                                    colleague))
    assert of(webhook, "result/sms", stranger)[0].result == 3100
    assert of(webhook, "result/sms", colleague)[0].result == 3100


def test_a_delivery_never_reported(emulator, webhook, client) -> None:
    emulator.configure({"sms": {"delivery": None}})
    command_id = client.sms("101", PATIENT, "Hello")
    webhook.wait(lambda: of(webhook, "result/sms", command_id))
    time.sleep(0.2)
    assert of(webhook, "events/sms", command_id) == []


def test_over_the_limit_or_missing_is_refused_at_once_and_counts_for_lockout(emulator) -> None:
    emulator.lockout.seconds = 5
    too_long = {"command_id": "c1", "from_extension": "101", "to_number": PATIENT,
                "text": "ж" * 269}
    answer = raw(emulator, too_long)
    assert (answer.status_code, answer.json()["code"]) == (420, 3100)
    missing = {"command_id": "c2", "from_extension": "101", "to_number": PATIENT}
    assert raw(emulator, missing).status_code == 401  # the second 3xxx locks the account
    fits = dict(too_long, command_id="c3", text="ж" * 268)
    assert raw(emulator, fits).status_code == 401
    emulator.lockout.reset()
    assert raw(emulator, fits).json() == {"result": 1000}


def test_the_client_sees_the_lockout(emulator, client) -> None:
    emulator.lockout.locked_until = time.monotonic() + 60
    with pytest.raises(VpbxLockedOut):
        client.sms("101", PATIENT, "Hello")


def test_sms_settings_are_checked(emulator) -> None:
    with pytest.raises(ValueError):
        emulator.configure({"sms": {"colour": "red"}})
    with pytest.raises(ValueError):
        emulator.configure({"sms": {"result": 12}})
    with pytest.raises(ValueError):
        emulator.configure({"sms": {"numbers": {PATIENT: {"delivery": 1000, "x": 1}}}})
    answer = requests.post(emulator.url + "/control/config",
                           json={"sms": {"delivery": 4391, "delivery_after": 1}}, timeout=5)
    assert answer.json()["sms"]["delivery"] == 4391
    assert emulator.sms.behaviour == SmsBehaviour(delivery=4391, delivery_after=1)


def test_pbx_double_scripts_an_sms_refusal_and_sends_the_real_events() -> None:
    with Webhook("k", "s") as hook, PbxDouble("k", "s", hook.url) as pbx:
        client = VpbxClient(pbx.url, "k", "s", limiter=MemoryLimitStore())
        command_id = client.sms("101", PATIENT, "Hello")
        # Both are posted by their own threads: either may arrive first.
        hook.wait(lambda: hook.events("events/sms") and hook.events("result/sms"))
        assert [json.loads(j)["command_id"] for _p, j in hook.events("result/sms")] == [
            command_id]
        pbx.fail("commands/sms", 3100)
        with pytest.raises(VpbxRequestError):
            client.sms("101", PATIENT, "Hello")
