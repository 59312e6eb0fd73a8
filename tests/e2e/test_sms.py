"""SMS end to end: a receptionist sends an SMS through the "Send SMS" dialog (over RPC, as
the web client does) to a demo patient; Odoo sends ``commands/sms``, signed with the
account's keys, to the PBX emulator, which answers, then posts ``result/sms`` and
``events/sms`` to Odoo's webhook. The SMS's log follows: pending before the request
leaves, accepted, then delivered, or refused / failed with the PBX's code and its
meaning. A patient without SMS consent and a PBX that is down send nothing and log no
"sent" SMS.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import OdooRPC

from mango_vpbx_emulator.testing import closed_port_url

SMS_FIELDS = ["state", "pbx_code", "reason", "number", "text", "extension", "command_id",
              "delivered_at", "user_id", "patient_id"]


@pytest.fixture(scope="module")
def reception(odoo_server):
    """The demo's receptionist ``demo`` (extension 102, an employee of the emulator)."""
    return OdooRPC(odoo_server.url, odoo_server.dbname, "demo", "demo")


@pytest.fixture(scope="module")
def patients(admin_rpc):
    """Demo patients with one number nobody else has: three who agree to SMS, one who
    does not (the demo leaves every fifth patient without the consent)."""
    found = {True: [], False: []}
    for patient in admin_rpc("medpulse.patient", "search_read", [("phone_ids", "!=", False)],
                             fields=["name", "consent_sms", "phone_ids"], order="id"):
        if len(patient["phone_ids"]) != 1:
            continue
        [phone] = admin_rpc("medpulse.patient.phone", "read", patient["phone_ids"],
                            fields=["number_e164"])
        if admin_rpc("medpulse.patient.phone", "search_count",
                     [("number_e164", "=", phone["number_e164"])]) != 1:
            continue
        patient["to_number"] = phone["number_e164"].lstrip("+")
        found[patient["consent_sms"]].append(patient)
    assert len(found[True]) >= 3 and found[False], "the demo data lacks such patients"
    return {"agrees": found[True][:3], "refuses": found[False][0]}


@pytest.fixture(scope="module")
def sms_emulator(emulator):
    """The emulator's SMS as it starts (every SMS delivered), restored after this module."""
    emulator.post("/control/config", {"sms": {}})
    yield emulator
    emulator.post("/control/config", {"sms": {}})
    emulator.post("/control/faults", {})


def send(rpc, patient, template=None, text=None):
    """The dialog as the web client drives it: created for the patient, then "Send"."""
    values = {"patient_id": patient["id"]}
    if template:
        values["template_id"] = template
    if text:
        values["text"] = text
    wizard = rpc("medpulse.sms.send", "create", values)
    return rpc("medpulse.sms.send", "action_send", [wizard])


def sms_requests(emulator):
    return emulator.get("/control/requests?path=commands/sms")["requests"]


def sms_of(admin_rpc, patient, since, sender):
    """The SMS ``sender`` (an RPC user) sent the patient after the SMS ``since``."""
    return admin_rpc("medpulse.sms", "search_read", ours(patient, since, sender),
                     fields=SMS_FIELDS, order="id")


def ours(patient, since, sender):
    """The domain of the SMS ``sender`` sent the patient after the SMS ``since``: the demo's
    reminder rule writes to these patients too, whenever the server's cron finds one due.
    The incoming card's test books the first of them (``test_incoming_card``) at the
    doctor's next free slot: booked on a Sunday morning, Monday 8:00 in Ufa, whose SMS is
    due 24 hours before, moved out of the quiet hours to 9:00 in Ufa (4:00 UTC). A run at
    that moment found that reminder's SMS, delivered, where it waited for the dialog's,
    pending."""
    return [("patient_id", "=", patient["id"]), ("id", ">", since),
            ("user_id", "=", sender.uid)]


def last_sms(admin_rpc):
    """The id of the log's last SMS (0 when it is empty)."""
    last = admin_rpc("medpulse.sms", "search", [], order="id desc", limit=1)
    return last[0] if last else 0


