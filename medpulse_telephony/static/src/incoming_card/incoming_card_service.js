import { reactive } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

/** Bus notification type of the card (see models/medpulse_call_card.py). */
export const CARD_NOTIFICATION = "medpulse_telephony.card";
/**
 * localStorage key of this browser's desk phone (a medpulse.telephony.user.number id).
 * A browser bound to a phone shows only the cards of calls ringing that phone (or
 * ringing the user without a known device); the others are for the other desk sharing
 * the login. Click-to-call reads the same key to ring this desk's phone.
 */
export const BOUND_DEVICE_KEY = "medpulse_telephony.bound_device";
/** How long "answered by …" stays before the card goes away. */
export const ANSWERED_ELSEWHERE_DELAY = 6000;

const LIVE = ["ringing", "talking"];

export function getBoundDevice() {
    return parseInt(browser.localStorage.getItem(BOUND_DEVICE_KEY)) || false;
}

export function setBoundDevice(deviceId) {
    if (deviceId) {
        browser.localStorage.setItem(BOUND_DEVICE_KEY, String(deviceId));
    } else {
        browser.localStorage.removeItem(BOUND_DEVICE_KEY);
    }
}

/**
 * The store of incoming-call cards of this tab: one card per call, updated in place
 * by every bus message about that call, so nothing stacks up.
 */
export class IncomingCardStore {
    constructor() {
        this.cards = [];
        this.dismissed = {};
    }

    /**
     * Apply one card message from the server. Returns `"incomplete"` for an update of a
     * card this tab does not have (`partial`: the status only, e.g. a tab opened or a card
     * dismissed while it rang): the caller then asks for the whole card.
     */
    receive(payload) {
        const index = this.cards.findIndex((card) => card.call_id === payload.call_id);
        const existing = index >= 0 ? this.cards[index] : null;
        // The whole ended card of a call this tab never showed: its operator talked, but
        // the call's events were folded at once (under a load), so it never rang here. It
        // comes to set the follow-up, as a ringing card comes to be answered.
        const endedWhole = payload.status === "ended" && !payload.partial && !existing;
        if (LIVE.includes(payload.status) || endedWhole) {
            const device = getBoundDevice();
            if (device && payload.device_id && payload.device_id !== device) {
                return;
            }
            if (this.dismissed[payload.call_id] === payload.status) {
                return;
            }
            if (existing) {
                Object.assign(existing, payload);
            } else if (payload.partial) {
                return "incomplete";
            } else {
                this.cards.push({ ...payload, transferOpen: false, message: false });
            }
            return;
        }
        if (!existing) {
            return;
        }
        if (payload.status === "closed") {
            this.remove(payload.call_id);
        } else if (payload.status === "answered_elsewhere") {
            Object.assign(existing, payload);
            browser.setTimeout(() => {
                const card = this.cards.find((c) => c.call_id === payload.call_id);
                if (card?.status === "answered_elsewhere") {
                    this.remove(payload.call_id);
                }
            }, ANSWERED_ELSEWHERE_DELAY);
        } else {
            Object.assign(existing, payload);
        }
    }

    /** Cards from the reload API: they never override what the bus already said. */
    restore(payloads) {
        for (const payload of payloads) {
            if (!this.cards.some((card) => card.call_id === payload.call_id)) {
                this.receive(payload);
            }
        }
    }

    dismiss(callId) {
        const card = this.cards.find((c) => c.call_id === callId);
        if (card) {
            this.dismissed[callId] = card.status;
        }
        this.remove(callId);
    }

    remove(callId) {
        const index = this.cards.findIndex((card) => card.call_id === callId);
        if (index >= 0) {
            this.cards.splice(index, 1);
        }
    }
}

/** A reload while the phone rings brings the card back. */
async function restoreActiveCards(store, orm) {
    try {
        if (await user.hasGroup("medpulse_telephony.group_telephony_operator")) {
            store.restore(await orm.silent.call("medpulse.call", "get_active_cards", []));
        }
    } catch {
        // The card still arrives with the call's next event; a failed restore is not worth an error dialog.
    }
}

export const incomingCardService = {
    dependencies: ["bus_service", "orm"],
    start(env, { bus_service, orm }) {
        const store = reactive(new IncomingCardStore());
        bus_service.subscribe(CARD_NOTIFICATION, (payload) => {
            if (store.receive(payload) === "incomplete") {
                restoreActiveCards(store, orm);
            }
        });
        bus_service.start();
        restoreActiveCards(store, orm);
        return store;
    },
};

registry.category("services").add("medpulse_incoming_card", incomingCardService);
