"""The call journal follows the calls by itself: a real server (bus live), signed PBX
events through the webhook, a browser that never reloads."""

from __future__ import annotations

from card_helpers import Call, SignedPbx, login
from playwright.sync_api import expect


def test_a_new_call_appears_in_the_open_journal(browser, odoo_server, pbx_credentials):
    pbx = SignedPbx(odoo_server.url, *pbx_credentials)
    page = login(browser, odoo_server, "admin", "admin")
    try:
        page.goto(f"{odoo_server.url}/odoo/action-medpulse_telephony.medpulse_call_action")
        expect(page.locator(".o_list_view")).to_be_visible()
        row = page.locator(".o_list_view .o_data_row", has_text="60-61")
        expect(row).to_have_count(0)
        Call(pbx, "79990006061").ivr().ring("101").drop("101", reason=1111)
        expect(row).to_be_visible(timeout=15000)
    finally:
        page.context.close()
