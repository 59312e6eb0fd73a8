"""Screenshots of the README (``docs/screenshots/*.png``): the incoming-call card, the
screens around it and the wallboard.

    /opt/odoo18/venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--keep]
        [--only card,callbacks,ledger,incidents,away,patient,wallboard,outreach,
         card_actions,recall,waitlist,insight]

Starts what ``scripts/demo`` starts: a throw-away demo database initialised by
``scripts/demo_init.py`` with ``HISTORY_DAYS`` days of the demo's history of calls (the
Russian translation then loaded as an administrator would, with ``base.language.install``),
its Odoo server (:class:`odoo_instance.OdooInstance`) and the PBX emulator as a subprocess
wired to it, which posts today's calls to the webhook. Once they are in the journal, the
scheduled actions the screens depend on run once (reconciliation, overdue call-backs,
the ledger's morning summary). Headless Chromium (Playwright) then signs in:

* ``card`` (1280x800), as the operator ``demo`` (extension 102): the emulator rings that
  extension from a known patient's number, an unknown number and a number shared by
  several patients, and each state of the card is saved;
* ``callbacks`` (wider), as ``demo``: *Missed calls to return*, while ``demo`` calls one of
  the callers back a second time (the first attempt was not answered: "Being called by"),
  then that call-back's form with its attempts; the list again in Russian;
* ``ledger``, as the administrator (a telephony and clinic manager): the lost-patient
  ledger per day (a day's callers, grouped by day with its totals) and per week (the
  pivot of callers by outcome, with totals);
* ``incidents``, as the administrator: *Integration incidents* and the demo's past incident;
* ``away``, as ``demo``: the systray's *On duty* / *Away* switch, both states;
* ``patient``, as ``demo`` (a receptionist): a patient's form, *Calls* tab, with the
  patient's open call-back and recent calls;
* ``outreach``, as ``demo``: the *Send SMS* dialog of a patient who agrees to SMS, its
  reminder template previewed with its length and parts, and the *Confirmation calls*
  list (the demo's list of the next working day); as the administrator: the reminder
  rules;
* ``card_actions``, as ``demo``: a known patient's card with the upcoming appointment's
  *Confirm*, *Move* (its free times opened) and *Cancel*; a patient with no appointment to
  come, the next free times of their last doctor and service;
* ``recall``, as ``demo``: *No-show recall*, the demo's last week's no-shows;
* ``waitlist``, as ``demo``: the *Waiting list* and *Offer freed slots* (the demo's
  cancelled appointment offered); as the administrator: *Waiting list refills*;
* ``insight``, as the administrator: a call's page *What the call was about* (keys,
  voice-menu places, topics, call-tracking source) and *Calls by source*.

Each screen is checked to show live rows (an empty list fails the run). The database, its
filestore and both servers are gone at the end (``--keep`` keeps the work folder with the
logs).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odoo_instance import ADDONS, ROOT, OdooInstance, free_port  # noqa: E402 - after the sys.path set-up above

# The end-to-end harness's RPC client and browser sign-in (card_helpers needs mango_vpbx).
sys.path[1:1] = [str(ROOT / "tests" / "e2e"), str(ROOT)]
from card_helpers import login  # noqa: E402 - after the sys.path set-up above
from conftest import OdooRPC  # noqa: E402 - after the sys.path set-up above

OPERATOR = ("demo", "demo", "102")  # login, password, extension (see demo_init.OPERATORS)
MANAGER = ("admin", "admin")  # a telephony and clinic manager, and the administrator
UNKNOWN_NUMBER = "79990001234"
TRANSFER_GROUP = "500"  # the emulator's demo queue
VIEWPORT = {"width": 1280, "height": 800}
#: Lists of many columns (call-backs, the ledger): wide enough that dates are not cut.
WIDE = {"width": 1600, "height": 900}
MAX_BYTES = 150_000
CARD = ".o_medpulse_incoming_card"
#: Days of the demo's history: four weeks make a ledger of several weeks.
HISTORY_DAYS = 28
SHOTS = ("card", "callbacks", "ledger", "incidents", "away", "patient", "wallboard", "outreach",
         "card_actions", "recall", "waitlist", "insight")


class Emulator:
    """The emulator's control API (``/control/...``)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/control/"

    def get(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:
            return json.loads(resp.read())

    def post(self, path: str, payload: dict):
        req = urllib.request.Request(self.base + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def wait_ready(self, proc: subprocess.Popen, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the emulator exited with {proc.returncode}")
            try:
                self.get("calls")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the emulator did not start")

    def ring(self, caller: str, extension: str) -> str:
        """A call from ``caller`` ringing ``extension`` until someone acts; its entry_id."""
        run = self.post("scenario", {"name": "incoming_answered", "params": {
            "caller": caller, "extension": extension, "ivr_seconds": 0,
            "ring_seconds": None, "talk_seconds": None,
        }})
        return run["entry_id"]

    def hang_up(self, entry_id: str) -> None:
        try:
            self.post("hangup", {"entry_id": entry_id})
        except urllib.error.HTTPError:  # already over
            pass


def prepare(work: Path, api_key: str, api_salt: str, pbx_port: int) -> OdooInstance:
    """The demo database with its history, made by demo_init.py exactly as for the demo."""
    odoo = OdooInstance(f"medpulse_shots_{os.getpid()}", work)
    odoo.write_config()
    print(f"installing {', '.join(ADDONS)} with demo data and {HISTORY_DAYS} days of calls "
          f"into {odoo.dbname}…", flush=True)
    with (work / "install.log").open("w") as log:
        subprocess.run(
            [odoo.python, str(ROOT / "scripts" / "demo_init.py"), "-c", str(odoo.config_path),
             "-d", odoo.dbname, "--pbx-url", f"http://127.0.0.1:{pbx_port}/vpbx/",
             "--api-key", api_key, "--api-salt", api_salt, "--odoo-url", odoo.url,
             "--emulator-dir", str(work / "emulator"), "--history", str(HISTORY_DAYS)],
            check=True, env=odoo.env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
    return odoo


def settle_history(rpc: OdooRPC, work: Path) -> None:
    """Wait for today's calls of the history (posted by the emulator), then run once the
    scheduled actions the screens show the work of (the test server runs no cron)."""
    history = json.loads((work / "emulator" / "history.json").read_text())
    expected = sum(1 for call in history["calls"] if call["delivery"] != "left_out")
    deadline = time.monotonic() + 180
    while rpc("medpulse.call", "search_count", []) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not post today's calls of the history")
        time.sleep(1)
    for cron in ("ir_cron_medpulse_call_event_fold", "ir_cron_medpulse_call_reconcile",
                 "ir_cron_medpulse_call_callback_overdue", "ir_cron_medpulse_call_ledger_summary"):
        [ref] = rpc("ir.model.data", "search_read",
                    [("module", "=", "medpulse_telephony"), ("name", "=", cron)],
                    fields=["res_id"])
        rpc("ir.cron", "method_direct_trigger", [ref["res_id"]])


def install_russian(rpc: OdooRPC) -> None:
    """Activate ru_RU and load its translations (English stays the users' language).

    Not ``--load-language`` at install: on a new database that makes Russian the only
    active language and everyone's default.
    """
    lang_ids = rpc("res.lang", "search", [("code", "=", "ru_RU")], context={"active_test": False})
    wizard = rpc("base.language.install", "create", {"lang_ids": [(6, 0, lang_ids)]})
    rpc("base.language.install", "lang_install", [wizard])


def pick_numbers(rpc: OdooRPC) -> dict[str, str]:
    """PBX-style numbers (digits) of a patient with a full card and of a shared number."""
    Phone = "medpulse.patient.phone"
    phones = rpc(Phone, "search_read", [("number_e164", "!=", False)],
                 fields=["number_e164", "patient_id"], order="id")
    owners: dict[str, set[int]] = {}
    for phone in phones:
        owners.setdefault(phone["number_e164"], set()).add(phone["patient_id"][0])
    patients = rpc("medpulse.patient", "search_read", [
        ("last_visit_at", "!=", False), ("last_service_id", "!=", False),
        ("next_appointment_id", "!=", False),
    ], fields=["name"], order="id")
    full = {p["id"] for p in patients}
    known = next(number for number, ids in owners.items() if len(ids) == 1 and ids <= full)
    shared = next(number for number, ids in owners.items() if len(ids) > 1)
    return {"known": known.lstrip("+"), "shared": shared.lstrip("+")}


def open_journal(page, url: str) -> None:
    """The call journal behind the card: what an operator has open."""
    page.goto(f"{url}/odoo/action-medpulse_telephony.medpulse_call_action")
    page.locator(".o_list_view, .o_kanban_view").first.wait_for()
    page.mouse.move(0, VIEWPORT["height"] - 1)


def check_clean(page) -> None:
    errors = page.locator(".o_error_dialog, .o_notification.border-danger")
    if errors.count():
        raise RuntimeError(f"an error is shown: {errors.first.inner_text()[:500]}")


def dismiss_notifications(page) -> None:
    """Close the toasts (an overdue call-back's warning from the scheduled action, ...)."""
    for _ in range(20):
        close = page.locator(".o_notification .o_notification_close")
        if not close.count():
            return
        close.first.click()
        page.wait_for_timeout(150)


def save_screen(page, path: Path, bottom=None) -> None:
    """Save the window, cut below ``bottom`` (the list or the form it shows), toasts closed."""
    dismiss_notifications(page)
    check_clean(page)
    page.mouse.move(0, page.viewport_size["height"] - 1)
    page.wait_for_timeout(400)  # let the transitions settle
    clip = None
    if bottom is not None:
        box = bottom.bounding_box()
        width, height = page.viewport_size["width"], page.viewport_size["height"]
        clip = {"x": 0, "y": 0, "width": width,
                "height": min(height, int(box["y"] + box["height"]) + 16)}
    page.screenshot(path=str(path), clip=clip, animations="disabled", caret="hide")
    shrink(path)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{path.stat().st_size // 1024} KB", flush=True)


def sign_in(browser, url: str, login_name: str, password: str, viewport: dict):
    """A new browser signed in as ``login_name``, the cards of the card's screenshots gone.

    An ended card comes back in a new session until its follow-up is saved (the README:
    "it survives a reload"); here it would cover the screen: hidden, as the user would.
    """
    page = login(browser, SimpleNamespace(url=url), login_name, password, viewport=viewport,
                 default_timeout=60000, load_timeout=300000)
    page.wait_for_timeout(1500)  # the active cards are fetched once the client has started
    cards = page.locator(CARD)
    for _ in range(10):
        if not cards.count():
            break
        cards.first.locator(".o_medpulse_card_dismiss").click()
        page.wait_for_timeout(300)
    return page


def open_action(page, url: str, action: str, view: str = ".o_list_view") -> None:
    page.goto(f"{url}/odoo/action-{action}")
    page.locator(view).first.wait_for()


def rows_of(page, minimum: int = 1):
    """The list's records, waited for: a screen of the README shows live data, never none."""
    rows = page.locator(".o_list_view .o_data_row")
    try:
        rows.nth(minimum - 1).wait_for(timeout=30000)
    except Exception as exc:
        raise RuntimeError(f"fewer than {minimum} rows in {page.url}: the demo data") from exc
    return rows


def save(page, path: Path, around=None) -> None:
    """Save the viewport, or the region right of and above ``around``'s bottom (the card)."""
    check_clean(page)
    page.wait_for_timeout(400)  # let the transitions settle
    clip = None
    if around is not None:
        box = around.bounding_box()
        x = max(0, int(box["x"]) - 40)
        clip = {"x": x, "y": 0, "width": VIEWPORT["width"] - x,
                "height": min(VIEWPORT["height"], int(box["y"] + box["height"]) + 40)}
    page.screenshot(path=str(path), clip=clip, animations="disabled", caret="hide")
    shrink(path)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{path.stat().st_size // 1024} KB", flush=True)


def shrink(path: Path) -> None:
    """Keep a PNG under MAX_BYTES: a 256-colour palette, which UI screenshots barely notice."""
    if path.stat().st_size <= MAX_BYTES:
        return
    from PIL import Image  # noqa: PLC0415 - Odoo's dependency

    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def card_of(page, caller: str):
    """The card of the call from ``caller`` (its number is shown formatted, last digits kept)."""
    tail = f"{caller[-4:-2]}-{caller[-2:]}"
    return page.locator(CARD).filter(has=page.locator(".o_medpulse_card_number", has_text=tail))


def close(page, emulator: Emulator, entry_id: str, caller: str) -> None:
    """Hang the call up and make sure its card is gone (an ended card is dismissed)."""
    emulator.hang_up(entry_id)
    card = card_of(page, caller)
    live = card.and_(page.locator(".o_medpulse_card_ringing, .o_medpulse_card_talking"))
    deadline = time.monotonic() + 30
    while live.count() and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    if card.count():
        card.locator(".o_medpulse_card_dismiss").first.click()
    card.first.wait_for(state="detached")


def shoot(page, url: str, rpc: OdooRPC, emulator: Emulator, out: Path) -> None:
    login_name, _password, extension = OPERATOR
    numbers = pick_numbers(rpc)
    doctor = rpc("medpulse.doctor", "search_read", [("service_ids", "!=", False)],
                 fields=["name", "service_ids"], limit=1, order="id")[0]
    service = rpc("medpulse.service", "read", doctor["service_ids"][:1], fields=["name"])[0]
    open_journal(page, url)

    print("(a) known patient", flush=True)
    entry = emulator.ring(numbers["known"], extension)
    card = card_of(page, numbers["known"])
    card.locator(".o_medpulse_card_next").wait_for()
    card.locator(".o_medpulse_card_last_service").wait_for()
    # The first ringing card offers desktop notifications once: "Not now" (see the README).
    later = card.locator(".o_medpulse_card_notify_later")
    if later.count():
        later.click()
        later.wait_for(state="detached")
    save(page, out / "card_known_patient.png", card)
    close(page, emulator, entry, numbers["known"])

    print("(b) unknown caller", flush=True)
    entry = emulator.ring(UNKNOWN_NUMBER, extension)
    card = card_of(page, UNKNOWN_NUMBER)
    card.locator(".o_medpulse_card_create").wait_for()
    save(page, out / "card_unknown_caller.png", card)
    close(page, emulator, entry, UNKNOWN_NUMBER)

    print("(c) shared number", flush=True)
    entry = emulator.ring(numbers["shared"], extension)
    card = card_of(page, numbers["shared"])
    card.locator(".o_medpulse_card_chooser").wait_for()
    save(page, out / "card_shared_number.png", card)
    close(page, emulator, entry, numbers["shared"])

    print("(d) in call, transfer panel", flush=True)
    entry = emulator.ring(numbers["known"], extension)
    card = card_of(page, numbers["known"])
    card.locator(".o_medpulse_card_patient_name").wait_for()
    emulator.post("answer", {"extension": extension})
    card.locator(".o_medpulse_card_timer").wait_for()
    card.locator(".o_medpulse_card_transfer_toggle").click()
    card.locator(".o_medpulse_card_transfer_target").first.wait_for()
    page.wait_for_timeout(2500)  # the timer shows a few seconds of talk
    save(page, out / "card_in_call_transfer.png", card)

    print("(e) appointment form from the card", flush=True)
    card.locator(".o_medpulse_card_transfer_toggle").click()
    card.locator(".o_medpulse_card_transfer").wait_for(state="detached")
    card.locator(".o_medpulse_card_book").click()
    dialog = page.locator(".modal .o_form_view")
    patient_input = dialog.locator("div[name=patient_id] input")
    patient_input.wait_for()
    if not patient_input.input_value():
        raise RuntimeError("the appointment form is not prefilled with the patient")
    # The operator picks a doctor and a service; the next free slot fills the start.
    for field, name in (("doctor_id", doctor["name"]), ("service_id", service["name"])):
        dialog.locator(f"div[name={field}] input").fill(name)
        page.locator(".o-autocomplete--dropdown-item", has_text=name).first.click()
    start = dialog.locator("div[name=start] input")
    deadline = time.monotonic() + 30
    while not start.input_value() and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    page.locator(".modal-title").first.click()  # no focused field, no open dropdown
    save(page, out / "card_book_appointment.png")
    page.locator(".modal .o_form_button_cancel").click()
    page.locator(".modal").first.wait_for(state="detached")
    close(page, emulator, entry, numbers["known"])

    print("(f) known patient, Russian", flush=True)
    [user_id] = rpc("res.users", "search", [("login", "=", login_name)])
    rpc("res.users", "write", [user_id], {"lang": "ru_RU"})
    try:
        page.reload()
        page.locator(".o_main_navbar").wait_for()
        page.locator(".o_list_view, .o_kanban_view").first.wait_for()
        entry = emulator.ring(numbers["known"], extension)
        card = card_of(page, numbers["known"])
        card.locator(".o_medpulse_card_next").wait_for()
        save(page, out / "card_known_patient_ru.png", card)
        close(page, emulator, entry, numbers["known"])
    finally:
        rpc("res.users", "write", [user_id], {"lang": "en_US"})


# ----------------------------------------------------------- the screens around the card


def wait_until(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.3)


def call_back_unanswered(page, emulator: Emulator, row, extension: str, hang_up: bool = True):
    """Press the row's *Call back*: the PBX rings the operator's phone, which answers, then
    the caller's, which rings (nobody answers). ``hang_up``: the operator gives up, an
    unanswered attempt; else the call goes on (the call-back is being called)."""
    before = {call["entry_id"] for call in emulator.get("calls")["active"]}
    row.locator("button.o_medpulse_call_back").click()

    def ringing():
        try:
            emulator.post("answer", {"extension": extension})
        except urllib.error.HTTPError:  # not ringing yet
            return False
        return True

    wait_until(ringing, f"the click-to-call to ring extension {extension}")
    new = []

    def dialling():
        new[:] = [c for c in emulator.get("calls")["active"] if c["entry_id"] not in before
                  and any(leg["to"].get("number") and leg["state"] == "Appeared"
                          for leg in c["legs"])]
        return bool(new)

    wait_until(dialling, "the PBX to dial the caller")
    if hang_up:
        emulator.hang_up(new[0]["entry_id"])
        wait_until(lambda: all(c["entry_id"] != new[0]["entry_id"]
                               for c in emulator.get("calls")["active"]), "the call to end")
    return new[0]["entry_id"]


def shoot_callbacks(browser, url: str, rpc: OdooRPC, emulator: Emulator, out: Path) -> None:
    """*Missed calls to return* with a call-back being called, and its form with attempts."""
    login_name, password, extension = OPERATOR
    page = sign_in(browser, url, login_name, password, WIDE)
    action = "medpulse_telephony.medpulse_call_callback_action"
    open_action(page, url, action)
    rows_of(page, 2)
    # A patient's call-back, called back once without an answer, then again.
    waiting = rpc("medpulse.call.callback", "search_read",
                  [("state", "in", ("open", "overdue")), ("patient_id", "!=", False)],
                  fields=["e164"], order="due_at desc")
    if not waiting:
        raise RuntimeError("no patient's call-back is open: the demo data")
    number = waiting[0]["e164"]

    def callback(field):
        return rpc("medpulse.call.callback", "search_read",
                   [("e164", "=", number), ("state", "in", ("open", "overdue"))],
                   fields=[field])[0][field]

    call_back_unanswered(page, emulator, rows_of(page).filter(has_text=number).first, extension)
    wait_until(lambda: callback("attempt_count") >= 1, "the unanswered attempt")
    open_action(page, url, action)
    row = rows_of(page, 2).filter(has_text=number).first
    entry = call_back_unanswered(page, emulator, row, extension, hang_up=False)
    wait_until(lambda: callback("being_called_by_id"), "the claim of the call")
    open_action(page, url, action)
    rows = rows_of(page, 2)
    rows.filter(has_text=number).locator("td[name=being_called_by_id] img").wait_for()
    # Room for the due times: the last miss's column is optional (kept off for this user).
    page.locator(".o_optional_columns_dropdown_toggle").click()
    page.locator(".o-dropdown--menu .dropdown-item", has_text="Last miss").click()
    page.locator(".o_list_view th[data-name=last_missed_at]").wait_for(state="detached")
    page.keyboard.press("Escape")
    print("(g) missed calls to return", flush=True)
    save_screen(page, out / "callbacks_list.png", page.locator(".o_list_renderer table"))
    emulator.hang_up(entry)
    wait_until(lambda: callback("attempt_count") >= 2, "the second attempt")

    print("(h) a call-back's form: owner, due, attempts", flush=True)
    open_action(page, url, action)
    rows_of(page, 2).filter(has_text=number).locator("td[name=user_id]").click()
    form = page.locator(".o_form_view")
    form.locator(".o_field_widget[name=attempt_call_ids] .o_data_row").nth(1).wait_for()
    save_screen(page, out / "callback_form.png", form.locator(".o_form_sheet"))

    print("(i) missed calls to return, Russian", flush=True)
    [user_id] = rpc("res.users", "search", [("login", "=", login_name)])
    rpc("res.users", "write", [user_id], {"lang": "ru_RU"})
    try:
        open_action(page, url, action)
        rows_of(page, 2)
        page.locator(".o_list_view th", has_text="Ответственный").wait_for()
        save_screen(page, out / "callbacks_list_ru.png", page.locator(".o_list_renderer table"))
    finally:
        rpc("res.users", "write", [user_id], {"lang": "en_US"})
    page.context.close()


def varied_day(rpc: OdooRPC) -> str:
    """The label, as the list groups it, of a recent reconciled day of the ledger: of the
    last seven, the latest of those whose callers had the most different outcomes (in
    time, late, never...)."""
    groups = rpc("medpulse.call.ledger", "read_group",
                 [("period", "=", "day"), ("reconciled", "=", True)], ["caller_count:sum"],
                 ["date:day", "outcome"], lazy=False, orderby="date desc")
    outcomes: dict[str, set[str]] = {}
    for group in groups:
        outcomes.setdefault(group["date:day"], set()).add(group["outcome"])
    if not outcomes:
        raise RuntimeError("the lost-patient ledger has no reconciled day: the demo data")
    recent = list(outcomes)[:7]
    return max(recent, key=lambda day: len(outcomes[day]))  # the first (latest) of the best


def shoot_ledger(browser, url: str, rpc: OdooRPC, out: Path) -> None:
    """The lost-patient ledger: a day's callers with the day's totals; weeks in the pivot."""
    page = sign_in(browser, url, *MANAGER, WIDE)
    open_action(page, url, "medpulse_telephony.medpulse_call_ledger_action")
    rows_of(page, 3)
    print("(j) the ledger per day", flush=True)
    search = page.locator(".o_searchview_dropdown_toggler")
    search.click()
    menu = page.locator(".o_group_by_menu")
    menu.get_by_role("button", name="Day", exact=True).click()
    menu.locator(".o_accordion_values .o_item_option", has_text="Day").click()
    search.click()
    groups = page.locator(".o_list_view .o_group_header")
    groups.nth(2).wait_for()
    # The latest days first (sorted by date, descending); opened: the latest day (today,
    # maybe not reconciled yet) and the latest of the most varied outcomes.
    header = page.locator(".o_list_view th[data-name=date]")
    header.click()
    page.locator(".o_list_view th[data-name=date].o-sort-up, "
                 ".o_list_view th[data-name=date] .fa-angle-up").first.wait_for()
    header.click()
    page.locator(".o_list_view th[data-name=date].o-sort-down, "
                 ".o_list_view th[data-name=date] .fa-angle-down").first.wait_for()
    varied = groups.filter(has_text=varied_day(rpc)).first
    for group in (varied, groups.first):
        if "o_group_open" not in (group.get_attribute("class") or ""):
            group.click()
            page.wait_for_timeout(300)
    rows_of(page, 3)
    save_screen(page, out / "ledger_day.png")

    print("(k) the ledger per week, pivot", flush=True)
    open_action(page, url, "medpulse_telephony.medpulse_call_ledger_action")
    rows_of(page)
    page.locator(".o_searchview_facet .o_facet_remove").first.click()
    search.click()
    page.locator(".o_filter_menu .o_menu_item", has_text="Per week").click()
    search.click()
    page.locator(".o_switch_view.o_pivot").click()
    pivot = page.locator(".o_pivot table")
    pivot.locator("tbody tr").nth(2).wait_for()
    # One column per figure, not per outcome: the weeks' callers, how they were reached,
    # and the shares.
    pivot.locator("thead .o_pivot_header_cell_opened").first.click()
    pivot.locator("thead .o_pivot_header_cell_closed").first.wait_for()
    page.locator(".o_pivot_buttons button", has_text="Measures").click()
    for measure in ("Reached in time", "Reached late", "Never reached",
                    "Reached in time (%)", "Never reached (%)"):
        page.locator(".o-dropdown--menu .dropdown-item").get_by_text(measure, exact=True).click()
        pivot.locator("thead th", has_text=measure).first.wait_for()
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")
    save_screen(page, out / "ledger_week.png", pivot)
    page.context.close()


def shoot_incidents(browser, url: str, out: Path) -> None:
    page = sign_in(browser, url, *MANAGER, VIEWPORT)
    open_action(page, url, "medpulse_telephony.medpulse_telephony_incident_action")
    rows = rows_of(page)
    print("(l) integration incidents", flush=True)
    save_screen(page, out / "incidents_list.png", page.locator(".o_list_renderer table"))
    rows.first.locator("td.o_data_cell").first.click()
    form = page.locator(".o_form_view")
    form.locator(".o_field_widget[name=details]").wait_for()
    print("(m) an incident", flush=True)
    save_screen(page, out / "incident_form.png")
    page.context.close()


def shoot_away(browser, url: str, out: Path) -> None:
    """The systray's switch: on duty, then away (with its notice), side by side."""
    from PIL import Image  # noqa: PLC0415 - Odoo's dependency

    page = sign_in(browser, url, OPERATOR[0], OPERATOR[1], VIEWPORT)
    open_action(page, url, "medpulse_telephony.medpulse_call_callback_action")
    dismiss_notifications(page)
    toggle = page.locator(".o_medpulse_away_toggle")
    page.locator(".o_medpulse_away_toggle.o_medpulse_on_duty").wait_for()
    print("(n) on duty / away", flush=True)
    width = VIEWPORT["width"]
    clip = {"x": width - 460, "y": 0, "width": 460, "height": 112}
    parts = [out / "away_on_duty.tmp.png", out / "away_away.tmp.png"]
    page.mouse.move(0, VIEWPORT["height"] - 1)
    page.wait_for_timeout(400)
    page.screenshot(path=str(parts[0]), clip=clip, animations="disabled", caret="hide")
    toggle.click()
    page.locator(".o_medpulse_away_toggle.o_medpulse_away").wait_for()
    page.locator(".o_notification", has_text="You are away").wait_for()
    page.mouse.move(0, VIEWPORT["height"] - 1)
    page.wait_for_timeout(400)
    page.screenshot(path=str(parts[1]), clip=clip, animations="disabled", caret="hide")
    toggle.click()  # on duty again
    page.locator(".o_medpulse_away_toggle.o_medpulse_on_duty").wait_for()
    images = [Image.open(part) for part in parts]
    gap = 12
    combined = Image.new("RGB", (sum(i.width for i in images) + gap, images[0].height), "white")
    combined.paste(images[0], (0, 0))
    combined.paste(images[1], (images[0].width + gap, 0))
    path = out / "away_switch.png"
    combined.save(path, optimize=True)
    for image, part in zip(images, parts, strict=True):
        image.close()
        part.unlink()
    shrink(path)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{path.stat().st_size // 1024} KB", flush=True)
    page.context.close()


def shoot_patient(browser, url: str, rpc: OdooRPC, out: Path, since: str) -> None:
    """A patient with an open call-back and calls of every kind: the form's *Calls* tab."""
    callbacks = rpc("medpulse.call.callback", "search_read",
                    [("state", "in", ("open", "overdue")), ("patient_id", "!=", False)],
                    fields=["patient_id", "first_missed_at"], order="first_missed_at")
    if not callbacks:
        raise RuntimeError("no patient has an open call-back: the demo data")
    # One of the history's, not of the calls the card's screenshots rang (after ``since``).
    callbacks = [cb for cb in callbacks if cb["first_missed_at"] < since] or callbacks
    patient_id = max(
        {cb["patient_id"][0] for cb in callbacks},
        key=lambda pid: (rpc("medpulse.call", "search_count", [("patient_id", "=", pid),
                                                               ("outcome_id", "!=", False)]),
                         rpc("medpulse.call", "search_count", [("patient_id", "=", pid)])),
    )
    # Wide and tall: the form's sheet whole, the chatter (notes of the calls' outcomes) beside.
    page = sign_in(browser, url, OPERATOR[0], OPERATOR[1], {"width": 1920, "height": 1400})
    page.goto(f"{url}/odoo/action-medpulse_clinic.medpulse_patient_action/{patient_id}")
    form = page.locator(".o_form_view")
    form.locator(".o_notebook a[name=medpulse_calls]").click()
    form.locator(".o_medpulse_patient_callbacks .o_data_row").first.wait_for()
    form.locator(".o_medpulse_patient_calls .o_data_row").nth(1).wait_for()
    print("(o) the patient's calls", flush=True)
    save_screen(page, out / "patient_calls.png", form.locator(".o_form_sheet"))
def shoot_wallboard(browser, odoo, emulator: Emulator, rpc: OdooRPC, out: Path) -> None:
    """The wallboard as the administrator (a telephony and clinic manager) sees it: a patient
    talking to extension 102, an unknown caller ringing 103; then in TV mode."""
    numbers = pick_numbers(rpc)
    page = login(browser, odoo, "admin", "admin", viewport=VIEWPORT,
                 default_timeout=60000, load_timeout=300000)
    page.goto(f"{odoo.url}/odoo/action-medpulse_telephony.medpulse_wallboard_action")
    page.locator(".o_medpulse_wallboard_operators").wait_for()
    talking = emulator.ring(numbers["known"], "102")
    page.locator(".o_medpulse_wallboard_waiting tr[data-call-id]").first.wait_for()
    emulator.post("answer", {"extension": "102"})
    page.locator(".o_medpulse_wallboard_in_progress tr[data-call-id]").first.wait_for()
    ringing = emulator.ring(UNKNOWN_NUMBER, "103")
    page.locator(".o_medpulse_wallboard_waiting tr[data-call-id]").first.wait_for()
    page.wait_for_timeout(3000)  # the counters show a few seconds
    print("(g) wallboard", flush=True)
    save(page, out / "wallboard.png")
    page.locator(".o_medpulse_wallboard_tv_toggle").click()
    page.locator(".o_medpulse_wallboard_tv").wait_for()
    print("(h) wallboard, TV mode", flush=True)
    save(page, out / "wallboard_tv.png")
    page.locator(".o_medpulse_wallboard_tv_toggle").click()
    for entry in (talking, ringing):
        emulator.hang_up(entry)
    page.context.close()


def shoot_outreach(browser, url: str, rpc: OdooRPC, out: Path) -> None:
    """SMS and reminders: the *Send SMS* dialog's preview, the reminder rules, the
    confirmation call list."""
    patients = rpc("medpulse.patient", "search_read",
                   [("consent_sms", "=", True), ("phone_ids", "!=", False),
                    ("appointment_ids.state", "in", ("scheduled", "confirmed"))],
                   fields=["name"], limit=1, order="id")
    if not patients:
        raise RuntimeError("no patient with SMS consent, a number and an appointment: the demo")
    page = sign_in(browser, url, OPERATOR[0], OPERATOR[1], VIEWPORT)
    page.goto(f"{url}/odoo/action-medpulse_clinic.medpulse_patient_action/{patients[0]['id']}")
    page.locator(".o_form_view button.o_medpulse_sms_send").click()
    dialog = page.locator(".modal-dialog")
    template = dialog.locator(".o_field_widget[name=template_id] input")
    template.fill("Appointment reminder")
    page.locator(".o-autocomplete--dropdown-item", has_text="Appointment reminder").first.click()
    dialog.locator(".o_medpulse_sms_size .o_field_widget[name=size_info]").wait_for()
    page.wait_for_timeout(500)
    print("(p) the Send SMS dialog's preview", flush=True)
    save_screen(page, out / "sms_preview.png")
    dialog.locator("button", has_text="Cancel").click()
    open_action(page, url, "medpulse_telephony.medpulse_confirmation_item_action")
    rows_of(page)
    print("(q) the confirmation call list", flush=True)
    save_screen(page, out / "confirmation_list.png", page.locator(".o_list_renderer table"))
    page.context.close()

    page = sign_in(browser, url, *MANAGER, VIEWPORT)
    open_action(page, url, "medpulse_telephony.medpulse_reminder_rule_action")
    rows_of(page, 2)
    print("(r) the reminder rules", flush=True)
    save_screen(page, out / "reminder_rules.png", page.locator(".o_list_renderer table"))
    page.context.close()


def shoot_card_actions(browser, url: str, rpc: OdooRPC, emulator: Emulator, out: Path) -> None:
    """The card's appointment actions: Confirm / Move / Cancel on a caller's upcoming
    appointment (Move opened), then the next free times of a patient with none to come."""
    extension = OPERATOR[2]
    numbers = pick_numbers(rpc)
    phones = rpc("medpulse.patient.phone", "search_read", [("number_e164", "!=", False)],
                 fields=["number_e164", "patient_id"], order="id")
    owners: dict[str, set[int]] = {}
    for phone in phones:
        owners.setdefault(phone["number_e164"], set()).add(phone["patient_id"][0])
    lapsed = {p["id"] for p in rpc("medpulse.patient", "search_read", [
        ("last_visit_at", "!=", False), ("last_service_id", "!=", False),
        ("next_appointment_id", "=", False)], fields=["name"], order="id")}
    again = next((n.lstrip("+") for n, ids in owners.items() if len(ids) == 1 and ids <= lapsed),
                 None)
    page = sign_in(browser, url, OPERATOR[0], OPERATOR[1], VIEWPORT)
    open_journal(page, url)

    print("(s) the caller's appointment: confirm, move, cancel", flush=True)
    entry = emulator.ring(numbers["known"], extension)
    card = card_of(page, numbers["known"])
    card.locator(".o_medpulse_card_move").wait_for()  # Confirm only if not confirmed yet
    later = card.locator(".o_medpulse_card_notify_later")
    if later.count():
        later.click()
        later.wait_for(state="detached")
    card.locator(".o_medpulse_card_move").click()
    card.locator(".o_medpulse_card_move_slots .o_medpulse_card_slot").first.wait_for()
    save(page, out / "card_appointment_actions.png", card)
    close(page, emulator, entry, numbers["known"])

    if again is None:
        print("  no patient without an appointment to come: the demo data", flush=True)
    else:
        print("(t) book again: the last doctor's free times", flush=True)
        entry = emulator.ring(again, extension)
        card = card_of(page, again)
        card.locator(".o_medpulse_card_book_slots .o_medpulse_card_slot").first.wait_for()
        save(page, out / "card_book_again.png", card)
        close(page, emulator, entry, again)
    page.context.close()


def shoot_recall(browser, url: str, out: Path) -> None:
    page = sign_in(browser, url, OPERATOR[0], OPERATOR[1], WIDE)
    open_action(page, url, "medpulse_telephony.medpulse_confirmation_item_recall_action")
    rows_of(page)
    print("(u) the no-show recall list", flush=True)
    save_screen(page, out / "recall_list.png", page.locator(".o_list_renderer table"))
    page.context.close()


def open_groups(page) -> None:
    """Open the list's groups (a grouped list shows its rows once opened)."""
    groups = page.locator(".o_list_view .o_group_header")
    for index in range(min(groups.count(), 3)):
        group = groups.nth(index)
        if "o_group_open" not in (group.get_attribute("class") or ""):
            group.click()
            page.wait_for_timeout(400)


def shoot_waitlist(browser, url: str, out: Path) -> None:
    """The waiting list and the freed slots' offers as the receptionist; the refills report
    as the administrator."""
    page = sign_in(browser, url, OPERATOR[0], OPERATOR[1], WIDE)
    open_action(page, url, "medpulse_telephony.medpulse_waitlist_action")
    rows_of(page, 2)
    print("(v) the waiting list", flush=True)
    save_screen(page, out / "waitlist_list.png", page.locator(".o_list_renderer table"))
    open_action(page, url, "medpulse_telephony.medpulse_waitlist_offer_action")
    page.locator(".o_list_view .o_group_header, .o_list_view .o_data_row").first.wait_for()
    open_groups(page)
    rows_of(page)
    print("(w) offer freed slots", flush=True)
    save_screen(page, out / "waitlist_offers.png", page.locator(".o_list_renderer table"))
    page.context.close()

    page = sign_in(browser, url, *MANAGER, VIEWPORT)
    open_action(page, url, "medpulse_telephony.medpulse_waitlist_slot_action_report", ".o_pivot")
    pivot = page.locator(".o_pivot table")
    pivot.locator("tbody tr").nth(1).wait_for()
    print("(x) waiting list refills", flush=True)
    save_screen(page, out / "waitlist_refills.png", pivot)
    page.context.close()


def shoot_insight(browser, url: str, rpc: OdooRPC, out: Path) -> None:
    """A call's keys, voice-menu places, topics and source; calls by source."""
    [cron] = rpc("ir.model.data", "search_read",
                 [("module", "=", "medpulse_telephony"),
                  ("name", "=", "ir_cron_medpulse_call_insight_fetch")], fields=["res_id"])
    rpc("ir.cron", "method_direct_trigger", [cron["res_id"]])
    calls = []
    for domain in ([("dtmf_choices", "!=", False), ("topic_ids", "!=", False),
                    ("dct_source", "!=", False)],
                   [("topic_ids", "!=", False), ("dct_source", "!=", False)],
                   [("dtmf_choices", "!=", False), ("topic_ids", "!=", False)],
                   [("dtmf_choices", "!=", False), ("dct_source", "!=", False)]):
        calls = rpc("medpulse.call", "search", domain, limit=1, order="id desc")
        if calls:
            print(f"  a call with {', '.join(term[0] for term in domain)}", flush=True)
            break
    if not calls:
        raise RuntimeError("no call with keys, topics or a source: the demo data")
    page = sign_in(browser, url, *MANAGER, VIEWPORT)
    page.goto(f"{url}/odoo/action-medpulse_telephony.medpulse_call_action/{calls[0]}")
    form = page.locator(".o_form_view")
    form.locator(".o_notebook a[name=insight]").click()
    form.locator(".o_field_widget[name=dct_source]").wait_for()
    print("(y) what the call was about", flush=True)
    save_screen(page, out / "call_insight.png", form.locator(".o_form_sheet"))
    open_action(page, url, "medpulse_telephony.medpulse_call_source_report_action", ".o_pivot")
    pivot = page.locator(".o_pivot table")
    pivot.locator("tbody tr").nth(1).wait_for()
    print("(z) calls by source", flush=True)
    save_screen(page, out / "calls_by_source.png", pivot)
    page.context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--only", default=",".join(SHOTS),
                        help=f"comma-separated screens to shoot, of: {', '.join(SHOTS)}")
    opts = parser.parse_args()
    only = {name.strip() for name in opts.only.split(",") if name.strip()}
    if not only or only - set(SHOTS):
        parser.error(f"--only takes some of: {', '.join(SHOTS)}")
    opts.out.mkdir(parents=True, exist_ok=True)
    browser_path = os.environ.get("MEDPULSE_BROWSER") or shutil.which("chromium")
    if not browser_path:
        parser.error("Chromium not found (apt-get install chromium)")

    work = Path(tempfile.mkdtemp(prefix="medpulse-shots-"))
    api_key, api_salt, pbx_port = secrets.token_hex(12), secrets.token_hex(16), free_port()
    odoo = None
    emulator_proc = None
    try:
        odoo = prepare(work, api_key, api_salt, pbx_port)
        odoo.start(timeout=300)
        with open(work / "emulator.log", "w") as log:
            emulator_proc = subprocess.Popen(
                [odoo.python, "-m", "mango_vpbx_emulator", "serve", "--port", str(pbx_port),
                 "--webhook", f"{odoo.url}/mango", "--api-key", api_key, "--api-salt", api_salt,
                 "--directory", str(work / "emulator" / "directory.json"),
                 "--history", str(work / "emulator" / "history.json")],
                cwd=ROOT, env=odoo.env(), stdout=log, stderr=subprocess.STDOUT,
            )
        emulator = Emulator(pbx_port)
        emulator.wait_ready(emulator_proc)
        emulator.post("config", {"autopilot": {"enabled": False}})
        rpc = OdooRPC(odoo.url, odoo.dbname, *MANAGER, timeout=120)
        settle_history(rpc, work)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())  # the history's end
        # The transfer panel offers the queue too ("Automatically (group 500)").
        rpc("ir.config_parameter", "set_param", "medpulse_telephony.card_transfer_group",
            TRANSFER_GROUP)
        install_russian(rpc)

        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - imported where it is needed

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=browser_path, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
            )
            try:
                if "card" in only:
                    page = login(browser, odoo, OPERATOR[0], OPERATOR[1], viewport=VIEWPORT,
                                 default_timeout=60000, load_timeout=300000)
                    shoot(page, odoo.url, rpc, emulator, opts.out)
                    page.context.close()
                if "callbacks" in only:
                    shoot_callbacks(browser, odoo.url, rpc, emulator, opts.out)
                if "ledger" in only:
                    shoot_ledger(browser, odoo.url, rpc, opts.out)
                if "incidents" in only:
                    shoot_incidents(browser, odoo.url, opts.out)
                if "away" in only:
                    shoot_away(browser, odoo.url, opts.out)
                if "patient" in only:
                    shoot_patient(browser, odoo.url, rpc, opts.out, since)
                if "wallboard" in only:
                    shoot_wallboard(browser, odoo, emulator, rpc, opts.out)
                if "outreach" in only:
                    shoot_outreach(browser, odoo.url, rpc, opts.out)
                if "card_actions" in only:
                    shoot_card_actions(browser, odoo.url, rpc, emulator, opts.out)
                if "recall" in only:
                    shoot_recall(browser, odoo.url, opts.out)
                if "waitlist" in only:
                    shoot_waitlist(browser, odoo.url, opts.out)
                if "insight" in only:
                    shoot_insight(browser, odoo.url, rpc, opts.out)
            finally:
                browser.close()
    finally:
        if emulator_proc is not None:
            emulator_proc.terminate()
            emulator_proc.wait(timeout=10)
        if odoo is not None:
            odoo.drop()
        if opts.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots in {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
