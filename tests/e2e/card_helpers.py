"""Helpers of the incoming-card end-to-end tests: signed call events posted straight to
Odoo's webhook, so a test controls (and times) every leg of a call exactly."""

from __future__ import annotations

import itertools
import time
import urllib.parse
import urllib.request

import mango_vpbx

LINE = "74951234567"
_counter = itertools.count(1)


class SignedPbx:
    """Posts events to ``<odoo>/mango/events/call`` signed like the PBX does."""

    def __init__(self, odoo_url: str, api_key: str, api_salt: str):
        self.url = odoo_url.rstrip("/") + "/mango/events/call"
        self.api_key, self.api_salt = api_key, api_salt

    def post(self, payload: dict) -> None:
        form = mango_vpbx.encode(payload, self.api_key, self.api_salt)
        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(
            urllib.request.Request(self.url, data=data), timeout=30
        ) as resp:
            assert resp.status == 200, resp.status


class Call:
    """One incoming call: the caller waits in the IVR, then operators' phones ring."""

    def __init__(self, pbx: SignedPbx, caller: str):
        self.pbx, self.caller = pbx, caller
        self.entry_id = f"E2E-CARD-{int(time.time())}-{next(_counter)}"
        self.seq: dict[str, int] = {}

    def _event(self, leg: str, state: str, location: str, to: dict, **extra) -> None:
        self.seq[leg] = self.seq.get(leg, 0) + 1
        payload = {
            "entry_id": self.entry_id,
            "call_id": f"{self.entry_id}:{leg}",
            "timestamp": int(time.time()),
            "seq": self.seq[leg],
            "call_state": state,
            "location": location,
            "from": {"number": self.caller},
            "to": to,
        }
        payload.update(extra)
        self.pbx.post(payload)

    def ivr(self) -> Call:
        to = {"number": LINE, "line_number": LINE}
        self._event("ivr", "Appeared", "ivr", to)
        self._event("ivr", "Disconnected", "ivr", to, disconnect_reason=1100)
        return self

    def ring(self, extension: str) -> Call:
        self._event(extension, "Appeared", "abonent", _operator(extension))
        return self

    def answer(self, extension: str) -> Call:
        self._event(extension, "Connected", "abonent", _operator(extension))
        return self

    def drop(self, extension: str, reason: int = 1110) -> Call:
        self._event(
            extension, "Disconnected", "abonent", _operator(extension), disconnect_reason=reason
        )
        return self


def _operator(extension: str) -> dict:
    return {"extension": extension, "number": f"sip:op{extension}@clinic.mangosip.ru",
            "line_number": LINE, "acd_group": "300"}


def login(browser, server, login_name: str, password: str, *, viewport: dict | None = None,
          default_timeout: float = 30000, load_timeout: float = 180000):
    """A new browser context logged in as ``login_name``, its web client loaded.

    Like the harness's ``login`` with room for a first load that builds the asset
    bundles on a busy machine. ``viewport`` fixes the window size at scale 1
    (scripts/screenshots.py); the timeouts are in milliseconds.
    """
    sizing = {"viewport": viewport, "device_scale_factor": 1} if viewport else {}
    context = browser.new_context(locale="en-US", timezone_id="Asia/Yekaterinburg", **sizing)
    context.set_default_timeout(default_timeout)
    page = context.new_page()
    page.goto(f"{server.url}/web/login")
    page.fill("input[name=login]", login_name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/odoo**", wait_until="commit", timeout=load_timeout)
    page.locator(".o_main_navbar").wait_for(timeout=load_timeout)
    return page


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
