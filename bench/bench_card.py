"""Card latency: ``Appeared`` at the operator's phone -> the incoming-call card visible.

A real browser (Playwright driving ``/usr/bin/chromium``, headless) is signed in as the
bench receptionist (extension 101) on the running server (``--workers=2``), through
``server.PathRouter`` (``web_url``) so that its bus websocket reaches the gevent port. For each
of N calls the emulator rings extension 101 from a
patient's number; the clock starts when the signed ``Appeared`` event is posted and
stops at the first animation frame after the card element
(``.o_medpulse_incoming_card``) entered the page, read from the page's own clock
(``performance.timeOrigin + performance.now()``, the same wall clock on one machine).
The caller then hangs up while it still rings (a missed call: the server sends the card
``closed`` and it goes), and the next call starts. A card still on the page 5 s after
the hang-up is dismissed (the first card, again and again: a dismissal re-renders the
list) and counted as ``stayed``, with the status it showed. Cards the page restores at
sign-in (``get_active_cards``: unfinished calls that rang 101 earlier) are dismissed
before the first call and listed as ``restored_at_sign_in``; the ingest benchmark never
rings 101, so there should be none.

Measured idle, then under background load: the emulator's load mode at half the
webhook throughput measured by the ingest benchmark in the same run, ringing every
other operator (never 101, whose card is being timed).
"""

from __future__ import annotations

import random
import subprocess
import time

import bench_ingest
from common import BENCH_LOGIN, summarize_ms

CHROMIUM = "/usr/bin/chromium"
CARD = ".o_medpulse_incoming_card"
EXTENSION = "101"
# Every card element that enters the page, with the wall-clock time of the next frame.
OBSERVER = """
window.__medpulseCards = [];
new MutationObserver((mutations) => {
    for (const m of mutations) {
        for (const node of m.addedNodes) {
            if (node.nodeType !== 1) continue;
            const cards = node.matches('__CARD__') ? [node] : node.querySelectorAll('__CARD__');
            for (const card of cards) {
                requestAnimationFrame(() => {
                    const number = card.querySelector('.o_medpulse_card_number');
                    window.__medpulseCards.push({
                        id: card.dataset.callId,
                        digits: (number ? number.textContent : '').replace(/\\D/g, ''),
                        t: performance.timeOrigin + performance.now(),
                    });
                });
            }
        }
    }
}).observe(document, {childList: true, subtree: true});
""".replace("__CARD__", CARD)


def without_receptionist(employees: str) -> str:
    """The ``--employees`` flag of the load generator without extension 101."""
    return ",".join(e for e in employees.split(",") if not e.startswith(EXTENSION + ":"))


def _numbers(instance, count: int) -> list[str]:
    import psycopg2  # noqa: PLC0415 - imported where it is needed

    conn = psycopg2.connect(dbname=instance.dbname, host=instance.pg.host, user=instance.pg.user)
    with conn, conn.cursor() as cr:
        cr.execute("SELECT number_e164 FROM medpulse_patient_phone WHERE sequence = 1 "
                   "AND number_e164 IS NOT NULL ORDER BY id LIMIT 5000")
        numbers = [r[0][1:] for r in cr.fetchall()]
    conn.close()
    return random.Random(3).sample(numbers, min(count, len(numbers)))


def _pbx(instance):
    from mango_vpbx_emulator.pbx import Pbx  # noqa: PLC0415 - the checkout under test
    from mango_vpbx_emulator.sender import EventSender  # noqa: PLC0415 - imported where it is needed
    from mango_vpbx_emulator.state import directory_from_config  # noqa: PLC0415 - imported where it is needed

    directory = directory_from_config(
        {"employees": [{"extension": EXTENSION, "name": "Bench receptionist"}]})
    sender = EventSender(instance.url + "/mango", bench_ingest.API_KEY, bench_ingest.API_SALT)
    return Pbx(directory, sender, speed=1.0), sender


