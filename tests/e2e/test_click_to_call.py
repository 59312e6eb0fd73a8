"""Click-to-call from the schedule in a real browser: Odoo sends ``commands/callback`` to
the PBX emulator, whose autopilot answers both phones and posts the call's signed
events back to Odoo's webhook; the journal must show an outgoing answered call of the
appointment's patient, linked to the appointment."""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import json
import re
import urllib.request

import pytest
from conftest import OdooRPC, login
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def rpc(odoo_server):
    return OdooRPC(odoo_server.url, odoo_server.dbname, "admin", "admin")


@pytest.fixture(scope="module")
def appointment(rpc):
    """An appointment later today of a demo patient whose number no one else has."""
    patient = None
    for candidate in rpc(
        "medpulse.patient",
        "search_read",
        [("phone_ids", "!=", False)],
        fields=["name", "phone"],
        order="id",
    ):
        if len(rpc("medpulse.patient", "search", [("phone", "=", candidate["phone"])])) == 1:
            patient = candidate
            break
    assert patient, "the demo data has no patient with an unshared number"
    doctor = rpc(
        "medpulse.doctor",
        "search_read",
        [("service_ids", "!=", False)],
        fields=["service_ids"],
        limit=1,
    )[0]
    start = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
    duration = dt.timedelta(minutes=rpc("medpulse.service", "read", doctor["service_ids"][:1],
                                        fields=["duration"])[0]["duration"])

    def text(moment):
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    # A time no appointment of the schedule takes: no create is refused (and logged), and
    # the event is not covered by another one in the calendar when the test clicks it.
    busy = [
        (dt.datetime.fromisoformat(a["start"]), dt.datetime.fromisoformat(a["stop"]))
        for a in rpc("medpulse.appointment", "search_read",
                     [("state", "!=", "cancelled"), ("stop", ">", text(start)),
                      ("start", "<", text(start + dt.timedelta(hours=11)))],
                     fields=["start", "stop"])
    ]
    for offset in range(0, 600, 15):
        moment = start + dt.timedelta(minutes=offset)
        if not any(begin < moment + duration and end > moment for begin, end in busy):
            break
    else:
        pytest.fail("no free slot for the test appointment")
    appointment_id = rpc(
        "medpulse.appointment",
        "create",
        {
            "patient_id": patient["id"],
            "doctor_id": doctor["id"],
            "service_id": doctor["service_ids"][0],
            "start": text(moment),
        },
    )
    return {"id": appointment_id, "patient": patient}


def _warm_web_client(server):
    """Build the web client's asset bundles before the browser needs them.

    On a busy machine their first generation outlasts the browser's 30 s page-load
    wait of ``login``; fetching them once with a generous timeout stores them.
    """
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    body = {
        "jsonrpc": "2.0",
        "method": "call",
        "params": {"db": server.dbname, "login": "admin", "password": "admin"},
    }
    opener.open(
        urllib.request.Request(
            f"{server.url}/web/session/authenticate",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        ),
        timeout=300,
    ).read()
    page = opener.open(f"{server.url}/odoo", timeout=300).read().decode()
    for asset in re.findall(r'(?:src|href)="(/web/assets/[^"]+)"', page):
        opener.open(server.url + asset, timeout=600).read()


def test_click_to_call_from_schedule(browser, odoo_server, emulator, rpc, appointment):
    # Real time: the operator's phone is answered after 3 s, so "Calling…" is seen first.
    emulator.post("/control/config", {"speed": 1})
    _warm_web_client(odoo_server)
    page = login(browser, odoo_server, "admin", "admin")
    try:
        page.goto(f"{odoo_server.url}/odoo/action-medpulse_clinic.medpulse_appointment_action")
        event = page.locator(f'.fc-event[data-event-id="{appointment["id"]}"]')
        event.first.click()
        popover = page.locator(".o_cw_popover")
        popover.locator(".o_medpulse_click_to_call").click()
        expect(page.locator(".o_notification.o_medpulse_calling")).to_contain_text(
            "pick up your phone"
        )

        command = rpc.wait_for(
            "medpulse.call.command",
            [("res_model", "=", "medpulse.appointment"), ("res_id", "=", appointment["id"])],
            ["command_id", "state"],
        )[0]
        calls = emulator.get("/control/calls?finished=50")
        assert any(
            command["command_id"] in str(call) for call in calls["active"] + calls["finished"]
        ), "the emulator never saw the callback"

        [call] = rpc.wait_for(
            "medpulse.call",
            [("command_id", "=", command["command_id"]), ("is_final", "=", True)],
            ["direction", "result", "patient_id", "operator_user_id", "appointment_ids"],
            timeout=90,
        )
        assert call["direction"] == "outgoing"
        assert call["result"] == "answered"
        assert call["patient_id"][0] == appointment["patient"]["id"]
        assert call["operator_user_id"][0] == rpc.uid
        assert appointment["id"] in call["appointment_ids"]
        # The operator picked up: the "Calling…" notification is gone.
        expect(page.locator(".o_notification.o_medpulse_calling")).to_have_count(0, timeout=30000)
    finally:
        page.context.close()
