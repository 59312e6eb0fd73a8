import { browser } from "@web/core/browser/browser";
import { registry } from "@web/core/registry";

/**
 * Tours of tests/test_wallboard_browser.py: the wallboard is open, and a call rings while it
 * is: the PBX posts its events to the webhook (signed with the test account's keys of
 * tests/common.py), and the board shows the call and the ringing operator without a reload.
 */

const API_KEY = "test-vpbx-key-0001";
const API_SALT = "test-vpbx-salt-0001";
const LINE = "74951234567";
const CALLER = "79161234567";
const TV_MODE_KEY = "medpulse_telephony.wallboard_tv";

async function sha256(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** POST one event to the webhook as the PBX does: a signed form. */
async function post(path, payload) {
    const json = JSON.stringify(payload);
    const body = new URLSearchParams({
        vpbx_api_key: API_KEY,
        sign: await sha256(API_KEY + json + API_SALT),
        json,
    });
    const response = await fetch(`/mango/${path}`, { method: "POST", body });
    if (!response.ok) {
        throw new Error(`the webhook answered ${response.status}`);
    }
}

/** The caller goes through the voice menu, then extension 101 rings. */
async function ring() {
    const entry = `E-WB-TOUR-${Date.now()}`;
    const now = Math.floor(Date.now() / 1000);
    const ivr = { number: LINE, line_number: LINE };
    const operator = { extension: "101", number: "sip:op101@clinic.mangosip.ru", line_number: LINE };
    const event = (callId, seq, state, location, from, to) => ({
        entry_id: entry,
        call_id: callId,
        timestamp: now,
        seq,
        call_state: state,
        location,
        from,
        to,
    });
    await post("events/call", event(`${entry}:ivr`, 1, "Appeared", "ivr", { number: CALLER }, ivr));
    await post(
        "events/call",
        event(`${entry}:ivr`, 2, "Disconnected", "ivr", { number: CALLER }, ivr)
    );
    await post(
        "events/call",
        event(`${entry}:op`, 1, "Appeared", "abonent", { number: CALLER }, operator)
    );
}

function wallboardSteps(named) {
    const waiting = ".o_medpulse_wallboard_waiting tr[data-call-id]";
    return [
        {
            content: "The board is open: nobody waits, the operator is free",
            trigger: ".o_medpulse_wallboard_waiting td:contains(Nobody is waiting)",
            run() {
                browser.localStorage.removeItem(TV_MODE_KEY);
            },
        },
        {
            content: "Olga is free",
            trigger: ".o_medpulse_wallboard_operators tr:contains(Olga Operator) [data-state=free]",
        },
        {
            content: "A call comes in through the webhook",
            trigger: ".o_medpulse_wallboard",
            run: ring,
        },
        {
            content: "It appears by itself, ringing Olga",
            trigger: `${waiting}:contains(Ringing: Olga Operator):contains(+7 916 123-45-67)`,
        },
        {
            content: "Olga is ringing",
            trigger: ".o_medpulse_wallboard_operators tr:contains(Olga Operator) [data-state=ringing]",
        },
        {
            content: named ? "The patient's name is shown" : "No patient name without a clinic role",
            trigger: named
                ? `${waiting}:contains(Ivanova Anna)`
                : `${waiting}:not(:contains(Ivanova Anna))`,
        },
        {
            content: "TV mode",
            trigger: ".o_medpulse_wallboard_tv_toggle",
            run: "click",
        },
        {
            content: "Numbers masked, no names",
            trigger: `.o_medpulse_wallboard_tv ${waiting}:contains(•••4567):not(:contains(Ivanova)):not(:contains(916))`,
        },
        {
            content: "TV mode off again",
            trigger: ".o_medpulse_wallboard_tv_toggle",
            run: "click",
        },
        {
            content: "The board is back to full numbers",
            trigger: `.o_medpulse_wallboard:not(.o_medpulse_wallboard_tv) ${waiting}:contains(+7 916 123-45-67)`,
        },
    ];
}

registry.category("web_tour.tours").add("medpulse_wallboard_named_tour", {
    steps: () => wallboardSteps(true),
});

registry.category("web_tour.tours").add("medpulse_wallboard_unnamed_tour", {
    steps: () => wallboardSteps(false),
});