def test_sent_signed_then_accepted_then_delivered(sms_emulator, reception, admin_rpc, patients):
    patient = patients["agrees"][0]
    speed = sms_emulator.get("/control/status")["speed"]
    # The report of delivery comes 4 real seconds after the SMS: "accepted" is seen first.
    sms_emulator.post("/control/config", {"sms": {"delivery_after": 4 * speed}})
    template = admin_rpc("medpulse.sms.template", "search",
                         [("name", "=", "Please call us")], limit=1)[0]
    before = len(sms_requests(sms_emulator))
    since = last_sms(admin_rpc)
    # The PBX thinks 3 s before answering: meanwhile the SMS is logged, pending.
    sms_emulator.post("/control/faults", {"api_delay": 3})
    answer = {}
    sending = threading.Thread(
        target=lambda: answer.update(send(reception, patient, template=template)))
    try:
        sending.start()
        [pending] = admin_rpc.wait_for(
            "medpulse.sms", ours(patient, since, reception), SMS_FIELDS, timeout=10)
        assert pending["state"] == "pending"
        sending.join(timeout=30)
    finally:
        sms_emulator.post("/control/faults", {})
    assert answer["params"]["type"] == "success"
    assert "The PBX accepted the SMS" in answer["params"]["message"]
    [sms] = sms_of(admin_rpc, patient, since, reception)
    assert sms["state"] == "accepted", sms
    assert sms["text"].startswith(patient["name"].split()[1]), sms["text"]
    assert (sms["extension"], sms["user_id"][0]) == ("102", reception.uid)

    # What the PBX got: one request, signed with the account's keys, from the user's
    # extension to the patient's number, with the dialog's text.
    [request] = sms_requests(sms_emulator)[before:]
    assert request["signed"] and request["status"] == 200
    assert request["data"]["command_id"] == sms["command_id"]
    assert request["data"]["from_extension"] == "102"
    assert request["data"]["to_number"] == patient["to_number"]
    assert request["data"]["text"] == sms["text"]

    [delivered] = admin_rpc.wait_for(
        "medpulse.sms", [("id", "=", sms["id"])], SMS_FIELDS, timeout=30,
        until=lambda rows: rows and rows[0]["state"] == "delivered")
    assert delivered["delivered_at"] and not delivered["pbx_code"]
    [command] = admin_rpc("medpulse.call.command", "search_read",
                          [("command_id", "=", sms["command_id"])],
                          fields=["kind", "result_code"])
    assert (command["kind"], command["result_code"]) == ("sms", 1000), "result/sms arrived"
    [emulated] = [s for s in sms_emulator.get("/control/sms")["sms"]
                  if s["command_id"] == sms["command_id"]]
    assert (emulated["result"], emulated["delivery"]) == (1000, 1000)


def test_refused_or_not_delivered_with_the_pbx_code(sms_emulator, reception, admin_rpc,
                                                    patients):
    refused, lost = patients["agrees"][1], patients["agrees"][2]
    since = last_sms(admin_rpc)
    sms_emulator.post("/control/config", {"sms": {"delivery_after": 0, "numbers": {
        refused["to_number"]: {"result": 4300},
        lost["to_number"]: {"delivery": 4392},
    }}})
    for patient in (refused, lost):
        answer = send(reception, patient, text="MedPulse: please call the clinic")
        assert answer["params"]["type"] == "success", "the PBX took the command at first"
    [sms] = admin_rpc.wait_for(
        "medpulse.sms", ours(refused, since, reception), SMS_FIELDS, timeout=30,
        until=lambda rows: rows and rows[0]["state"] == "refused")
    assert sms["pbx_code"] == 4300 and "4300" in sms["reason"], sms
    [sms] = admin_rpc.wait_for(
        "medpulse.sms", ours(lost, since, reception), SMS_FIELDS, timeout=30,
        until=lambda rows: rows and rows[0]["state"] == "failed")
    assert (sms["pbx_code"], sms["reason"]) == (4392, "SMS rejected"), sms


def test_no_consent_sends_nothing(sms_emulator, reception, admin_rpc, patients):
    patient = patients["refuses"]
    before = len(sms_requests(sms_emulator))
    since = last_sms(admin_rpc)
    with pytest.raises(AssertionError, match="has not agreed to SMS: nothing was sent"):
        send(reception, patient, text="MedPulse: hello")
    assert len(sms_requests(sms_emulator)) == before, "the PBX got nothing"
    assert sms_of(admin_rpc, patient, since, reception) == []


def test_pbx_down_fails_the_sms_never_sent(sms_emulator, reception, admin_rpc, patients):
    patient = patients["agrees"][0]
    company = admin_rpc("res.users", "read", [reception.uid], fields=["company_id"])[0]
    company_id = company["company_id"][0]
    [url] = admin_rpc("res.company", "read", [company_id], fields=["medpulse_pbx_api_url"])
    since = last_sms(admin_rpc)
    before = len(sms_requests(sms_emulator))
    admin_rpc("res.company", "write", [company_id], {"medpulse_pbx_api_url": closed_port_url()})
    try:
        started = time.monotonic()
        with pytest.raises(AssertionError, match="Could not reach the PBX"):
            send(reception, patient, text="MedPulse: the PBX is down")
        assert time.monotonic() - started < 10
    finally:
        admin_rpc("res.company", "write", [company_id],
                  {"medpulse_pbx_api_url": url["medpulse_pbx_api_url"]})
    [sms] = sms_of(admin_rpc, patient, since, reception)
    assert sms["state"] == "failed" and "Could not reach the PBX" in sms["reason"], sms
    assert len(sms_requests(sms_emulator)) == before
