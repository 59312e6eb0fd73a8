import { beforeEach, describe, expect, test } from "@odoo/hoot";
import { advanceTime } from "@odoo/hoot-mock";
import {
    click,
    contains,
    defineMailModels,
    start,
} from "@mail/../tests/mail_test_helpers";
import { onRpc, patchWithCleanup } from "@web/../tests/web_test_helpers";
import { browser } from "@web/core/browser/browser";
import {
    AUTOPLAY_TOLD_KEY,
    CardAlerts,
    FOCUSED_TAB_KEY,
    NOTIFY_ASKED_KEY,
    RINGTONE,
} from "@medpulse_telephony/incoming_card/card_alerts_service";
import { ringing as cardPayload, startCardClient } from "@medpulse_telephony/../tests/card_test_helpers";

describe.current.tags("desktop");
defineMailModels();

/** A ringing call's card with the card's alert preferences and outcomes, as the server sends them. */
function ringing(overrides = {}) {
    return cardPayload({
        followup_states: [
            ["new", "New"],
            ["resolved", "Resolved"],
        ],
        recent_calls: 0,
        sound: true,
        desktop_notify: true,
        notify_name: false,
        outcome_id: false,
        outcomes: [
            [1, "Booked", "booked"],
            [4, "Information given", "information"],
        ],
        outcome_required: false,
        ...overrides,
    });
}

/** The browser's Notification API, recorded: what the operating system would show. */
let shown;
class RecordedNotification extends EventTarget {
    static permission = "granted";
    static requestPermission() {
        return "granted";
    }
    constructor(title, options) {
        super();
        Object.assign(this, { title, ...options, closed: false });
        shown.push(this);
    }
    close() {
        this.closed = true;
    }
}

beforeEach(() => {
    shown = [];
    onRpc("medpulse.call", "get_active_cards", () => []);
    patchWithCleanup(browser, { Notification: RecordedNotification });
    // The page is in front unless a test says otherwise.
    patchWithCleanup(CardAlerts.prototype, { isPageInFront: () => true });
    browser.localStorage.setItem(NOTIFY_ASKED_KEY, "1");
});

/** Record the ringtone of one tab: "<tab> play" / "<tab> stop". */
function listen(env, tab = "tab") {
    patchWithCleanup(env.services["mail.sound_effects"], {
        play(name, options) {
            expect.step(`${tab} play ${name} loop=${options?.loop}`);
        },
        stop(name) {
            expect.step(`${tab} stop ${name}`);
        },
    });
}

async function setup() {
    const { env, send } = await startCardClient();
    listen(env);
    return { env, send };
}

function inBackground(env) {
    patchWithCleanup(env.services.medpulse_card_alerts, { isPageInFront: () => false });
    env.services.multi_tab.removeSharedValue(FOCUSED_TAB_KEY);
}

test("the ringtone starts on ring and stops when I answer", async () => {
    const { send } = await setup();
    send(ringing());
    await contains(".o_medpulse_card_ringing");
    expect.verifySteps([`tab play ${RINGTONE} loop=true`]);
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await contains(".o_medpulse_card_talking");
    expect.verifySteps([`tab stop ${RINGTONE}`]);
});

test("the ringtone stops when a colleague answers or the call ends", async () => {
    const { send } = await setup();
    send(ringing());
    await contains(".o_medpulse_card_ringing");
    send(ringing({ call_id: 43 }));
    await contains(".o_medpulse_card_ringing", { count: 2 });
    expect.verifySteps([`tab play ${RINGTONE} loop=true`]);
    send({ call_id: 42, status: "answered_elsewhere", answered_by: "Anna Smirnova" });
    await contains(".o_medpulse_card_answered_elsewhere");
    // The other call still rings.
    expect.verifySteps([]);
    send({ call_id: 43, status: "closed" });
    await contains(".o_medpulse_card_ringing", { count: 0 });
    expect.verifySteps([`tab stop ${RINGTONE}`]);
});

