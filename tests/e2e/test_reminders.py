"""Reminders end to end: the scheduled jobs build tomorrow's reminders (tomorrow in the
clinic's time zone, Ufa, while the server runs in UTC), send their SMS through the PBX
emulator (``commands/sms``, as batch work), and the emulator's ``result/sms`` and
``events/sms`` set their SMS's states; a call step puts the appointment on the
confirmation call list, whose one-click call goes through the existing click-to-call
(``commands/callback``) and whose outcome writes back to the appointment. The PBX locks
the account out in the middle of a run: the run stops, the rest stays planned, and the
resumed run sends each reminder once, never twice.

The jobs are run as an administrator runs them by hand (*Run manually*, the server has no
cron threads). The two minutes of the lockout are not waited for: the test moves the
reminders' next try and the account's pause into the past, as the clock would.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from zoneinfo import ZoneInfo

import pytest
from conftest import OdooRPC

REMINDER_FIELDS = ["state", "step", "number", "sms_id", "item_id", "error", "skip_reason",
                   "planned_at", "appointment_id", "attempt_count"]
SMS_COUNT = 5


def text(moment):
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def run_cron(rpc, name):
    [cron_id] = rpc("ir.model.data", "search_read",
                    [("module", "=", "medpulse_telephony"), ("name", "=", name)],
                    fields=["res_id"])
    rpc("ir.cron", "method_direct_trigger", [cron_id["res_id"]])


def build_and_send(rpc):
    run_cron(rpc, "ir_cron_medpulse_reminder_build")
    run_cron(rpc, "ir_cron_medpulse_reminder_send")


def sms_requests(emulator):
    return emulator.get("/control/requests?path=commands/sms")["requests"]


def sql(server, query, params=()):
    """A statement on the server's database, committed (the clock of the test)."""
    import psycopg2  # noqa: PLC0415 - Odoo's dependency, imported where it is needed

    conn = psycopg2.connect(dbname=server.dbname, host=server.pg.host, port=server.pg.port,
                            user=server.pg.user, password=server.pg.password or None)
    with conn, conn.cursor() as cr:
        cr.execute(query, params)
    conn.close()


def lock_out(emulator):
    """Two requests with a wrong key at once: the emulator locks the account (HTTP 401)
    when it answers them (after its ``api_delay``, as it answers any request)."""

    def wrong_key():
        body = urllib.parse.urlencode(
            {"vpbx_api_key": "wrong", "sign": "wrong", "json": "{}"}).encode()
        try:
            urllib.request.urlopen(f"{emulator.base}/vpbx/commands/sms", data=body, timeout=30)
        except urllib.error.HTTPError:
            pass

    senders = [threading.Thread(target=wrong_key) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=40)
    assert emulator.get("/control/status")["locked"]


def lockout_over(server, emulator):
    """Two minutes pass: the emulator's lockout ends, and so does the pause Odoo's request
    budget keeps after the PBX's 401 (the reminders' next try is moved by the caller)."""
    emulator.post("/control/reset", {})
    sql(server, "DELETE FROM medpulse_telephony_limit WHERE kind = 'block'")


@pytest.fixture(scope="module")
def reception(odoo_server):
    """The demo's receptionist ``demo`` (extension 102, an employee of the emulator)."""
    return OdooRPC(odoo_server.url, odoo_server.dbname, "demo", "demo")


