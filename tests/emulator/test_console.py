"""The emulator's console in a real browser: every scenario started and driven by clicks.

The emulator runs in this process with the demo's directory (operators by name, patients
to call from), its events go to the test webhook; headless Chromium clicks as a person
would. What the PBX did is then read from the emulator's own record of finished calls.
"""

from __future__ import annotations

import pytest

from mango_vpbx_emulator.scenarios import SCENARIOS
from mango_vpbx_emulator.server import Emulator

DIRECTORY = {
    "employees": [
        {"extension": "101", "name": "Mitchell Admin"},
        {"extension": "102", "name": "Marc Demo"},
        {"extension": "103", "name": "Анна Смирнова"},
    ],
    "groups": [{"extension": "500", "name": "Регистратура", "members": ["101", "102", "103"]}],
    "callers": [
        {"number": "79170000001", "name": "Иванов Иван Иванович"},
        {"number": "79170000002", "name": "Петрова Мария Сергеевна"},
    ],
}
PATIENT = "79170000002"


@pytest.fixture
def pbx(webhook):
    emulator = Emulator(webhook.key, webhook.salt, webhook.url, speed=1.0, record_delay=0.0)
    emulator.use_directory(DIRECTORY)
    emulator.start("127.0.0.1", 0)
    yield emulator
    emulator.stop()
    emulator.pbx.join(5)


@pytest.fixture
def console(browser, pbx):
    """The console page; fails the test on a page error, a console error or an HTTP error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status} {r.url}"))
    page.goto(pbx.url + "/")
    page.wait_for_selector("#scenario option", state="attached")
    yield page
    context.close()
    assert not problems, problems


def row(page, extension=None, state=None, location=None):
    selector = "#calls tr"
    if extension:
        selector += f"[data-extension='{extension}']"
    if state:
        selector += f"[data-state='{state}']"
    rows = page.locator(selector)
    if location:
        rows = rows.filter(has=page.locator("td:nth-child(2)", has_text=location))
    return rows


def click(page, extension, state, action):
    target = row(page, extension, state).locator(f"button.{action}")
    target.first.wait_for()
    target.first.click()


def start(page, scenario, **fields):
    """Choose the scenario, fill the form: selects by value, inputs by text, checkboxes by bool."""
    page.select_option("#scenario", scenario)
    for name, value in fields.items():
        element = page.locator(f"#{name}")
        if isinstance(value, bool):
            element.set_checked(value)
        elif element.evaluate("e => e.tagName") == "SELECT":
            element.select_option(value)
        else:
            element.fill(str(value))
    page.click("#start")


def finished(pbx, scenario, timeout=10.0):
    """The emulator's finished call of this scenario (waits for it)."""
    assert pbx.pbx.wait_for(
        lambda: any(c.scenario == scenario for c in pbx.pbx.history), timeout
    ), f"{scenario} did not finish"
    return next(c for c in reversed(pbx.pbx.history) if c.scenario == scenario)


def no_calls(page):
    page.locator("#no-calls").wait_for(state="visible")


def test_the_form_offers_the_demos_people(console, pbx) -> None:
    assert console.locator("#extension option").all_inner_texts() == [
        "101 · Mitchell Admin", "102 · Marc Demo", "103 · Анна Смирнова",
    ]
    assert "Петрова Мария Сергеевна · 79170000002" in console.locator(
        "#caller-pick option"
    ).all_inner_texts()
    assert console.input_value("#caller") == "79170000001", "the first patient by default"
    assert console.input_value("#ivr_seconds") == "0", "no voice-menu delay unless asked"
    console.select_option("#caller-pick", PATIENT)
    assert console.input_value("#caller") == PATIENT
    console.fill("#caller", "79991234567")
    assert console.input_value("#caller-pick") == "", "any number can be typed"
    console.select_option("#scenario", "internal")
    assert console.locator("#caller").is_hidden() and console.locator("#to_extension").is_visible()


def test_incoming_answered(console, pbx) -> None:
    start(console, "incoming_answered", **{"caller-pick": PATIENT, "extension": "102"})
    click(console, "102", "Appeared", "answer")
    click(console, "102", "Connected", "hangup")
    no_calls(console)
    call = finished(pbx, "incoming_answered")
    assert call.caller == {"number": PATIENT}
    assert call.answered_party["extension"] == "102" and call.talk_time


def test_missed_ivr(console, pbx) -> None:
    start(console, "missed_ivr", ivr_seconds=1)
    call = finished(pbx, "missed_ivr")
    assert not call.talk_time and call.last_location == "ivr"
    no_calls(console)


def test_missed_operator(console, pbx) -> None:
    start(console, "missed_operator", extension="103")
    row(console, "103", "Appeared").wait_for()
    console.locator("#calls button.caller-hangup").first.click()
    call = finished(pbx, "missed_operator")
    assert not call.talk_time and call.first_missed["extension"] == "103"
    assert call.disconnect_reason == 1110


def test_queue(console, pbx) -> None:
    start(console, "queue", answered_by="103")
    for extension in ("101", "102", "103"):
        row(console, extension, "Appeared").wait_for()
    click(console, "103", "Appeared", "answer")
    click(console, "103", "Connected", "hangup")
    call = finished(pbx, "queue")
    assert call.answered_party["extension"] == "103"