test("hiding the card stops the ringtone", async () => {
    const { send } = await setup();
    send(ringing());
    await contains(".o_medpulse_card_ringing");
    expect.verifySteps([`tab play ${RINGTONE} loop=true`]);
    await click(".o_medpulse_card_dismiss");
    await contains(".o_medpulse_incoming_card", { count: 0 });
    expect.verifySteps([`tab stop ${RINGTONE}`]);
});

test("sound preference off: no ringtone, no desktop notification", async () => {
    const { env, send } = await setup();
    inBackground(env);
    send(ringing({ sound: false, desktop_notify: false }));
    await contains(".o_medpulse_card_ringing");
    await advanceTime(100);
    expect.verifySteps([]);
    expect(shown).toEqual([]);
});

test("only the main tab rings; hidden in the other tab, it stops", async () => {
    const { env: tab1, send } = await startCardClient({ asTab: true });
    const tab2 = await start({ asTab: true });
    listen(tab1, "tab1");
    listen(tab2, "tab2");
    expect(tab1.services.multi_tab.isOnMainTab()).toBe(true);
    expect(tab2.services.multi_tab.isOnMainTab()).toBe(false);
    send(ringing());
    await contains(".o_medpulse_card_ringing", { target: tab1 });
    await contains(".o_medpulse_card_ringing", { target: tab2 });
    expect.verifySteps([`tab1 play ${RINGTONE} loop=true`]);
    // The user hides the card in the tab they look at (not the one that rings).
    await click(".o_medpulse_card_dismiss", { target: tab2 });
    await contains(".o_medpulse_incoming_card", { target: tab2, count: 0 });
    // The other tab learns it from localStorage (Hoot's storage sends the "storage" event).
    await advanceTime(10);
    expect.verifySteps([`tab1 stop ${RINGTONE}`]);
});

test("when the ringing tab closes, another tab takes over the ringtone", async () => {
    const { env: tab1, send } = await startCardClient({ asTab: true });
    const tab2 = await start({ asTab: true });
    listen(tab1, "tab1");
    listen(tab2, "tab2");
    send(ringing());
    await contains(".o_medpulse_card_ringing", { target: tab1 });
    await contains(".o_medpulse_card_ringing", { target: tab2 });
    expect.verifySteps([`tab1 play ${RINGTONE} loop=true`]);
    // Closing the main tab frees "main" in localStorage: the next tab is elected at once.
    tab1.services.multi_tab.unregister();
    expect(tab2.services.multi_tab.isOnMainTab()).toBe(true);
    expect.verifySteps([`tab1 stop ${RINGTONE}`, `tab2 play ${RINGTONE} loop=true`]);
});

test("desktop notification only when no tab is in front: number and line, no name", async () => {
    const { env, send } = await setup();
    send(ringing());
    await contains(".o_medpulse_card_ringing");
    // The page is in front: the card is enough.
    expect(shown).toEqual([]);
    send({ call_id: 42, status: "closed" });
    await contains(".o_medpulse_incoming_card", { count: 0 });
    expect.verifySteps([`tab play ${RINGTONE} loop=true`, `tab stop ${RINGTONE}`]);

    inBackground(env);
    send(ringing({ call_id: 44 }));
    await contains(".o_medpulse_card_ringing");
    expect(shown.length).toBe(1);
    const [notification] = shown;
    expect(notification.title).toBe("Incoming call +7 916 123-45-67");
    expect(notification.body).toBe("Line: Main line");
    expect(`${notification.title} ${notification.body}`).not.toInclude("Ivanova");
    patchWithCleanup(env.services.medpulse_card_alerts, {
        focusTab: () => expect.step("focus the tab"),
    });
    notification.dispatchEvent(new Event("click"));
    expect.verifySteps([`tab play ${RINGTONE} loop=true`, "focus the tab"]);
    expect(notification.closed).toBe(true);
});