@pytest.fixture(scope="module")
def clinic(admin_rpc, emulator):
    """Tomorrow's appointments (in Ufa) of six demo patients whose number nobody else has,
    with two services of their own: one reminded by SMS, one by a call, with no quiet
    hours and a lead time that makes their reminders due now, whatever the hour."""
    emulator.post("/control/config", {"sms": {"delivery_after": 0}, "lockout_seconds": 600})
    # What is due of the demo's own reminders goes first, so the runs below are ours only.
    build_and_send(admin_rpc)
    [company] = admin_rpc("res.company", "search_read", [("medpulse_pbx_api_key", "!=", False)],
                          fields=["resource_calendar_id"], limit=1)
    [calendar] = admin_rpc("resource.calendar", "read", [company["resource_calendar_id"][0]],
                           fields=["tz"])
    tz = ZoneInfo(calendar["tz"])
    assert tz.key == "Asia/Yekaterinburg", "the demo clinic is in Ufa (UTC+5)"

    patients = []
    for patient in admin_rpc("medpulse.patient", "search_read",
                             [("phone_ids", "!=", False), ("consent_sms", "=", True),
                              ("consent_call", "=", True)],
                             fields=["name", "phone_ids"], order="id desc"):
        if len(patient["phone_ids"]) != 1:
            continue
        [phone] = admin_rpc("medpulse.patient.phone", "read", patient["phone_ids"],
                            fields=["number_e164"])
        if admin_rpc("medpulse.patient.phone", "search_count",
                     [("number_e164", "=", phone["number_e164"])]) == 1:
            patients.append(dict(patient, number=phone["number_e164"]))
        if len(patients) == SMS_COUNT + 1:
            break
    assert len(patients) == SMS_COUNT + 1, "the demo data lacks such patients"

    [doctor] = admin_rpc("medpulse.doctor", "search_read", [], fields=["name"], limit=1)
    services = {step: admin_rpc("medpulse.service", "create", {
        "name": f"E2E reminder by {step}", "duration": 5, "doctor_ids": [(4, doctor["id"])],
    }) for step in ("sms", "call")}

    # Tomorrow noon in Ufa, then the first run of six free 5-minute slots of the doctor.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    tomorrow = (dt.datetime.now(tz) + dt.timedelta(days=1)).date()
    noon = dt.datetime.combine(tomorrow, dt.time(12), tz).astimezone(dt.UTC).replace(tzinfo=None)
    busy = [(dt.datetime.fromisoformat(a["start"]), dt.datetime.fromisoformat(a["stop"]))
            for a in admin_rpc("medpulse.appointment", "search_read",
                               [("doctor_id", "=", doctor["id"]), ("state", "!=", "cancelled"),
                                ("stop", ">", text(noon)),
                                ("start", "<", text(noon + dt.timedelta(hours=10)))],
                               fields=["start", "stop"])]
    span = dt.timedelta(minutes=5 * len(patients))
    for offset in range(0, 600, 5):
        first = noon + dt.timedelta(minutes=offset)
        if not any(begin < first + span and end > first for begin, end in busy):
            break
    else:
        pytest.fail("the doctor has no free half hour tomorrow afternoon")
    assert first.replace(tzinfo=dt.UTC).astimezone(tz).date() == tomorrow

    # Due now: the reminders of the six are planned within the last hour (integer hours).
    lead = math.ceil((first + span - now).total_seconds() / 3600)
    rules = [admin_rpc("medpulse.reminder.rule", "create", {
        "name": f"E2E {step}", "service_ids": [(6, 0, [services[step]])], "channel": step,
        "lead_hours": lead, "quiet_start": 0, "quiet_end": 0,
    }) for step in ("sms", "call")]
    appointments = []
    for index, patient in enumerate(patients):
        step = "call" if index == SMS_COUNT else "sms"
        start = first + dt.timedelta(minutes=5 * index)
        appointments.append({"step": step, "patient": patient, "start": start, "id": admin_rpc(
            "medpulse.appointment", "create", {
                "patient_id": patient["id"], "doctor_id": doctor["id"],
                "service_id": services[step], "start": text(start),
            })})
    yield {"appointments": appointments, "doctor": doctor, "rules": rules}
    admin_rpc("medpulse.reminder.rule", "unlink", rules)
    emulator.post("/control/config", {"sms": {}, "lockout_seconds": 120})
    emulator.post("/control/faults", {})
    emulator.post("/control/reset", {})


