import { browser } from "@web/core/browser/browser";
import { registry } from "@web/core/registry";
import { telephonyPreferencesSteps } from "@medpulse_telephony/../tests/tours/preferences_tour";

/**
 * Tours of tests/test_card_alerts_browser.py: a call rings the user (its card comes back
 * at load), in a real browser whose autoplay policy lets pages play sound (Odoo's test
 * browser), so the ringtone really plays or not.
 */

const RINGING = ".o_medpulse_incoming_card.o_medpulse_card_ringing";

function services() {
    return odoo.__WOWL_DEBUG__.root.env.services;
}

function ringtone() {
    return services()["mail.sound_effects"].soundEffects["incoming-call"].audio;
}

async function waitFor(condition, what, timeout = 5000) {
    const start = Date.now();
    while (!condition()) {
        if (Date.now() - start > timeout) {
            throw new Error(`${what}: not after ${timeout} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

/** The browser's Notification API, granted and recorded (a headless browser shows none). */
function recordNotifications() {
    const shown = [];
    class RecordedNotification extends EventTarget {
        static permission = "granted";
        constructor(title, options) {
            super();
            Object.assign(this, { title, ...options, closed: false });
            shown.push(this);
        }
        close() {
            this.closed = true;
        }
    }
    browser.Notification = RecordedNotification;
    return shown;
}

/** The user goes to another window: this tab is no longer in front. */
function leaveTheTab() {
    document.hasFocus = () => false;
    window.dispatchEvent(new Event("blur"));
}

let shown = [];

registry.category("web_tour.tours").add("medpulse_card_rings_tour", {
    steps: () => [
        {
            content: "A call rings me: its card is there",
            trigger: RINGING,
            async run() {
                await waitFor(() => ringtone() && !ringtone().paused, "The ringtone plays");
                if (!ringtone().src.includes("/mail/static/src/audio/call_02_in_")) {
                    throw new Error(`Not mail's incoming-call sound: ${ringtone().src}`);
                }
                if (!ringtone().loop) {
                    throw new Error("The ringtone must loop while the call rings");
                }
                shown = recordNotifications();
            },
        },
        {
            content: "In front, the card is enough: no desktop notification; then I leave",
            trigger: RINGING,
            async run() {
                if (shown.length) {
                    throw new Error("A desktop notification while the tab is in front");
                }
                leaveTheTab();
                await waitFor(() => shown.length === 1, "One desktop notification");
                const [notification] = shown;
                const text = `${notification.title} ${notification.body}`;
                if (!text.includes("Line:") || !/916/.test(text)) {
                    throw new Error(`The notification must show the number and the line: ${text}`);
                }
                if (text.includes("Ivanova")) {
                    throw new Error(`The patient's name is in the notification: ${text}`);
                }
            },
        },
        {
            content: "I hide the card: the ringtone stops, the notification goes",
            trigger: `${RINGING} .o_medpulse_card_dismiss`,
            run: "click",
        },
        {
            content: "Silence",
            trigger: "body:not(:has(.o_medpulse_incoming_card))",
            async run() {
                await waitFor(() => ringtone().paused, "The ringtone stops");
                if (!shown[0].closed) {
                    throw new Error("The desktop notification stays after hiding the card");
                }
            },
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_card_silent_tour", {
    steps: () => [
        {
            content: "A call rings me, whose sound and notifications are off",
            trigger: RINGING,
            async run() {
                shown = recordNotifications();
                leaveTheTab();
                // Give the card's alerts the time they would take to start.
                await new Promise((resolve) => setTimeout(resolve, 1000));
                const audio = ringtone();
                if (audio && !audio.paused) {
                    throw new Error("The ringtone plays although the user turned it off");
                }
                if (shown.length) {
                    throw new Error("A desktop notification although the user turned them off");
                }
            },
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_card_named_tour", {
    steps: () => [
        {
            content: "A call rings me while I am elsewhere; names are allowed",
            trigger: RINGING,
            async run() {
                shown = recordNotifications();
                leaveTheTab();
                await waitFor(() => shown.length === 1, "One desktop notification");
                if (!shown[0].body.includes("Ivanova")) {
                    throw new Error(`The company allows names: ${shown[0].body}`);
                }
            },
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_card_preferences_tour", {
    url: "/odoo",
    steps: () =>
        telephonyPreferencesSteps(
            [
                {
                    content: "Desktop notifications: on, and this browser's permission next to it",
                    trigger:
                        ".modal .o_field_widget[name=medpulse_pbx_desktop_notify] .o_medpulse_notify_permission",
                },
                {
                    content: "Turn the ringtone off",
                    trigger: ".modal .o_field_widget[name=medpulse_pbx_sound] input:checked",
                    run: "click",
                },
            ],
            { save: true }
        ),
});

/**
 * Tour of tests/test_card_alerts_browser.py (TestPatientCallsInBrowser): the patient's form,
 * Calls tab, as each role that reads it: the open call-back (owner), then the recent calls
 * (a missed one, an answered one with its outcome and comment).
 */
registry.category("web_tour.tours").add("medpulse_patient_calls_tour", {
    steps: () => [
        {
            content: "Open the patient's Calls tab",
            trigger: ".o_form_view .o_notebook a[name=medpulse_calls]",
            run: "click",
        },
        {
            content: "The patient's open call-back, with its owner",
            trigger: ".o_medpulse_patient_callbacks .o_data_row:contains(+79161234567):contains(Olga Operator)",
        },
        {
            content: "The missed call",
            trigger: ".o_medpulse_patient_calls .o_data_row:contains(Missed incoming)",
        },
        {
            content: "The answered call, its outcome and comment",
            trigger:
                ".o_medpulse_patient_calls .o_data_row:contains(Information given):contains(Asked for the price list)",
        },
    ],
});