def test_blind_transfer(console, pbx) -> None:
    start(console, "blind_transfer", extension="101", to_extension="103")
    click(console, "101", "Appeared", "answer")
    click(console, "103", "Appeared", "answer")
    click(console, "103", "Connected", "hangup")
    call = finished(pbx, "blind_transfer")
    assert call.answered_party["extension"] == "101"
    assert "103" in {leg.extension for leg in call.legs.values()}


def test_consultative_transfer(console, pbx) -> None:
    start(console, "consultative_transfer", extension="101", to_extension="102", consult_seconds=1)
    click(console, "101", "Appeared", "answer")
    click(console, "102", "Appeared", "answer")
    # After the consultation the operator leaves: the caller talks with the colleague.
    row(console, "101").wait_for(state="detached")
    click(console, "102", "Connected", "hangup")
    call = finished(pbx, "consultative_transfer")
    consult = next(leg for leg in call.legs.values() if leg.extension == "102")
    assert consult.from_.get("number") == call.caller["number"]


def test_callback(console, pbx) -> None:
    start(console, "callback", extension="101", **{"target-pick": PATIENT})
    click(console, "101", "Appeared", "answer")  # the operator's phone first
    to_patient = row(console, "101", "Appeared").filter(
        has=console.locator("td:nth-child(5)", has_text=PATIENT)
    )
    to_patient.locator("button.answer").click()  # then the patient's
    click(console, "101", "Connected", "hangup")
    call = finished(pbx, "callback")
    assert call.is_callback and call.callee == {"number": PATIENT} and call.talk_time


def test_internal(console, pbx) -> None:
    start(console, "internal", extension="103", to_extension="101")
    click(console, "101", "Appeared", "answer")
    click(console, "101", "Connected", "hangup")
    call = finished(pbx, "internal")
    assert call.direction == 0 and call.talk_time


def test_outgoing(console, pbx) -> None:
    start(console, "outgoing", extension="102", target="79991234567")
    click(console, "102", "Appeared", "answer")
    click(console, "102", "Connected", "hangup")
    call = finished(pbx, "outgoing")
    assert call.direction == 2 and call.callee == {"number": "79991234567"} and call.talk_time


def test_every_scenario_has_a_test_here() -> None:
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    assert set(SCENARIOS) <= tested


@pytest.mark.parametrize("outcome", ["complete", "cancel-transfer"])
def test_consult_a_colleague_then_complete_or_cancel(console, pbx, outcome) -> None:
    """The buttons of a call in progress: consult a colleague picked by name, then hand the
    caller over (the colleague's leg goes on with the caller) or take the caller back."""
    start(console, "incoming_answered", extension="101")
    click(console, "101", "Appeared", "answer")
    talking = row(console, "101", "Connected")
    talking.locator("select.transfer-to").select_option("103")
    talking.locator("button.consult").click()
    click(console, "103", "Appeared", "answer")
    row(console, "101", "OnHold").wait_for()
    click(console, "103", "Connected", outcome)
    if outcome == "complete":
        row(console, "101").wait_for(state="detached")
        console.wait_for_timeout(1500)  # the colleague does not drop the caller
        assert row(console, "103", "Connected").count() == 1
        click(console, "103", "Connected", "hangup")
    else:
        row(console, "103").wait_for(state="detached")
        click(console, "101", "Connected", "hangup")
    call = finished(pbx, "incoming_answered")
    legs = {leg.extension: leg for leg in call.legs.values()}
    assert legs["103"].answered
    if outcome == "complete":
        assert legs["103"].from_.get("number") == call.caller["number"]
    else:
        assert legs["101"].disconnect_reason == 1120


def test_the_colleague_rung_from_odoo_is_chosen_here(console, pbx) -> None:
    console.select_option("#ap_colleague", "decline")
    console.fill("#ap_answer_after", "1")
    console.click("#ap_apply")
    console.locator("#ap_saved").wait_for()
    assert (pbx.pbx.autopilot.colleague, pbx.pbx.autopilot.answer_after) == ("decline", 1.0)
    console.reload()
    # The page fills its form from the PBX's status once loaded (init), as the fixture waits.
    console.wait_for_selector("#scenario option", state="attached")
    assert console.input_value("#ap_colleague") == "decline"


def test_events_are_listed_once_and_do_not_widen_the_page(console, pbx, webhook) -> None:
    long_number = "7" + "9" * 60  # a long JSON line
    start(console, "missed_ivr", caller=long_number, ivr_seconds=0)
    finished(pbx, "missed_ivr")
    webhook.wait(lambda: webhook.events("events/summary"))
    # The sender logs a delivery after its response: wait for the summary's entry too.
    webhook.wait(lambda: any(d.path == "events/summary" for d in pbx.sender.log()))
    sent = pbx.sender.log()
    console.locator(f"#events tr[data-n='{sent[-1].n}']").wait_for()
    console.wait_for_timeout(2500)  # a few refreshes of the timer
    shown = [int(n) for n in console.locator("#events tr").evaluate_all(
        "rows => rows.map(r => r.dataset.n)")]
    assert sorted(shown, reverse=True) == shown and len(set(shown)) == len(shown) == len(sent)
    assert console.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