def reminders(rpc, appointments):
    return rpc("medpulse.reminder", "search_read",
               [("appointment_id", "in", [a["id"] for a in appointments])],
               fields=REMINDER_FIELDS, order="planned_at, id")


def test_tomorrow_built_sent_locked_out_resumed_once(odoo_server, emulator, admin_rpc, clinic):
    by_sms = [a for a in clinic["appointments"] if a["step"] == "sms"]
    numbers = {a["patient"]["number"].lstrip("+"): a for a in by_sms}
    # One patient's SMS is not delivered: the report of the network comes back failed.
    lost = by_sms[0]["patient"]["number"].lstrip("+")
    emulator.post("/control/config", {"sms": {"delivery_after": 0, "numbers": {
        lost: {"delivery": 4391}}}})
    before = len(sms_requests(emulator))

    run_cron(admin_rpc, "ir_cron_medpulse_reminder_build")
    built = reminders(admin_rpc, clinic["appointments"])
    assert len(built) == len(clinic["appointments"]), built
    assert {r["state"] for r in built} == {"planned"}, built
    assert [r["step"] for r in built].count("call") == 1

    # The PBX answers each request a second late. As soon as the first of ours arrives,
    # two invalid requests lock the account out when they are answered, a second later:
    # after the first (answered 1000), before the second (which waits a second more, and
    # the run's pause): the second is refused (401) unread, and the run stops.
    emulator.post("/control/faults", {"api_delay": 1})

    def lock_at_the_first():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any((r["data"] or {}).get("to_number") in numbers
                   for r in sms_requests(emulator)[before:]):
                lock_out(emulator)
                return
            time.sleep(0.05)

    locker = threading.Thread(target=lock_at_the_first)
    locker.start()
    try:
        run_cron(admin_rpc, "ir_cron_medpulse_reminder_send")
    finally:
        locker.join(timeout=70)
        emulator.post("/control/faults", {})
    assert emulator.get("/control/status")["locked"], "the lockout came after the run"
    first_run = {r["appointment_id"][0]: r for r in reminders(admin_rpc, by_sms)}
    sent = [r for r in first_run.values() if r["state"] == "sent"]
    left = [r for r in first_run.values() if r["state"] == "planned"]
    assert len(sent) == 1 and len(left) == SMS_COUNT - 1, first_run
    # The refused one says what the PBX said and counts an attempt; the rest never left.
    refused = [r for r in left if r["error"]]
    assert len(refused) == 1 and refused[0]["attempt_count"] == 1, left
    assert "PBX" in refused[0]["error"], refused
    # Nothing said "sent" for what the PBX refused: the SMS of the refused request is failed
    # or not there (the request never left), and the first run put the call on the list.
    [call] = [r for r in reminders(admin_rpc, clinic["appointments"]) if r["step"] == "call"]
    assert call["state"] == "listed" and call["item_id"], call

    # Two minutes pass; the lockout is over.
    lockout_over(odoo_server, emulator)
    ids = tuple(r["id"] for r in left)
    sql(odoo_server, "UPDATE medpulse_reminder SET next_try_at = now() at time zone 'UTC'"
                     " - interval '1 second' WHERE id IN %s", (ids,))
    build_and_send(admin_rpc)
    # Again: a second build and send add nothing.
    build_and_send(admin_rpc)

    final = reminders(admin_rpc, by_sms)
    assert {r["state"] for r in final} == {"sent"}, final
    ours = [r for r in sms_requests(emulator)[before:]
            if (r["data"] or {}).get("to_number") in numbers]
    accepted = [r for r in ours if r["status"] == 200]
    assert sorted(r["data"]["to_number"] for r in accepted) == sorted(numbers), (
        "each patient got exactly one SMS the PBX accepted")
    assert all(r["signed"] and r["data"]["from_extension"] == "101" for r in accepted)
    assert len(ours) - len(accepted) == 1, "one request was refused by the lockout"
    local = by_sms[1]["start"].replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Yekaterinburg"))
    [second] = [r for r in accepted if r["data"]["to_number"]
                == by_sms[1]["patient"]["number"].lstrip("+")]
    assert local.strftime("%d.%m.%Y") in second["data"]["text"] or local.strftime(
        "%m/%d/%Y") in second["data"]["text"], "the appointment's date in the clinic's zone"

    # The emulator's result/sms and events/sms: accepted, then delivered or failed.
    sms_ids = [r["sms_id"][0] for r in final]
    assert len(set(sms_ids)) == SMS_COUNT
    rows = admin_rpc.wait_for(
        "medpulse.sms", [("id", "in", sms_ids)], ["state", "number", "pbx_code", "reason"],
        timeout=60, until=lambda rows: all(r["state"] in ("delivered", "failed") for r in rows))
    states = {r["number"].lstrip("+"): (r["state"], r["pbx_code"]) for r in rows}
    assert states.pop(lost) == ("failed", 4391), rows
    assert set(states.values()) == {("delivered", 0)}, rows
    # The log has one more: the attempt the lockout refused, failed (never "sent").
    logged = admin_rpc("medpulse.sms", "search_read",
                       [("appointment_id", "in", [a["id"] for a in by_sms])],
                       fields=["state", "appointment_id"])
    extra = [r for r in logged if r["id"] not in sms_ids]
    assert len(extra) == 1 and extra[0]["state"] == "failed", logged
    assert extra[0]["appointment_id"] == refused[0]["appointment_id"], (extra, refused)