def measure(page, instance, numbers: list[str], timeout: float = 10.0,
            close_timeout: float = 5.0) -> dict:
    """Ring 101 from each number, time its card, hang up; cards left open are dismissed
    and counted (``stayed``, with the status they showed)."""
    pbx, sender = _pbx(instance)
    samples, missing, stayed = [], 0, []
    for number in numbers:
        seen = page.evaluate("window.__medpulseCards.length")
        call, ivr = pbx.incoming(number)
        sent = time.time() * 1000
        pbx.ring(call, ivr, [EXTENSION])
        # this call's card: a later element showing its number (a re-rendered older
        # card must not stop the clock)
        mine = (f"window.__medpulseCards.slice({seen})"
                f".find(c => c.digits.endsWith('{number[-10:]}'))")
        try:
            page.wait_for_function(f"!!({mine})", timeout=timeout * 1000)
            samples.append(page.evaluate(f"({mine}).t") - sent)
        except Exception:  # noqa: BLE001 - a card that never came is counted, not fatal
            missing += 1
        pbx.caller_hangup(call.entry_id)
        try:
            page.wait_for_selector(CARD, state="detached", timeout=close_timeout * 1000)
        except Exception:  # noqa: BLE001 - the card did not close on hang-up: dismiss it
            left = _dismiss_all(page)
            stayed.append({"digits": number[-10:], "cards": left})
    pbx.join()
    errors = sum(1 for d in sender.log() if d.status != 200)
    return {**(summarize_ms(samples) if samples else {"n": 0}), "missing": missing,
            "stayed": len(stayed), "stayed_cards": stayed[:5], "webhook_errors": errors}


def _dismiss_all(page, limit: int = 50) -> list[dict]:
    """Dismiss every card on the page, one at a time; what each card showed.

    Each dismissal re-renders the list, so the first card is clicked again and again
    (a list of locators taken beforehand would point past its end), with short
    timeouts; a card that cannot be clicked (e.g. out of the viewport) gets the click
    event dispatched directly.
    """
    cards = page.locator(CARD)
    left = []
    for _ in range(limit):
        if not cards.count():
            break
        first = cards.first
        try:
            left.append(first.evaluate(
                "c => ({id: c.dataset.callId, status: [...c.classList].find("
                "k => k.startsWith('o_medpulse_card_'))?.slice(16)})", timeout=1000))
            button = first.locator(".o_medpulse_card_dismiss")
            try:
                button.click(timeout=2000)
            except Exception:  # noqa: BLE001 - not actionable: the handler still runs
                button.dispatch_event("click", timeout=2000)
        except Exception:  # noqa: BLE001 - the card went by itself meanwhile
            continue
    return left


def run_card(instance, web_url: str, python: str, employees: str, calls: int,
             background_rate: float, callers: str | None = None) -> dict:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only this step needs it

    numbers = _numbers(instance, calls * 2 + 3)
    others = without_receptionist(employees)
    result: dict = {"calls": calls, "background_calls_per_s": background_rate}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.add_init_script(OBSERVER)
        page.goto(web_url + "/web/login")
        page.fill("input[name=login]", BENCH_LOGIN)
        page.fill("input[name=password]", BENCH_LOGIN)
        page.click("button[type=submit]")
        page.wait_for_selector(".o_main_navbar", timeout=60_000)
        # the bus websocket must be up before the first call, or the first card is lost
        page.wait_for_timeout(3000)
        # cards of unfinished calls come back at sign-in (get_active_cards): a clean page
        result["restored_at_sign_in"] = _dismiss_all(page)
        measure(page, instance, numbers[-3:])  # warm-up: assets, caches, first bus message
        result["idle"] = measure(page, instance, numbers[:calls])
        duration = max(30.0, calls * 1.5)
        background = subprocess.Popen(
            bench_ingest.loadgen_command(python, instance.url + "/mango", others,
                                         background_rate, duration, callers=callers),
            env=instance.env(), stdout=subprocess.PIPE, text=True,
        )
        time.sleep(2)  # let the background load reach its pace
        result["loaded"] = measure(page, instance, numbers[calls:2 * calls])
        background.terminate()
        background.wait(30)
        browser.close()
    result["goals"] = {
        "idle_p95_lt_300ms": (result["idle"].get("p95") or 1e9) < 300,
        "loaded_p95_lt_600ms": (result["loaded"].get("p95") or 1e9) < 600,
    }
    return result