test("the company's setting lets the notification name the patient; it closes on answer", async () => {
    const { env, send } = await setup();
    inBackground(env);
    send(ringing({ notify_name: true }));
    await contains(".o_medpulse_card_ringing");
    expect(shown.length).toBe(1);
    expect(shown[0].body).toBe("Ivanova Anna Petrovna\nLine: Main line");
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10", notify_name: true }));
    await contains(".o_medpulse_card_talking");
    expect(shown[0].closed).toBe(true);
    expect.verifySteps([`tab play ${RINGTONE} loop=true`, `tab stop ${RINGTONE}`]);
});

test("a blocked ringtone is said once, with how to allow it", async () => {
    const { env, send } = await setup();
    patchWithCleanup(env.services["mail.sound_effects"], {
        play(name) {
            const refused = Object.assign(new Error("play() needs a user gesture"), {
                name: "NotAllowedError",
            });
            this.soundEffects[name].audio = { play: () => Promise.reject(refused) };
        },
        stop() {},
    });
    browser.localStorage.removeItem(AUTOPLAY_TOLD_KEY);
    send(ringing());
    await contains(".o_medpulse_card_autoplay");
    expect(".o_medpulse_card_autoplay").toHaveText(/Your browser blocked the ringtone\..*Sound/);
    await click(".o_medpulse_card_autoplay_ok");
    await contains(".o_medpulse_card_autoplay", { count: 0 });
    send({ call_id: 42, status: "closed" });
    send(ringing({ call_id: 45 }));
    await contains(".o_medpulse_card_ringing");
    await advanceTime(100);
    await contains(".o_medpulse_card_autoplay", { count: 0 });
});

test("the first card offers desktop notifications once", async () => {
    browser.localStorage.removeItem(NOTIFY_ASKED_KEY);
    const { env, send } = await setup();
    env.services["mail.notification.permission"].permission = "prompt";
    patchWithCleanup(env.services["mail.notification.permission"], {
        requestPermission: async () => expect.step("ask the browser"),
    });
    send(ringing());
    await click(".o_medpulse_card_notify_allow");
    await contains(".o_medpulse_card_ask_notify", { count: 0 });
    expect.verifySteps([`tab play ${RINGTONE} loop=true`, "ask the browser"]);
    send(ringing({ call_id: 46 }));
    await contains(".o_medpulse_card_ringing", { count: 2 });
    await contains(".o_medpulse_card_ask_notify", { count: 0 });
});

test("an ended card proposes 'Booked' after a booking and saves the outcome", async () => {
    onRpc("medpulse.call", "action_card_followup", ({ kwargs }) => {
        const { context, ...params } = kwargs;
        expect.step(`followup ${JSON.stringify(params)}`);
        return true;
    });
    const { send } = await setup();
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await contains(".o_medpulse_card_talking");
    send(ringing({ status: "ended", appointments: [{ id: 5, name: "Ivanova — Dr House" }] }));
    await contains(".o_medpulse_card_outcome", { value: "1" });
    await click(".o_medpulse_card_followup_save");
    await contains(".o_medpulse_incoming_card", { count: 0 });
    expect.verifySteps([
        'followup {"followup_state":"resolved","note":"","outcome_id":1}',
    ]);
});

test("a required outcome keeps the ended card open until chosen", async () => {
    onRpc("medpulse.call", "action_card_followup", ({ kwargs }) => {
        expect.step(`outcome ${kwargs.outcome_id}`);
        return true;
    });
    const { send } = await setup();
    send(ringing({ status: "talking", answered_at: "2026-03-02 09:00:10" }));
    await contains(".o_medpulse_card_talking");
    send(ringing({ status: "ended", outcome_required: true }));
    await contains(".o_medpulse_card_followup_save:disabled");
    await click(".o_medpulse_card_dismiss_footer");
    await contains(".o_medpulse_card_message.text-danger", {
        text: "Choose the call's outcome before closing the card.",
    });
    await contains(".o_medpulse_incoming_card", { count: 1 });
    const select = document.querySelector(".o_medpulse_card_outcome");
    select.value = "4";
    select.dispatchEvent(new Event("change"));
    await click(".o_medpulse_card_followup_save:enabled");
    await contains(".o_medpulse_incoming_card", { count: 0 });
    expect.verifySteps(["outcome 4"]);
});