def test_reminder_call_through_the_pbx_confirms(odoo_server, emulator, admin_rpc, reception,
                                                clinic):
    [appointment] = [a for a in clinic["appointments"] if a["step"] == "call"]
    lockout_over(odoo_server, emulator)  # whatever the test before left
    build_and_send(admin_rpc)
    [reminder] = admin_rpc.wait_for(
        "medpulse.reminder",
        [("appointment_id", "=", appointment["id"]), ("state", "=", "listed")],
        REMINDER_FIELDS, timeout=5)
    item_id = reminder["item_id"][0]
    emulator.post("/control/config", {"speed": 1})
    # The entry's "Call" button: the entry is held, the browser's click-to-call runs.
    action = reception("medpulse.confirmation.item", "action_call", [item_id])
    assert action["tag"] == "medpulse_telephony.click_to_call"
    assert action["params"]["number"] == appointment["patient"]["number"]
    before = len(emulator.get("/control/requests?path=commands/callback")["requests"])
    answer = reception("medpulse.call.command", "action_click_to_call",
                       action["params"]["number"],
                       res_model=action["params"]["res_model"],
                       res_id=action["params"]["res_id"])
    assert answer["ok"], answer
    [request] = emulator.get("/control/requests?path=commands/callback")["requests"][before:]
    assert request["signed"] and request["status"] == 200
    assert request["data"]["from"]["extension"] == "102"
    assert request["data"]["to_number"] == appointment["patient"]["number"].lstrip("+")
    [call] = admin_rpc.wait_for(
        "medpulse.call", [("command_id", "=", answer["command_id"]), ("is_final", "=", True)],
        ["direction", "result", "patient_id", "appointment_ids"], timeout=90)
    assert (call["direction"], call["result"]) == ("outgoing", "answered"), call
    assert call["patient_id"][0] == appointment["patient"]["id"]
    assert appointment["id"] in call["appointment_ids"]
    # "Confirmed": written back to the appointment.
    reception("medpulse.confirmation.item", "action_confirmed", [item_id])
    [item] = admin_rpc("medpulse.confirmation.item", "read", [item_id],
                       fields=["state", "outcome", "worked_by_id"])
    assert (item["state"], item["outcome"], item["worked_by_id"][0]) == (
        "done", "confirmed", reception.uid)
    [booked] = admin_rpc("medpulse.appointment", "read", [appointment["id"]],
                         fields=["state", "confirmation_state"])
    assert (booked["state"], booked["confirmation_state"]) == ("confirmed", "confirmed")
