"""Screenshots of the incoming-call card and the wallboard for the README
(``docs/screenshots/*.png``).

    /opt/odoo18/venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--keep]
        [--only card|wallboard]

Starts what the end-to-end tests start: a throw-away demo database initialised by
``scripts/demo_init.py`` (the Russian translation then loaded as an administrator
would, with ``base.language.install``), its Odoo server (:class:`odoo_instance.OdooInstance`)
and the PBX emulator as a subprocess wired to it. Headless Chromium (Playwright, 1280x800)
signs in as the operator ``demo`` (extension 102); the emulator rings that extension from a
known patient's number, an unknown number and a number shared by several patients, and each
state of the card is
saved. The database, its filestore and both servers are gone at the end (``--keep``
keeps the work folder with the logs).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odoo_instance import ADDONS, ROOT, OdooInstance, free_port  # noqa: E402 - after the sys.path set-up above

# The end-to-end harness's RPC client and browser sign-in (card_helpers needs mango_vpbx).
sys.path[1:1] = [str(ROOT / "tests" / "e2e"), str(ROOT)]
from card_helpers import login  # noqa: E402 - after the sys.path set-up above
from conftest import OdooRPC  # noqa: E402 - after the sys.path set-up above

OPERATOR = ("demo", "demo", "102")  # login, password, extension (see demo_init.OPERATORS)
UNKNOWN_NUMBER = "79990001234"
TRANSFER_GROUP = "500"  # the emulator's demo queue
VIEWPORT = {"width": 1280, "height": 800}
MAX_BYTES = 150_000
CARD = ".o_medpulse_incoming_card"


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
    """The demo database, made by demo_init.py exactly as for the demo and the e2e tests."""
    odoo = OdooInstance(f"medpulse_shots_{os.getpid()}", work)
    odoo.write_config()
    print(f"installing {', '.join(ADDONS)} with demo data into {odoo.dbname}…", flush=True)
    with (work / "install.log").open("w") as log:
        subprocess.run(
            [odoo.python, str(ROOT / "scripts" / "demo_init.py"), "-c", str(odoo.config_path),
             "-d", odoo.dbname, "--pbx-url", f"http://127.0.0.1:{pbx_port}/vpbx/",
             "--api-key", api_key, "--api-salt", api_salt, "--odoo-url", odoo.url],
            check=True, env=odoo.env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
    return odoo


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--only", choices=["card", "wallboard"], help="one set of screenshots")
    opts = parser.parse_args()
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
                 "--webhook", f"{odoo.url}/mango", "--api-key", api_key, "--api-salt", api_salt],
                cwd=ROOT, env=odoo.env(), stdout=log, stderr=subprocess.STDOUT,
            )
        emulator = Emulator(pbx_port)
        emulator.wait_ready(emulator_proc)
        emulator.post("config", {"autopilot": {"enabled": False}})
        rpc = OdooRPC(odoo.url, odoo.dbname, "admin", "admin", timeout=120)
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
                if opts.only != "wallboard":
                    page = login(browser, odoo, OPERATOR[0], OPERATOR[1], viewport=VIEWPORT,
                                  default_timeout=60000, load_timeout=300000)
                    shoot(page, odoo.url, rpc, emulator, opts.out)
                    page.context.close()
                if opts.only != "card":
                    shoot_wallboard(browser, odoo, emulator, rpc, opts.out)
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
